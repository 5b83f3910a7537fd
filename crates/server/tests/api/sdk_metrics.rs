//! `POST /api/v1/sdk/metrics`: batches are checked whole, aggregated in memory and flushed to the database,
//! where every replica's flushes add up.

use std::time::{Duration, Instant};

use pennon_server::app::config::ServeConfig;
use pennon_server::app::startup::spawn;
use pennon_server::store::{Store, VariantTotals};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, Reply, TestApp, TestDatabase};
use crate::sse::{bearer, sdk_key};

both!(
    batches_are_aggregated_and_flushed,
    bad_batches_are_refused_whole,
    replicas_add_up,
    pending_metrics_are_written_at_shutdown
);

const METRICS: &str = "/api/v1/sdk/metrics";

async fn app_with_key(db: Db, flush: Duration) -> (TestApp, String) {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.metrics_flush_interval = flush;
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    // Only metrics some guard watches are kept.
    for metric in ["checkout_error", "latency_ms"] {
        app.metric(metric, "mean").await;
        let guard = json!({ "metric": metric, "statistic": "mean", "direction": "higher_is_worse",
            "threshold": { "absolute": 1e6 }, "variant": "on" });
        app.post("/api/v1/flags/checkout/environments/production/guards", guard).await.expect(201);
    }
    let key = sdk_key(&app, "production", "server").await;
    (app, key)
}

async fn send(app: &TestApp, key: &str, batch: Value) -> Reply {
    app.call(Method::POST, METRICS, Some(batch), &[("authorization", &bearer(key))]).await
}

fn batch(exposures: u64, errors: u64) -> Value {
    json!({
        "exposures": [{ "flag": "checkout", "variant": "on", "count": exposures },
                      { "flag": "checkout", "variant": "off", "count": exposures * 2 }],
        "metrics": [{ "flag": "checkout", "variant": "on", "metric": "checkout_error",
                      "count": errors, "sum": errors as f64, "sum_squares": errors as f64 },
                    { "flag": "checkout", "variant": "on", "metric": "latency_ms",
                      "count": 2, "sum": 30.5, "sum_squares": 500.25 }]
    })
}

async fn totals(store: &Store, metric: &str) -> Vec<VariantTotals> {
    store.metric_totals("production", "checkout", metric, 0, i64::MAX).await.expect("totals")
}

/// Waits until the `on` variant's exposures reach `exposures`.
async fn flushed(store: &Store, exposures: u64) -> Vec<VariantTotals> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = totals(store, "checkout_error").await;
        if found.iter().any(|t| t.variant == "on" && t.exposures == exposures) || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn batches_are_aggregated_and_flushed(db: Db) {
    let (app, key) = app_with_key(db, Duration::from_millis(200)).await;
    let accepted = send(&app, &key, batch(1200, 31)).await.expect(202);
    assert_eq!(accepted.body, json!({ "accepted": 4, "ignored": 0 }));
    send(&app, &key, batch(300, 9)).await.expect(202);

    let store = &app.state().store;
    let found = flushed(store, 1500).await;
    let on = found.iter().find(|t| t.variant == "on").expect("the on variant");
    assert_eq!((on.exposures, on.count, on.sum, on.sum_squares), (1500, 40, 40.0, 40.0));
    let off = found.iter().find(|t| t.variant == "off").expect("the off variant");
    assert_eq!((off.exposures, off.count), (3000, 0), "exposures without values");
    let latency = totals(store, "latency_ms").await;
    let on = latency.iter().find(|t| t.variant == "on").expect("latency of on");
    assert_eq!((on.count, on.sum, on.sum_squares), (4, 61.0, 1000.5));

    // A window that ends before the data holds nothing.
    let before = store.metric_totals("production", "checkout", "checkout_error", 0, 1).await.expect("totals");
    assert!(before.is_empty(), "{before:?}");
    // Flags or variants the environment does not have are dropped, not refused.
    let unknown = json!({ "exposures": [{ "flag": "gone", "variant": "on", "count": 1 },
                                        { "flag": "checkout", "variant": "blue", "count": 1 },
                                        { "flag": "checkout", "variant": "on", "count": 1 }] });
    assert_eq!(send(&app, &key, unknown).await.expect(202).body, json!({ "accepted": 1, "ignored": 2 }));
    assert_eq!(send(&app, &key, json!({})).await.expect(202).body, json!({ "accepted": 0, "ignored": 0 }));
}

