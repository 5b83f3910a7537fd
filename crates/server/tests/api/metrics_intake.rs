//! What `POST /api/v1/sdk/metrics` lets in: totals that cannot overflow either database, only metrics a guard
//! watches, only bodies that are batches; and a flush that one bad chunk cannot stop.

use std::time::Duration;

use pennon_server::app::config::ServeConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::flag_setup::{boolean_flag, configure, half_split};
use crate::helpers::{Db, Reply, TestApp, TestDatabase};
use crate::sse::{bearer, sdk_key};

both!(bodies_that_are_not_batches_are_refused);

const METRICS: &str = "/api/v1/sdk/metrics";
/// `checkout` (50/50) and `poison` in `production`, each with an error-rate guard; no flush of its own.
async fn app_with_guards(db: Db) -> (TestApp, String) {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.metrics_flush_interval = Duration::from_secs(3600);
    config.guard_interval = Duration::from_secs(3600);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    for flag in ["checkout", "poison"] {
        boolean_flag(&app, flag).await;
        let config = json!({ "enabled": true, "off_variant": "off", "default": half_split("key") });
        configure(&app, flag, "production", config).await;
        let guard = json!({ "metric": "errors", "statistic": "rate", "direction": "higher_is_worse",
            "threshold": { "relative": 0.1 }, "variant": "on", "min_samples": 10 });
        app.post(&guards_of(flag), guard).await.expect(201);
    }
    let key = sdk_key(&app, "production", "server").await;
    (app, key)
}

fn guards_of(flag: &str) -> String {
    format!("/api/v1/flags/{flag}/environments/production/guards")
}

async fn send(app: &TestApp, key: &str, batch: Value) -> Reply {
    app.call(Method::POST, METRICS, Some(batch), &[("authorization", &bearer(key))]).await
}

/// `{"x": {"x": ... {} ...}}`, `depth` objects deep.
fn deep_object(depth: usize) -> String {
    let mut text = "{\"x\":".repeat(depth - 1);
    text.push_str("{}");
    text.push_str(&"}".repeat(depth - 1));
    text
}

async fn bodies_that_are_not_batches_are_refused(db: Db) {
    let (app, key) = app_with_guards(db).await;
    let exposure = r#"{"flag": "checkout", "variant": "on", "count": 1}"#;
    let deep = deep_object(100_000);
    let deep_in_batch = format!(r#"{{"exposures": [{exposure}], "extra": {deep}}}"#);
    let bodies = [
        "[]".to_owned(),
        format!("[[{exposure}]]"),
        r#"{"exposures": [["checkout", "on", 1]]}"#.to_owned(),
        format!(r#"{{"exposures": {exposure}}}"#),
        deep,
        deep_in_batch,
        "\"a batch\"".to_owned(),
        "42".to_owned(),
        "null".to_owned(),
    ];
    for body in bodies {
        let answer = app
            .client
            .post(format!("{}{METRICS}", app.base))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("sent");
        let shown = &body[..body.len().min(60)];
        assert_eq!(answer.status().as_u16(), 400, "{shown}");
        let content_type = answer.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{shown}");
        let problem: Value = answer.json().await.expect("a problem body");
        assert_eq!(problem["status"], 400, "{shown}");
    }
    assert_eq!(app.state().intake.pending(), 0, "nothing of them is counted");
    send(&app, &key, json!({ "exposures": [{ "flag": "checkout", "variant": "on", "count": 1 }] })).await.expect(202);
    assert_eq!(app.state().intake.pending(), 1);
}
