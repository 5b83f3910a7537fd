//! `/metrics`: metrics as objects — create, read, change, delete, audited; guards name them by key.

use serde_json::{Value, json};

use crate::both;
use crate::guards::{GUARDS, error_guard};
use crate::helpers::{Db, TestApp};

both!(
    metrics_round_trip_with_versions_and_audit,
    guards_need_a_known_metric_of_their_kind,
    bad_metrics_are_refused,
    guards_from_before_metric_objects_keep_working
);

const METRICS: &str = "/api/v1/metrics";

async fn metric_actions(app: &TestApp) -> Vec<String> {
    let audit = app.get("/api/v1/audit").await.expect(200).body;
    let mut out: Vec<String> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .filter(|a| a.starts_with("metric."))
        .collect();
    out.reverse();
    out
}

async fn metrics_round_trip_with_versions_and_audit(db: Db) {
    let app = TestApp::spawn(db).await;
    let latency = json!({ "key": "checkout.latency", "kind": "mean", "unit": "ms", "direction": "lower_is_better",
        "description": "Time to render the checkout" });
    let created = app.post(METRICS, latency.clone()).await.expect(201);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let body = created.body;
    assert_eq!(
        (body["key"].as_str(), body["kind"].as_str(), body["unit"].as_str(), body["direction"].as_str()),
        (Some("checkout.latency"), Some("mean"), Some("ms"), Some("lower_is_better"))
    );
    assert_eq!(body["version"], 1);
    app.post(METRICS, latency).await.expect(409);
    app.post(METRICS, json!({ "key": "conversion", "kind": "rate", "direction": "higher_is_better" }))
        .await
        .expect(201);

    let one = format!("{METRICS}/checkout.latency");
    assert_eq!(app.get(&one).await.expect(200).body, body);
    let keys: Vec<Value> =
        app.get(METRICS).await.expect(200).body["items"].as_array().unwrap().iter().map(|m| m["key"].clone()).collect();
    assert_eq!(keys, [json!("checkout.latency"), json!("conversion")]);

    let changed = app.patch(&one, json!({ "unit": "s", "version": 1 })).await.expect(200).body;
    assert_eq!((changed["unit"].as_str(), changed["version"].as_u64()), (Some("s"), Some(2)));
    assert_eq!(changed["description"], "Time to render the checkout", "absent fields stay");
    app.patch(&one, json!({ "unit": "ms", "version": 1 })).await.expect(409);
    app.delete(&one).await.expect(204);
    app.get(&one).await.expect(404);
    assert_eq!(metric_actions(&app).await, ["metric.create", "metric.create", "metric.update", "metric.delete"]);
    let audit = app.get("/api/v1/audit").await.expect(200).body;
    let update = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "metric.update").unwrap().clone();
    assert_eq!((update["before"]["unit"].as_str(), update["after"]["unit"].as_str()), (Some("ms"), Some("s")));
}

async fn guards_need_a_known_metric_of_their_kind(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let refused = app.post(GUARDS, error_guard()).await.expect(422).body;
    assert_eq!(refused["errors"][0]["path"], "metric", "{refused}");
    assert!(app.get(GUARDS).await.expect(200).body["items"].as_array().unwrap().is_empty(), "nothing was made");

    app.post(METRICS, json!({ "key": "checkout_error", "kind": "mean", "direction": "lower_is_better" }))
        .await
        .expect(201);
    let refused = app.post(GUARDS, error_guard()).await.expect(422).body;
    assert_eq!(refused["errors"][0]["path"], "statistic", "a rate guard on a mean metric: {refused}");
    app.patch(&format!("{METRICS}/checkout_error"), json!({ "kind": "rate" })).await.expect(200);
    let id = app.post(GUARDS, error_guard()).await.expect(201).body["id"].as_i64().unwrap();

    // A metric a guard uses stays, and keeps its kind.
    app.delete(&format!("{METRICS}/checkout_error")).await.expect(409);
    app.patch(&format!("{METRICS}/checkout_error"), json!({ "kind": "mean" })).await.expect(409);
    let mut renamed = error_guard();
    renamed["metric"] = json!("nobody_knows");
    let refused = app.put(&format!("{GUARDS}/{id}"), renamed).await.expect(422).body;
    assert_eq!(refused["errors"][0]["path"], "metric", "{refused}");
    app.delete(&format!("{GUARDS}/{id}")).await.expect(204);
    app.delete(&format!("{METRICS}/checkout_error")).await.expect(204);
}

async fn bad_metrics_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let good = json!({ "key": "errors", "kind": "rate", "direction": "lower_is_better" });
    for (field, value) in [
        ("key", json!("")),
        ("key", json!("x".repeat(129))),
        ("key", json!("line\nbreak")),
        ("unit", json!("u".repeat(33))),
        ("description", json!("bell\u{7}")),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        let reply = app.post(METRICS, bad).await;
        assert!(matches!(reply.status.as_u16(), 400 | 422), "{field}: {}", reply.body);
        assert_eq!(reply.body["field"], field, "{}", reply.body);
    }
    for (field, value) in [("kind", json!("median")), ("direction", json!("sideways"))] {
        let mut bad = good.clone();
        bad[field] = value;
        let status = app.post(METRICS, bad).await.status.as_u16();
        assert!(matches!(status, 400 | 422), "{field}: {status}");
    }
    assert!(app.get(METRICS).await.expect(200).body["items"].as_array().unwrap().is_empty(), "nothing was made");
    assert!(metric_actions(&app).await.is_empty());
}

/// A database from before metrics were objects — its guards name free-text metrics and there is no `metrics`
/// table — gets a metric for each name when migration 0011 runs, and its guards keep working.
async fn guards_from_before_metric_objects_keep_working(db: Db) {
    let mut app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app.metric("checkout_error", "rate").await;
    let mut latency = error_guard();
    latency["metric"] = json!("latency_ms");
    latency["statistic"] = json!("mean");
    latency["direction"] = json!("lower_is_worse");
    latency["threshold"] = json!({ "absolute": 10.0 });
    app.metric("latency_ms", "mean").await;
    let id = app.post(GUARDS, error_guard()).await.expect(201).body["id"].as_i64().unwrap();
    app.post(GUARDS, latency).await.expect(201);

    // Back to the schema before 0011, with the guards in place.
    let server = app.server.take().expect("running");
    server.shutdown().await;
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database.url).await.expect("connect");
    sqlx::query("DROP TABLE metrics").execute(&mut conn).await.expect("dropped");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 11").execute(&mut conn).await.expect("forgotten");
    drop(conn);
    let mut config = app.config.clone();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = pennon_server::app::startup::spawn(config).await.expect("the server starts and migrates");
    app.base = server.url();
    app.server = Some(server);

    let metrics = app.get(METRICS).await.expect(200).body;
    let made: Vec<(Value, Value, Value)> = metrics["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["key"].clone(), m["kind"].clone(), m["direction"].clone()))
        .collect();
    assert_eq!(
        made,
        [
            (json!("checkout_error"), json!("rate"), json!("lower_is_better")),
            (json!("latency_ms"), json!("mean"), json!("higher_is_better")),
        ]
    );
    // The guard can be read and changed as before.
    let mut changed = error_guard();
    changed["min_samples"] = json!(500);
    app.put(&format!("{GUARDS}/{id}"), changed).await.expect(200);
}
