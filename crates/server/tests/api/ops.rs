//! The operations endpoints: health, readiness and Prometheus metrics.

use serde_json::Value;

use crate::both;
use crate::helpers::{Db, TestApp};

both!(
    metrics_count_requests_by_route,
    metrics_follow_snapshot_revisions,
    metrics_time_change_propagation,
    metrics_formats_follow_accept,
    health_and_readiness,
    request_ids
);

/// The value of the sample of `name` whose labels include every `label="value"` pair given, if there is one.
pub fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
        let matches = series_name == name
            && labels.iter().all(|(label, wanted)| series_labels.contains(&format!("{label}=\"{wanted}\"")));
        if matches { value.parse().ok() } else { None }
    })
}

pub async fn metrics_text(app: &TestApp) -> String {
    let reply = app.get("/metrics").await.expect(200);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "content type {content_type}");
    match reply.body {
        Value::String(text) => text,
        other => panic!("expected the text exposition, got {other}"),
    }
}

/// Checks that every sample belongs to the family the `# TYPE` line before it names, the way a strict parser
/// reads it: in the Prometheus text format a counter's family is named as its samples (`..._total`); in
/// OpenMetrics it is named without `_total`, which its samples add. Returns the families by name and type.
fn families(text: &str, openmetrics: bool) -> Vec<(String, String)> {
    let mut families = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            families.push((name.to_owned(), kind.to_owned()));
            current = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let sample = line.split(['{', ' ']).next().unwrap();
        let (family, kind) = current.as_ref().unwrap_or_else(|| panic!("{sample} comes before any # TYPE"));
        let allowed: Vec<String> = match (kind.as_str(), openmetrics) {
            ("counter", true) => vec![format!("{family}_total"), format!("{family}_created")],
            ("counter" | "gauge" | "untyped", false) | ("gauge" | "unknown", true) => vec![family.clone()],
            ("histogram", _) => ["_bucket", "_sum", "_count"].iter().map(|s| format!("{family}{s}")).collect(),
            (other, _) => panic!("unexpected type {other} of {family}"),
        };
        assert!(allowed.contains(&sample.to_owned()), "{sample} under # TYPE {family} {kind}:\n{text}");
    }
    families
}

