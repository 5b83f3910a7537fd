//! The scheduler walks plans: steps served when their holds pass, seen by SDK streams, cohorts that only grow,
//! and a restart in the middle that carries on where it stopped.

use std::collections::BTreeSet;
use std::time::Duration;

use pennon_engine::{CompiledSnapshot, Context, Snapshot, SnapshotFlag};
use pennon_server::app::config::ServeConfig;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp, TestDatabase};
use crate::plans::{CONFIG, PLAN, events};
use crate::sse::{SseReader, bearer, sdk_key};

both!(steps_reach_sdks_in_order_and_cohorts_only_grow, restart_in_the_middle_carries_on);

/// A server whose scheduler ticks every 100 ms, with `production` and the boolean flag `checkout`, on.
pub async fn quick_app(db: Db) -> TestApp {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.plan_tick = Duration::from_millis(100);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app.post(&format!("{CONFIG}/toggle"), json!({ "enabled": true })).await.expect(200);
    app
}

/// 1% → 5% → 25% → 100%, each held for `holds`.
pub fn walk(holds: [&str; 3]) -> Value {
    json!({ "variant": "on", "steps": [
        { "percent": 1, "hold": holds[0] }, { "percent": 5, "hold": holds[1] }, { "percent": 25, "hold": holds[2] },
        { "percent": 100 }
    ] })
}

/// Polls the plan until `done` holds for it (at most 20 s).
pub async fn plan_when(app: &TestApp, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let plan = app.get(PLAN).await.expect(200).body;
        if done(&plan) {
            return plan;
        }
        assert!(tokio::time::Instant::now() < deadline, "the plan did not get there: {plan}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The context keys among `user-0` .. `user-1999` that the flag in `object` (as a stream patch carries it)
/// serves `on`, evaluated by the engine as SDKs do.
fn cohort(object: &Value) -> BTreeSet<usize> {
    let flag: SnapshotFlag = serde_json::from_value(object.clone()).unwrap();
    let snapshot = Snapshot { environment: "production".into(), revision: 0, flags: vec![flag], segments: vec![] };
    let compiled = CompiledSnapshot::compile(&snapshot);
    (0..2000)
        .filter(|i| {
            let evaluation = serde_json::to_value(compiled.evaluate("checkout", &Context::new(format!("user-{i}"))));
            evaluation.unwrap()["variant"] == "on"
        })
        .collect()
}

/// Milliseconds between two RFC 3339 times of the history.
fn millis_between(earlier: &Value, later: &Value) -> i128 {
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
    };
    (parse(later) - parse(earlier)).whole_milliseconds()
}

async fn steps_reach_sdks_in_order_and_cohorts_only_grow(db: Db) {
    let app = quick_app(db).await;
    app.put(PLAN, walk(["1s", "1s", "1s"])).await.expect(201);
    let key = sdk_key(&app, "production", "server").await;
    let mut stream = SseReader::open(&app, "/api/v1/sdk/stream", &[("authorization", &bearer(&key))]).await;
    while stream.next_event().await.event.as_deref() != Some("put") {}

    app.post(&format!("{PLAN}/start"), json!({})).await.expect(200);
    let mut seen = Vec::new();
    let mut cohorts: Vec<BTreeSet<usize>> = Vec::new();
    while seen.last() != Some(&100_000) {
        let patch = stream.next_event().await;
        assert_eq!(patch.event.as_deref(), Some("patch"));
        let data = patch.json();
        let config = &data["object"]["config"];
        assert_eq!(config["enabled"], true);
        let weights = &config["default"]["split"]["weights"];
        assert_eq!((weights[0]["variant"].as_str(), weights[1]["variant"].as_str()), (Some("on"), Some("off")));
        seen.push(weights[0]["weight"].as_u64().unwrap());
        cohorts.push(cohort(&data["object"]));
    }
    assert_eq!(seen, [1_000, 5_000, 25_000, 100_000], "every step, in order, once");
    for (pair, bounds) in cohorts.windows(2).zip([(50, 160), (400, 600), (2000, 2000)]) {
        assert!(pair[0].is_subset(&pair[1]), "whoever is in stays in");
        assert!((bounds.0..=bounds.1).contains(&pair[1].len()), "{} of 2000 in", pair[1].len());
    }

    let plan = plan_when(&app, |p| p["state"] == "completed").await;
    assert_eq!(events(&plan), ["created", "started", "advanced", "advanced", "advanced", "completed"]);
    let history = plan["history"].as_array().unwrap();
    let percents: Vec<f64> = history[1..5].iter().map(|e| e["percent"].as_f64().unwrap()).collect();
    assert_eq!(percents, [1.0, 5.0, 25.0, 100.0]);
    for pair in history[1..5].windows(2) {
        assert!(millis_between(&pair[0]["at"], &pair[1]["at"]) >= 1000, "each hold is kept: {pair:?}");
    }
    assert!(history[2..].iter().all(|e| e["actor"] == "system:plan"));
    assert_eq!((plan["current_percent"].clone(), plan["next_step_at"].clone()), (json!(100.0), Value::Null));

    let config_history = app.get(&format!("{CONFIG}/history")).await.expect(200).body;
    let actions: Vec<&str> =
        config_history["items"].as_array().unwrap().iter().map(|v| v["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions[..4],
        ["config.plan.advance", "config.plan.advance", "config.plan.advance", "config.plan.start"]
    );
    let snapshot = app.state().snapshots.get("production").unwrap();
    let served = serde_json::to_value(snapshot.compiled.evaluate("checkout", &Context::new("anyone"))).unwrap();
    assert_eq!(served["variant"], "on", "evaluation follows");
}

async fn restart_in_the_middle_carries_on(db: Db) {
    let mut app = quick_app(db).await;
    app.put(PLAN, walk(["500ms", "3s", "500ms"])).await.expect(201);
    app.post(&format!("{PLAN}/start"), json!({})).await.expect(200);
    plan_when(&app, |p| p["current_step"] == 1).await;
    app.restart().await;
    let during = app.get(PLAN).await.expect(200).body;
    assert_eq!((during["state"].clone(), during["current_step"].clone()), (json!("running"), json!(1)), "{during}");

    let plan = plan_when(&app, |p| p["state"] == "completed").await;
    assert_eq!(events(&plan), ["created", "started", "advanced", "advanced", "advanced", "completed"]);
    let history = plan["history"].as_array().unwrap();
    let percents: Vec<f64> = history[1..5].iter().map(|e| e["percent"].as_f64().unwrap()).collect();
    assert_eq!(percents, [1.0, 5.0, 25.0, 100.0], "no step skipped or repeated across the restart");
    assert!(millis_between(&history[2]["at"], &history[3]["at"]) >= 3000, "the hold is measured from the stored start");
    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!(config["default"]["split"]["weights"][0], json!({ "variant": "on", "weight": 100_000 }));
}
