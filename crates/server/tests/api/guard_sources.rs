//! Guards that read Prometheus: the source round-trips and is audited, bad sources are refused naming each
//! field, and the guard loop against a stand-in Prometheus breaches on its numbers (with the evidence in the
//! audit row), while an error answer or an unreachable server is shown as `source_error` and decides nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use serde_json::{Value, json};

use crate::both;
use crate::flag_setup::{boolean_flag, configure, half_split};
use crate::guards::GUARDS;
use crate::helpers::{Db, TestApp, TestDatabase};

both!(
    prometheus_sources_round_trip_and_bad_ones_are_refused,
    the_loop_reads_prometheus_and_shows_its_errors,
    a_document_carries_a_guards_prometheus_source
);

const EVENTS: &str = r#"sum(increase(errors_total{flag="{{flag}}",variant="{{variant}}"}[{{range}}]))"#;
const REQUESTS: &str = r#"sum(increase(requests_total{flag="{{flag}}",variant="{{variant}}"}[{{range}}]))"#;

fn prometheus_guard(url: Option<&str>) -> Value {
    let mut source = json!({ "kind": "prometheus", "events": EVENTS, "requests": REQUESTS });
    if let Some(url) = url {
        source["url"] = json!(url);
    }
    json!({ "metric": "checkout_error", "statistic": "rate", "direction": "higher_is_worse",
        "threshold": { "relative": 0.1 }, "variant": "on", "source": source })
}

async fn app(db: Db, prometheus_url: Option<String>) -> TestApp {
    let database = TestDatabase::new(db).await;
    let mut config = pennon_server::app::config::ServeConfig::for_database(&database.url);
    config.guard_interval = Duration::from_millis(200);
    config.prometheus_url = prometheus_url;
    config.prometheus_timeout = Duration::from_secs(2);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    boolean_flag(&app, "checkout").await;
    let config = json!({ "enabled": true, "off_variant": "off", "default": half_split("key") });
    configure(&app, "checkout", "production", config).await;
    app.metric("checkout_error", "rate").await;
    app
}

fn paths(body: &Value) -> Vec<String> {
    body["errors"].as_array().expect("errors").iter().map(|p| p["path"].as_str().unwrap().to_owned()).collect()
}

async fn prometheus_sources_round_trip_and_bad_ones_are_refused(db: Db) {
    let app = app(db, None).await;
    let created = app.post(GUARDS, prometheus_guard(Some("http://prometheus:9090"))).await.expect(201).body;
    assert_eq!(
        created["source"],
        json!({ "kind": "prometheus", "url": "http://prometheus:9090", "events": EVENTS, "requests": REQUESTS })
    );
    assert!(created["source_error"].is_null());
    let read = app.get(&format!("{GUARDS}/{}", created["id"])).await.expect(200).body;
    assert_eq!(read["source"], created["source"]);
    let audit = app.get("/api/v1/audit?flag=checkout").await.expect(200).body;
    let create = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "guard.create").expect("audited");
    assert_eq!(create["after"]["source"]["events"], EVENTS, "{create}");

    let mut sdk = prometheus_guard(None);
    sdk.as_object_mut().unwrap().remove("source");
    assert_eq!(app.post(GUARDS, sdk).await.expect(201).body["source"], json!({ "kind": "sdk" }));

    // No url, and the server has no --prometheus-url; a template that cannot tell the arms apart; one that
    // does not count from the guard's start; a field of mean guards.
    let mut bad = prometheus_guard(None);
    bad["source"]["events"] = json!("sum(increase(errors_total[{{range}}]))");
    bad["source"]["requests"] = json!(r#"sum(requests_total{variant="{{variant}}"})"#);
    bad["source"]["sum"] = json!("x");
    let refused = app.post(GUARDS, bad).await.expect(422).body;
    assert_eq!(paths(&refused), ["source.url", "source.events", "source.requests", "source.sum"], "{refused}");
    let mut bad = prometheus_guard(Some("ftp://prometheus"));
    bad["statistic"] = json!("mean");
    app.metric("latency_ms", "mean").await;
    bad["metric"] = json!("latency_ms");
    let refused = app.post(GUARDS, bad).await.expect(422).body;
    let found = paths(&refused);
    for field in ["source.url", "source.sum", "source.count", "source.sum_squares", "source.events", "source.requests"]
    {
        assert!(found.iter().any(|p| p == field), "{field} is named: {refused}");
    }
    let mut unknown = prometheus_guard(Some("http://p:9090"));
    unknown["source"]["kind"] = json!("graphite");
    app.post(GUARDS, unknown).await.expect(400);
    assert_eq!(app.get(GUARDS).await.expect(200).body["items"].as_array().unwrap().len(), 2, "only the good two");
}

