//! The guard loop over real HTTP: metrics posted by SDK keys, a breach turns the flag off (or halts the
//! rollout) in one audited change that reaches SDK streams, equal arms do not trip, re-enabling resets, and of
//! two replicas on one PostgreSQL database only one runs the loop while both replicas' metrics count.

use std::time::{Duration, Instant};

use pennon_server::app::config::ServeConfig;
use pennon_server::app::startup::spawn;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::flag_setup::{boolean_flag, configure, half_split};
use crate::guards::{GUARDS, error_guard};
use crate::helpers::{Db, Reply, TestApp, TestDatabase, until_next_metric_bucket};
use crate::sse::{SseReader, bearer, sdk_key};

both!(
    a_breach_turns_the_flag_off_with_evidence,
    equal_rates_do_not_trip,
    re_enabling_resets_the_guard,
    halt_rollout_moves_the_treatment_share_to_control
);

const METRICS: &str = "/api/v1/sdk/metrics";
const CONFIG: &str = "/api/v1/flags/checkout/environments/production";

/// A server checking guards every 200 ms; its own metrics flush is slow, so only the loop's flush counts.
async fn app_with_guard(db: Db, guard: Value) -> (TestApp, String, i64) {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.guard_interval = Duration::from_millis(200);
    config.metrics_flush_interval = Duration::from_hours(1);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    boolean_flag(&app, "checkout").await;
    configure(
        &app,
        "checkout",
        "production",
        json!({ "enabled": true, "off_variant": "off", "default": half_split("key") }),
    )
    .await;
    let key = sdk_key(&app, "production", "server").await;
    app.metric("checkout_error", "rate").await;
    let id = app.post(GUARDS, guard).await.expect(201).body["id"].as_i64().unwrap();
    until_next_metric_bucket().await;
    (app, key, id)
}

/// Exposures and errors of both arms, as an SDK reports them.
fn errors(on: (u64, u64), off: (u64, u64)) -> Value {
    let metric = |variant: &str, n: u64| json!({ "flag": "checkout", "variant": variant, "metric": "checkout_error", "count": n, "sum": n as f64, "sum_squares": n as f64 });
    json!({
        "exposures": [{ "flag": "checkout", "variant": "on", "count": on.0 }, { "flag": "checkout", "variant": "off", "count": off.0 }],
        "metrics": [metric("on", on.1), metric("off", off.1)]
    })
}

async fn send_to(app: &TestApp, base: &str, key: &str, batch: Value) {
    let url = format!("{base}{METRICS}");
    let sent = app.client.post(url).bearer_auth(key).json(&batch).send().await.expect("sent");
    assert_eq!(sent.status().as_u16(), 202);
}