async fn metrics_formats_follow_accept(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let plain = metrics_text(&app).await;
    assert!(!plain.contains("# EOF"), "{plain}");
    let typed = families(&plain, false);
    let counter = |name: &str| (name.to_owned(), "counter".to_owned());
    for name in ["pennon_http_requests_total", "pennon_sdk_metrics_accepted_total", "pennon_guard_checks_total"] {
        assert!(typed.contains(&counter(name)), "{name} is typed counter: {plain}");
    }
    assert!(typed.iter().filter(|(_, kind)| kind == "counter").all(|(name, _)| name.ends_with("_total")));
    assert!(plain.contains("# HELP pennon_http_requests_total "), "{plain}");

    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
        text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let reply = app.call(reqwest::Method::GET, "/metrics", None, &[("accept", prometheus)]).await.expect(200);
    assert_eq!(reply.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    assert_eq!(reply.header("vary"), Some("accept"));
    let Value::String(open) = reply.body else { panic!("expected text") };
    assert!(open.ends_with("# EOF\n"), "{open}");
    let typed = families(&open, true);
    for name in ["pennon_http_requests", "pennon_sdk_metrics_accepted", "pennon_guard_breaches"] {
        assert!(typed.contains(&counter(name)), "{name} is typed counter: {open}");
    }
}

async fn metrics_count_requests_by_route(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for _ in 0..3 {
        app.get("/api/v1/environments/production").await.expect(200);
    }
    app.get("/api/v1/environments/missing").await.expect(404);
    app.get("/no/such/route").await.expect(404);

    let text = metrics_text(&app).await;
    let requests = "pennon_http_requests_total";
    let one_env = [("route", "/api/v1/environments/{env}"), ("method", "GET"), ("status", "200")];
    assert_eq!(sample(&text, requests, &one_env), Some(3.0), "{text}");
    let missing = [("route", "/api/v1/environments/{env}"), ("method", "GET"), ("status", "404")];
    assert_eq!(sample(&text, requests, &missing), Some(1.0), "{text}");
    let created = [("route", "/api/v1/environments"), ("method", "POST"), ("status", "201")];
    assert_eq!(sample(&text, requests, &created), Some(1.0), "{text}");
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(sample(&text, requests, &unmatched), Some(1.0), "raw paths must not become labels: {text}");
    assert!(!text.contains("/no/such/route"), "raw paths must not become labels: {text}");
    assert_eq!(sample(&text, "pennon_http_request_duration_seconds_count", &one_env), Some(3.0), "{text}");
    let seconds = sample(&text, "pennon_http_request_duration_seconds_sum", &one_env).expect("latency sum");
    assert!(seconds > 0.0 && seconds < 30.0, "latency sum {seconds}");

    // The scrape itself is counted too, on the next one.
    let text = metrics_text(&app).await;
    let scrape = [("route", "/metrics"), ("method", "GET"), ("status", "200")];
    assert_eq!(sample(&text, requests, &scrape), Some(1.0), "{text}");
}

async fn metrics_follow_snapshot_revisions(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    let revision = |env: &str| {
        let env = env.to_owned();
        let app = &app;
        async move { app.get(&format!("/api/v1/environments/{env}")).await.expect(200).body["revision"].as_f64() }
    };
    let text = metrics_text(&app).await;
    let production = [("environment", "production")];
    assert_eq!(sample(&text, "pennon_snapshot_revision", &production), revision("production").await, "{text}");
    let staging = [("environment", "staging")];
    assert_eq!(sample(&text, "pennon_snapshot_revision", &staging), revision("staging").await, "{text}");

    app.delete("/api/v1/environments/staging").await.expect(204);
    let text = metrics_text(&app).await;
    assert_eq!(sample(&text, "pennon_snapshot_revision", &staging), None, "a deleted environment is dropped: {text}");
    assert!(sample(&text, "pennon_snapshot_revision", &production).is_some(), "{text}");
}

/// Each change written counts once in both propagation histograms (write to snapshot, write to stream frame).
async fn metrics_time_change_propagation(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let count = |text: &str, name: &str| sample(text, name, &[]).unwrap_or(0.0);
    let before = metrics_text(&app).await;
    let flag = serde_json::json!({ "key": "checkout", "kind": "boolean" });
    app.post("/api/v1/flags", flag).await.expect(201);
    let toggle = serde_json::json!({ "enabled": true });
    app.post("/api/v1/flags/checkout/environments/production/toggle", toggle).await.expect(200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = metrics_text(&app).await;
        let grown = |name: &str| count(&text, name) - count(&before, name);
        let (framed, applied) =
            (grown("pennon_change_propagation_seconds_count"), grown("pennon_change_snapshot_lag_seconds_count"));
        if framed >= 2.0 && applied >= 2.0 {
            assert!(count(&text, "pennon_change_propagation_seconds_sum") >= 0.0, "{text}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the changes were not timed: {framed} {applied}\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn health_and_readiness(db: Db) {
    let app = TestApp::spawn(db).await;
    assert_eq!(app.get("/healthz").await.expect(200).body["status"], "ok");
    app.environment("production").await;
    let ready = app.get("/readyz").await.expect(200).body;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["environments"], 1);
}

/// Every answer carries a request id: the caller's, or one made for it, different on each request.
async fn request_ids(db: Db) {
    use reqwest::Method;
    let app = TestApp::spawn(db).await;
    let given = app.call(Method::GET, "/healthz", None, &[("x-request-id", "trace-7f3a")]).await.expect(200);
    assert_eq!(given.header("x-request-id"), Some("trace-7f3a"));
    let missing = app.call(Method::GET, "/api/v1/environments/none", None, &[("x-request-id", "e-1")]).await;
    assert_eq!(missing.expect(404).header("x-request-id"), Some("e-1"), "errors carry it too");

    let first = app.get("/healthz").await.expect(200);
    let second = app.get("/healthz").await.expect(200);
    let (first, second) = (first.header("x-request-id").unwrap(), second.header("x-request-id").unwrap());
    assert_ne!(first, second);
    for id in [first, second] {
        let (prefix, counter) = id.split_once('-').unwrap_or_else(|| panic!("generated id {id}"));
        assert!(prefix.len() == 8 && prefix.bytes().all(|b| b.is_ascii_hexdigit()), "generated id {id}");
        assert!(counter.parse::<u64>().is_ok(), "generated id {id}");
    }
    assert_eq!(first.split_once('-').unwrap().0, second.split_once('-').unwrap().0, "one prefix per process");
}