/// A stand-in Prometheus: answers an instant query with the number `answer` gives it, or an error answer
/// when it gives none. Keeps the queries it was asked.
async fn stand_in(answer: fn(&str) -> Option<f64>) -> (String, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let handler = move |State(asked): State<Arc<Mutex<Vec<String>>>>, Query(q): Query<HashMap<String, String>>| async move {
        let query = q.get("query").cloned().unwrap_or_default();
        asked.lock().unwrap().push(query.clone());
        axum::Json(match answer(&query) {
            Some(v) => json!({ "status": "success", "data": { "resultType": "vector",
                "result": [{ "metric": {}, "value": [1.0, v.to_string()] }] } }),
            None => json!({ "status": "error", "errorType": "bad_data", "error": "parse error at char 7" }),
        })
    };
    let router = axum::Router::new().route("/api/v1/query", axum::routing::get(handler)).with_state(asked.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, asked)
}

async fn until_guard(app: &TestApp, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let g = app.get(&format!("{GUARDS}/{id}")).await.expect(200).body;
        if done(&g) {
            return g;
        }
        assert!(Instant::now() < deadline, "waiting until {what}: {g}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn the_loop_reads_prometheus_and_shows_its_errors(db: Db) {
    // 5% errors on `on`, 1% on `off`, 10 000 requests each.
    let (url, asked) = stand_in(|q| {
        let on = q.contains(r#"variant="on""#);
        Some(if q.contains("errors_total") { if on { 500.0 } else { 100.0 } } else { 10_000.0 })
    })
    .await;
    let (failing, _) = stand_in(|_| None).await;
    let app = app(db, Some(url)).await;

    let mut refused = prometheus_guard(Some(&failing));
    refused["threshold"] = json!({ "absolute": 0.5 });
    let refused_id = app.post(GUARDS, refused).await.expect(201).body["id"].as_i64().unwrap();
    let g = until_guard(&app, refused_id, "the error answer shows", |g| g["source_error"].is_string()).await;
    let error = g["source_error"].as_str().unwrap();
    assert!(error.contains("parse error at char 7") && error.contains("events"), "{error}");
    assert_eq!(g["state"], "insufficient_data", "an error decides nothing: {g}");
    app.delete(&format!("{GUARDS}/{refused_id}")).await.expect(204);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut unreachable = prometheus_guard(Some(&format!("http://{closed}")));
    unreachable["threshold"] = json!({ "absolute": 0.5 });
    let unreachable_id = app.post(GUARDS, unreachable).await.expect(201).body["id"].as_i64().unwrap();
    let g = until_guard(&app, unreachable_id, "the unreachable server shows", |g| g["source_error"].is_string()).await;
    assert!(g["source_error"].as_str().unwrap().contains("could not connect"), "{g}");
    app.delete(&format!("{GUARDS}/{unreachable_id}")).await.expect(204);

    // The server's --prometheus-url, with the numbers of a regression.
    let id = app.post(GUARDS, prometheus_guard(None)).await.expect(201).body["id"].as_i64().unwrap();
    let g = until_guard(&app, id, "the guard breaches", |g| g["state"] == "breached").await;
    assert!(g["source_error"].is_null(), "{g}");
    assert_eq!(g["evidence"]["treatment"]["n"], 10_000, "{g}");
    let config = app.get("/api/v1/flags/checkout/environments/production").await.expect(200).body;
    assert_eq!(config["enabled"], false);
    let audit = app.get("/api/v1/audit?flag=checkout").await.expect(200).body;
    let breach = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "guard.breach").expect("audited");
    assert!(breach["detail"]["p_value"].as_f64().unwrap() <= 0.05, "{breach}");
    assert_eq!(breach["detail"]["treatment"]["value"], 0.05, "{breach}");
    assert_eq!(breach["detail"]["source"]["kind"], "prometheus", "the audit row says where the numbers came from");
    let asked = asked.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|q| q.starts_with(r#"sum(increase(errors_total{flag="checkout",variant="off"}["#)
                && q.ends_with("s]))")),
        "the templates were filled in: {asked:?}"
    );
}

/// Flags as code: the export states a guard's Prometheus source, applying that export changes nothing, and a
/// document that changes the source updates the guard in place.
async fn a_document_carries_a_guards_prometheus_source(db: Db) {
    let app = app(db, None).await;
    let created = app.post(GUARDS, prometheus_guard(Some("http://prometheus:9090"))).await.expect(201).body;
    let mut doc = crate::apply::parse(&crate::apply::export(&app, "").await.0);
    let guard = &doc["flags"][0]["environments"]["production"]["guards"][0];
    assert_eq!(guard["source"], created["source"], "{doc}");
    let same = crate::apply::apply(&app, "?dry_run=true", &doc).await.expect(200).body;
    assert_eq!(same["summary"]["update"], 0, "{same}");
    assert_eq!(same["summary"]["create"], 0, "{same}");
    doc["flags"][0]["environments"]["production"]["guards"][0]["source"]["url"] = json!("http://other:9090");
    let applied = crate::apply::apply(&app, "", &doc).await.expect(200).body;
    assert_eq!(applied["summary"]["update"], 1, "{applied}");
    let read = app.get(&format!("{GUARDS}/{}", created["id"])).await.expect(200).body;
    assert_eq!(read["source"]["url"], "http://other:9090");
}