async fn bad_batches_are_refused_whole(db: Db) {
    let (app, key) = app_with_key(db, Duration::from_hours(1)).await;
    let metric = |field: &str, value: Value| {
        let mut m =
            json!({ "flag": "checkout", "variant": "on", "metric": "m", "count": 1, "sum": 1.0, "sum_squares": 1.0 });
        m[field] = value;
        json!({ "exposures": [{ "flag": "checkout", "variant": "on", "count": 5 }], "metrics": [m] })
    };
    let negative = send(&app, &key, metric("count", json!(-1))).await.expect(400);
    assert_eq!(negative.body["field"], "metrics[0].count");
    let not_a_number = send(&app, &key, metric("sum", json!("NaN"))).await.expect(400);
    assert_eq!(not_a_number.body["field"], "metrics[0].sum");
    for (field, value) in [
        ("sum_squares", json!(-0.5)),
        ("metric", json!("")),
        ("metric", json!("x".repeat(129))),
        ("metric", json!("line\nbreak")),
        ("flag", json!("")),
        ("flag", json!("Not A Key")),
        ("variant", json!("")),
        ("count", json!(2_000_000_000_000u64)),
    ] {
        let refused = send(&app, &key, metric(field, value.clone())).await.expect(422);
        assert_eq!(refused.body["field"], format!("metrics[0].{field}"), "{field} = {value}");
        assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    }
    let huge = send(
        &app,
        &key,
        json!({ "metrics": [{ "flag": "checkout", "variant": "on", "metric": "m",
        "count": 1, "sum": 1e308, "sum_squares": 1.0 }] }),
    )
    .await;
    assert_eq!(huge.expect(422).body["field"], "metrics[0].sum", "sums that could overflow a total are refused");
    let exposures: Vec<Value> =
        (0..10_001).map(|_| json!({ "flag": "checkout", "variant": "on", "count": 1 })).collect();
    let too_many = send(&app, &key, json!({ "exposures": exposures })).await.expect(422);
    assert_eq!(too_many.body["field"], "exposures");
    let not_json =
        app.call(Method::POST, METRICS, Some(json!([1, 2])), &[("authorization", &bearer(&key))]).await.expect(400);
    assert_eq!(not_json.header("content-type"), Some("application/problem+json"));
    // Nothing of the refused batches was counted.
    assert_eq!(app.state().intake.pending(), 0);
}

async fn replicas_add_up(db: Db) {
    let (app, key) = app_with_key(db, Duration::from_millis(200)).await;
    let mut config = app.config.clone();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let other = spawn(config).await.expect("a second replica starts");
    let other_url = format!("{}{METRICS}", other.url());
    other.state.auth.keys.reload(&other.state.store).await.expect("keys");
    let sent = app.client.post(&other_url).bearer_auth(&key).json(&batch(100, 1)).send().await.expect("sent");
    assert_eq!(sent.status().as_u16(), 202);
    send(&app, &key, batch(50, 2)).await.expect(202);
    let found = flushed(&app.state().store, 150).await;
    let on = found.iter().find(|t| t.variant == "on").expect("the on variant");
    assert_eq!((on.exposures, on.count), (150, 3), "both replicas' flushes are summed");
    other.shutdown().await;
}

async fn pending_metrics_are_written_at_shutdown(db: Db) {
    let (mut app, key) = app_with_key(db, Duration::from_hours(1)).await;
    send(&app, &key, batch(7, 1)).await.expect(202);
    assert!(totals(&app.state().store, "checkout_error").await.is_empty(), "not flushed yet");
    app.restart().await;
    let found = totals(&app.state().store, "checkout_error").await;
    let on = found.iter().find(|t| t.variant == "on").expect("written at shutdown");
    assert_eq!((on.exposures, on.count), (7, 1));
}
