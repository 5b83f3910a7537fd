//! The work a write costs the server's in-memory snapshot, counted rather than timed: a config change
//! compiles the one flag it changes, a segment change the segment alone, whatever the number of flags; and
//! validation of a prerequisite sees the edges kept in the database.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Db, TestApp};

both!(a_write_compiles_what_it_changes, prerequisite_edges_follow_config_writes, chains_are_measured_through_the_flag);

/// `(flags, segments)` compiled to make the environment's current snapshot.
fn compiled(app: &TestApp) -> (usize, usize) {
    let snapshot = app.state().snapshots.get("production").expect("the environment's snapshot");
    (snapshot.build.flags_compiled, snapshot.build.segments_compiled)
}

async fn a_write_compiles_what_it_changes(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/segments", json!({ "key": "staff", "included": ["u1"] })).await.expect(201);
    for i in 0..30 {
        app.post("/api/v1/flags", json!({ "key": format!("flag-{i:02}"), "kind": "boolean" })).await.expect(201);
    }
    let before = app.state().snapshots.get("production").unwrap();
    let toggle = "/api/v1/flags/flag-17/environments/production/toggle";
    app.call(Method::POST, toggle, None, &[]).await.expect(200);
    assert_eq!(compiled(&app), (1, 0), "one flag toggled: one flag compiled");
    let after = app.state().snapshots.get("production").unwrap();
    assert_eq!(after.revision(), before.revision() + 1);
    assert_eq!(after.compiled.flag_version("flag-17"), Some(2));
    assert_eq!(after.len(), 30);
    let keys: Vec<&str> = after.compiled.flag_keys().collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "flags stay in key order");

    app.put("/api/v1/segments/staff", json!({ "included": ["u1", "u2"], "version": 1 })).await.expect(200);
    assert_eq!(compiled(&app), (0, 1), "a segment changed: the segment compiled, no flag");

    app.post("/api/v1/flags", json!({ "key": "flag-05a", "kind": "boolean" })).await.expect(201);
    assert_eq!(compiled(&app), (1, 0), "a new flag: that flag compiled");
    let keys: Vec<String> =
        app.state().snapshots.get("production").unwrap().compiled.flag_keys().map(str::to_owned).collect();
    assert_eq!(keys[5..7], ["flag-05".to_owned(), "flag-05a".to_owned()], "a new flag goes where its key sorts");
}

async fn prerequisite_edges_follow_config_writes(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for key in ["a", "b", "c"] {
        app.post("/api/v1/flags", json!({ "key": key, "kind": "boolean" })).await.expect(201);
    }
    let requires = |flag: &str, on: &str, version: u64| {
        let path = format!("/api/v1/flags/{flag}/environments/production/prerequisites");
        let body = json!({ "prerequisites": [{ "flag": on, "variant": "on" }], "version": version });
        (path, body)
    };
    let (path, body) = requires("a", "b", 1);
    app.put(&path, body).await.expect(200);
    let (path, body) = requires("b", "c", 1);
    app.put(&path, body).await.expect(200);
    let (path, body) = requires("c", "a", 1);
    let refused = app.put(&path, body).await.expect(422);
    assert!(refused.body.to_string().contains("prerequisite cycle"), "{}", refused.body);
    // b no longer requires c: the edge goes with it, and c may now require a.
    let path = "/api/v1/flags/b/environments/production/prerequisites";
    app.put(path, json!({ "prerequisites": [], "version": 2 })).await.expect(200);
    let (path, body) = requires("c", "a", 1);
    app.put(&path, body).await.expect(200);
    let unknown = requires("a", "nope", 2);
    let refused = app.put(&unknown.0, unknown.1).await.expect(422);
    assert!(refused.body.to_string().contains("unknown flag"), "{}", refused.body);
}

/// Validation reads the edges above the flag (the flags requiring it) and below its prerequisites, level by
/// level: joining two chains of five is refused as nine steps deep, naming the whole chain; a cycle five
/// steps long is found; an unrelated flag's change is not held up by them.
async fn chains_are_measured_through_the_flag(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for key in ["a1", "a2", "a3", "a4", "a5", "b1", "b2", "b3", "b4", "b5", "lone"] {
        app.post("/api/v1/flags", json!({ "key": key, "kind": "boolean" })).await.expect(201);
    }
    let path = |flag: &str| format!("/api/v1/flags/{flag}/environments/production/prerequisites");
    let requires =
        |on: &str, version: u64| json!({ "prerequisites": [{ "flag": on, "variant": "on" }], "version": version });
    for chain in ["a", "b"] {
        for i in 1..5 {
            app.put(&path(&format!("{chain}{i}")), requires(&format!("{chain}{}", i + 1), 1)).await.expect(200);
        }
    }
    let refused = app.put(&path("a5"), requires("b1", 1)).await.expect(422);
    let text = refused.body.to_string();
    assert!(text.contains("a1 → a2 → a3 → a4 → a5 → b1 → b2 → b3 → b4 → b5 is 9 deep"), "{text}");
    // Joined lower down the chain is within the limit: a1 … a5 → b3 → b4 → b5 is seven steps.
    app.put(&path("a5"), requires("b3", 1)).await.expect(200);
    // b5 requiring a1 closes a cycle through eight flags.
    let refused = app.put(&path("b5"), requires("a1", 1)).await.expect(422);
    let text = refused.body.to_string();
    assert!(text.contains("prerequisite cycle: b5 → a1 → a2 → a3 → a4 → a5 → b3 → b4 → b5"), "{text}");
    app.put(&path("lone"), requires("b5", 1)).await.expect(200);
    app.call(Method::POST, "/api/v1/flags/lone/environments/production/toggle", None, &[]).await.expect(200);
}
