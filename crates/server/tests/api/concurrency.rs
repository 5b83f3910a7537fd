//! Concurrent writers: optimistic concurrency lets exactly one write per version through, and every write
//! that went through has its audit row.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Db, TestApp};

both!(
    one_write_per_version,
    retrying_writers_all_land_in_turn,
    writes_to_different_flags_do_not_conflict,
    variant_removal_races_config_writes,
    prerequisite_cycles_cannot_race_in,
);

const CONFIG: &str = "/api/v1/flags/checkout/environments/production";

async fn app_with_flag(db: Db) -> TestApp {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app
}

async fn one_write_per_version(db: Db) {
    let app = app_with_flag(db).await;
    let path = format!("{CONFIG}/default");
    let writes = (0..50u32).map(|i| {
        let body = json!({ "rollout": { "variant": "on", "percent": i }, "version": 1 });
        app.put(&path, body)
    });
    let replies = join_all(writes).await;

    let won: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    let lost: Vec<_> = replies.iter().filter(|r| r.status == 409).collect();
    assert_eq!(won.len(), 1, "exactly one writer wins version 2");
    assert_eq!(lost.len(), 49, "every other writer is told its version is stale");
    assert_eq!(won[0].body["version"], 2);
    for reply in &lost {
        assert_eq!(reply.body["current_version"], 2, "{}", reply.body);
    }
    let current = app.get(CONFIG).await.expect(200);
    assert_eq!(current.body["version"], 2);
    assert_eq!(current.body["default"], won[0].body["default"], "the winner's write is the one stored");
    assert_eq!(app.state().store.count_audit("config.").await.unwrap(), 1);
    let history = app.get(&format!("{CONFIG}/history")).await.expect(200);
    assert_eq!(history.body["items"].as_array().unwrap().len(), 2);
    let snapshot = app.state().snapshots.get("production").unwrap();
    assert_eq!(snapshot.compiled.flag_version("checkout"), Some(2));
}

async fn retrying_writers_all_land_in_turn(db: Db) {
    let app = app_with_flag(db).await;
    let writers = 20u32;
    let writer = |i: u32| {
        let app = &app;
        async move {
            let mut base = 1u64;
            let mut conflicts = 0u32;
            loop {
                let body = json!({ "rollout": { "variant": "on", "percent": i }, "version": base });
                let reply = app.put(&format!("{CONFIG}/default"), body).await;
                match reply.status.as_u16() {
                    200 => return (reply.body["version"].as_u64().unwrap(), conflicts),
                    409 => {
                        base = reply.body["current_version"].as_u64().unwrap();
                        conflicts += 1;
                    }
                    other => panic!("unexpected status {other}: {}", reply.body),
                }
            }
        }
    };
    let results = join_all((0..writers).map(writer)).await;

    let mut versions: Vec<u64> = results.iter().map(|(v, _)| *v).collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..=u64::from(writers) + 1).collect::<Vec<_>>(), "one successful write per version");
    let audited = app.state().store.count_audit("config.default").await.unwrap();
    assert_eq!(audited, i64::from(writers), "one audit row per successful write, none for refused ones");
    let history = app.get(&format!("{CONFIG}/history?limit=100")).await.expect(200);
    assert_eq!(history.body["items"].as_array().unwrap().len(), writers as usize + 1);
    let last = app.get(CONFIG).await.expect(200);
    assert_eq!(last.body["version"], u64::from(writers) + 1);
    let snapshot = app.state().snapshots.get("production").unwrap();
    assert_eq!(snapshot.compiled.flag_version("checkout"), Some(u64::from(writers) + 1));
}

async fn writes_to_different_flags_do_not_conflict(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let flags: Vec<String> = (0..10).map(|i| format!("flag-{i}")).collect();
    for key in &flags {
        app.post("/api/v1/flags", json!({ "key": key, "kind": "boolean" })).await.expect(201);
    }
    let app = &app;
    let toggles = flags.iter().map(|key| {
        let path = format!("/api/v1/flags/{key}/environments/production/toggle");
        async move { app.call(Method::POST, &path, None, &[("if-match", "1")]).await }
    });
    for reply in join_all(toggles).await {
        assert_eq!(reply.expect(200).body["enabled"], true);
    }
    let environment = app.get("/api/v1/environments/production").await.expect(200);
    let snapshot = app.state().snapshots.get("production").unwrap();
    assert_eq!(Some(snapshot.revision()), environment.body["revision"].as_u64(), "the snapshot is caught up");
    for key in &flags {
        assert_eq!(snapshot.compiled.flag_version(key), Some(2));
    }
    assert_eq!(app.state().store.count_audit("config.toggle").await.unwrap(), 10);
}

/// A definition change racing a config change: whichever commits first, the other sees it, so no config
/// ever ends up using a variant its flag no longer has.
async fn variant_removal_races_config_writes(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    crate::flags::colour_flag(&app, "colour").await;
    let both_colours = json!({ "variants": [{ "key": "blue", "value": "#00f" }, { "key": "green", "value": "#0f0" }] });
    let default = "/api/v1/flags/colour/environments/production/default";
    for round in 0..30 {
        app.patch("/api/v1/flags/colour", both_colours.clone()).await.expect(200);
        app.put(default, json!({ "variant": "blue" })).await.expect(200);
        let remove_green =
            app.patch("/api/v1/flags/colour", json!({ "variants": [{ "key": "blue", "value": "#00f" }] }));
        let use_green = app.put(default, json!({ "variant": "green" }));
        let (removed, used) = tokio::join!(remove_green, use_green);
        assert!(
            removed.status != 200 || used.status != 200,
            "round {round}: both the removal and the use of green went through"
        );
        let flag = app.get("/api/v1/flags/colour").await.expect(200).body;
        let has_green = flag["variants"].as_array().unwrap().iter().any(|v| v["key"] == "green");
        assert!(has_green || flag["environments"]["production"]["default"]["variant"] != "green");
    }
}

/// Two prerequisites written at once that together would make a cycle: one of them is refused.
async fn prerequisite_cycles_cannot_race_in(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for round in 0..20 {
        let (a, b) = (format!("a-{round}"), format!("b-{round}"));
        for key in [&a, &b] {
            app.post("/api/v1/flags", json!({ "key": key, "kind": "boolean" })).await.expect(201);
        }
        let needs = |flag: &str| json!({ "prerequisites": [{ "flag": flag, "variant": "on" }] });
        let (path_a, path_b) =
            [&a, &b].map(|f| format!("/api/v1/flags/{f}/environments/production/prerequisites")).into();
        let a_needs_b = app.put(&path_a, needs(&b));
        let b_needs_a = app.put(&path_b, needs(&a));
        let (first, second) = tokio::join!(a_needs_b, b_needs_a);
        let mut statuses = [first.status.as_u16(), second.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 422], "round {round}: exactly one side of the cycle is written");
    }
}