/// Polls the guard until `done` holds (within 15 s).
async fn guard_until(app: &TestApp, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let guard = app.get(&format!("{GUARDS}/{id}")).await.expect(200).body;
        if done(&guard) {
            return guard;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {guard}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<Value> {
    let audit: Reply = app.get("/api/v1/audit?flag=checkout").await.expect(200);
    audit.body["items"].as_array().unwrap().iter().filter(|e| e["action"] == action).cloned().collect()
}

async fn a_breach_turns_the_flag_off_with_evidence(db: Db) {
    let (app, key, id) = app_with_guard(db, error_guard()).await;
    let mut stream = SseReader::open(&app, "/api/v1/sdk/stream", &[("authorization", &bearer(&key))]).await;
    let opening = stream.next().await;
    assert_eq!(opening.retry, Some(3000));
    let put = stream.next_event().await;
    assert_eq!(put.json()["flags"][0]["config"]["enabled"], true);

    // 2% errors on the new variant against 0.5% on the old one.
    send_to(&app, &app.base, &key, errors((20_000, 400), (20_000, 100))).await;
    let guard = guard_until(&app, id, "the breach", |g| g["state"] == "breached").await;
    assert_eq!(guard["version"], 2, "a breach is a change of the guard");

    let patch = stream.next_event().await;
    assert_eq!(patch.event.as_deref(), Some("patch"));
    let data = patch.json();
    assert_eq!((data["key"].as_str(), data["object"]["config"]["enabled"].as_bool()), (Some("checkout"), Some(false)));
    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!((config["enabled"].as_bool(), config["updated_by"].as_str()), (Some(false), Some("system:guard")));

    let rows = audit_rows(&app, "guard.breach").await;
    assert_eq!(rows.len(), 1, "one breach, one audit row");
    let row = &rows[0];
    assert_eq!(
        (row["actor"].as_str(), row["before"]["enabled"].as_bool(), row["after"]["enabled"].as_bool()),
        (Some("system:guard"), Some(true), Some(false))
    );
    let detail = &row["detail"];
    assert_eq!(
        (detail["treatment"]["samples"].as_u64(), detail["control"]["samples"].as_u64()),
        (Some(20_000), Some(20_000))
    );
    assert_eq!((detail["treatment"]["value"].as_f64(), detail["control"]["value"].as_f64()), (Some(0.02), Some(0.005)));
    assert_eq!(detail["threshold"], json!({ "relative": 0.1 }));
    assert!((detail["limit"].as_f64().unwrap() - 0.0055).abs() < 1e-9, "limit: {detail}");
    assert!(detail["p_value"].as_f64().unwrap() <= 0.05, "{detail}");
    assert!(detail["bound"].as_f64().unwrap() > 0.0, "{detail}");
    assert!(detail["statistic_value"]["value"].as_f64().unwrap() > 2.0, "{detail}");
    assert_eq!(guard["evidence"]["p_value"], detail["p_value"]);

    // It stays off and breached: later rounds leave it alone.
    send_to(&app, &app.base, &key, errors((20_000, 400), (20_000, 100))).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.get(CONFIG).await.expect(200).body["enabled"], false);
    assert_eq!(audit_rows(&app, "guard.breach").await.len(), 1);
    let metrics = crate::ops::metrics_text(&app).await;
    let labels =
        [("environment", "production"), ("flag", "checkout"), ("guard", &id.to_string()), ("state", "breached")];
    assert_eq!(crate::ops::sample(&metrics, "pennon_guard_state", &labels), Some(1.0), "{metrics}");
    assert_eq!(crate::ops::sample(&metrics, "pennon_guard_breaches_total", &[]), Some(1.0), "{metrics}");
    assert!(crate::ops::sample(&metrics, "pennon_guard_checks_total", &[]).unwrap() >= 1.0, "{metrics}");
    let accepted = crate::ops::sample(&metrics, "pennon_sdk_metrics_accepted_total", &[]);
    assert_eq!(accepted, Some(8.0), "two batches of two exposures and two metrics: {metrics}");
    let series = app.get(&format!("{GUARDS}/{id}/series?range=1m&step=10s")).await.expect(200).body;
    let states: Vec<&str> =
        series["transitions"].as_array().unwrap().iter().map(|t| t["state"].as_str().unwrap()).collect();
    assert_eq!(states.last(), Some(&"breached"), "{series}");
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    let samples: u64 = points.iter().map(|p| p["treatment"]["samples"].as_u64().unwrap()).sum();
    assert_eq!(samples, 40_000, "{series}");
}

async fn equal_rates_do_not_trip(db: Db) {
    let (app, key, id) = app_with_guard(db, error_guard()).await;
    for _ in 0..5 {
        send_to(&app, &app.base, &key, errors((10_000, 100), (10_000, 100))).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let guard = guard_until(&app, id, "a healthy verdict on all the data", |g| {
        g["state"] == "healthy" && g["evidence"]["treatment"]["n"] == 50_000
    })
    .await;
    assert_eq!(guard["evidence"]["control"]["n"], 50_000);
    assert_eq!(guard["version"], 1, "routine checks do not change the guard");
    assert_eq!(app.get(CONFIG).await.expect(200).body["enabled"], true);
    assert!(audit_rows(&app, "guard.breach").await.is_empty());
}

async fn re_enabling_resets_the_guard(db: Db) {
    let (app, key, id) = app_with_guard(db, error_guard()).await;
    send_to(&app, &app.base, &key, errors((20_000, 400), (20_000, 100))).await;
    let breached = guard_until(&app, id, "the breach", |g| g["state"] == "breached").await;
    app.call(Method::POST, &format!("{CONFIG}/toggle"), Some(json!({ "enabled": true })), &[]).await.expect(200);
    let reset = guard_until(&app, id, "the reset", |g| g["state"] == "insufficient_data").await;
    assert!(reset["since"].as_str() > breached["since"].as_str(), "its data start again: {reset}");
    assert_eq!(reset["version"], 3);
    let rows = audit_rows(&app, "guard.reset").await;
    assert_eq!((rows.len(), rows[0]["actor"].as_str()), (1, Some("system:guard")));
    // The old data no longer count: the flag stays on.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.get(CONFIG).await.expect(200).body["enabled"], true);
    assert_eq!(app.get(&format!("{GUARDS}/{id}")).await.expect(200).body["state"], "insufficient_data");
}

async fn halt_rollout_moves_the_treatment_share_to_control(db: Db) {
    let mut guard = error_guard();
    guard["action"] = json!("halt_rollout");
    let (app, key, id) = app_with_guard(db, guard).await;
    send_to(&app, &app.base, &key, errors((20_000, 400), (20_000, 100))).await;
    guard_until(&app, id, "the breach", |g| g["state"] == "breached").await;
    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!(config["enabled"], true, "the flag stays on");
    assert_eq!(
        config["default"]["split"]["weights"],
        json!([{ "variant": "on", "weight": 0 }, { "variant": "off", "weight": 100_000 }])
    );
    // The halted config is the breach's own version: the guard is not reset by it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.get(&format!("{GUARDS}/{id}")).await.expect(200).body["state"], "breached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_loop_and_both_replicas_metrics_count() {
    // Each replica gets half the data: with 15,000 samples needed per arm, neither half alone says anything,
    // so a breach shows that the loop counted both replicas' metrics.
    let mut guard = error_guard();
    guard["min_samples"] = json!(15_000);
    let (app, key, id) = app_with_guard(Db::Postgres, guard).await;
    let mut config = app.config.clone();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.metrics_flush_interval = Duration::from_millis(100);
    let other = spawn(config).await.expect("a second replica starts");
    other.state.auth.keys.reload(&other.state.store).await.expect("keys");
    let first = app.server.as_ref().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(first.guard_leader.is_leader() || other.guard_leader.is_leader()) {
        assert!(Instant::now() < deadline, "no replica became the leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(first.guard_leader.is_leader() != other.guard_leader.is_leader(), "exactly one replica runs the loop");

    // Half of the data through each replica; each arm must count both.
    send_to(&app, &app.base, &key, errors((10_000, 200), (10_000, 50))).await;
    send_to(&app, &other.url(), &key, errors((10_000, 200), (10_000, 50))).await;
    let guard = guard_until(&app, id, "the breach", |g| g["state"] == "breached").await;
    let rows = audit_rows(&app, "guard.breach").await;
    assert_eq!(rows.len(), 1);
    let detail = &rows[0]["detail"];
    assert_eq!(
        (detail["treatment"]["samples"].as_u64(), detail["control"]["samples"].as_u64()),
        (Some(20_000), Some(20_000)),
        "{detail}"
    );
    assert_eq!(guard["evidence"]["treatment"]["n"], 20_000);

    // The follower sees the change through the shared database.
    let from_other =
        app.client.get(format!("{}{CONFIG}", other.url())).bearer_auth(&app.admin_token).send().await.unwrap();
    let body: Value = from_other.json().await.unwrap();
    assert_eq!(body["enabled"], false);

    // When the leader goes, the other takes over.
    let leader_was_first = first.guard_leader.is_leader();
    if leader_was_first {
        let mut app = app;
        app.server.take().unwrap().shutdown().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !other.guard_leader.is_leader() {
            assert!(Instant::now() < deadline, "the follower did not take over");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        other.shutdown().await;
    } else {
        other.shutdown().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !first.guard_leader.is_leader() {
            assert!(Instant::now() < deadline, "the follower did not take over");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
