//! The client against the real Pennon server, started in-process on a temporary SQLite database: flags and
//! keys are made through the admin API, and the client follows changes over the stream and by polling,
//! reports metrics, is refused with a client key, and rides out a server restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pennon_sdk::{Client, ClientBuilder, Context, ErrorCode, ReadyError, Status};
use pennon_server::app::config::ServeConfig;
use pennon_server::app::startup::{RunningServer, spawn};
use serde_json::{Value, json};

const ADMIN_EMAIL: &str = "admin@pennon.test";
const ADMIN_PASSWORD: &str = "correct horse battery staple";

struct Server {
    running: Option<RunningServer>,
    config: ServeConfig,
    base: String,
    http: reqwest::Client,
    token: String,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("pennon.db").display());
        let mut config = ServeConfig::for_database(&url);
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(ADMIN_PASSWORD.into());
        let running = spawn(config.clone()).await.expect("the server starts");
        let base = running.url();
        let mut server = Server {
            running: Some(running),
            config,
            base,
            http: reqwest::Client::new(),
            token: String::new(),
            _dir: dir,
        };
        let login = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
        let session = server.call(reqwest::Method::POST, "/api/v1/auth/login", Some(login), 200).await;
        session["token"].as_str().expect("a session token").clone_into(&mut server.token);
        server
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>, status: u16) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the request is sent");
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body), 201).await
    }

    async fn configure(&self, flag: &str, config: Value) {
        let path = format!("/api/v1/flags/{flag}/environments/production");
        self.call(reqwest::Method::PUT, &path, Some(config), 200).await;
    }

    /// An environment, a boolean flag `checkout` serving `off`, and a key of `kind`.
    async fn setup(&self, kind: &str) -> String {
        self.post("/api/v1/environments", json!({ "key": "production" })).await;
        self.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await;
        self.configure("checkout", json!({ "enabled": true, "off_variant": "off", "default": { "variant": "off" } }))
            .await;
        let key = self.post("/api/v1/environments/production/keys", json!({ "kind": kind, "name": "sdk tests" })).await;
        key["key"].as_str().expect("the new key").to_owned()
    }

    async fn stop(&mut self) {
        self.running.take().expect("running").shutdown().await;
    }

    /// Starts again on the same database and port.
    async fn restart(&mut self) {
        let mut config = self.config.clone();
        config.listen = self.base.trim_start_matches("http://").parse().unwrap();
        self.running = Some(spawn(config).await.expect("the server restarts on its port"));
    }
}

fn client(server: &Server, key: &str) -> ClientBuilder {
    Client::builder(&server.base, key)
        .reconnect_delays(Duration::from_millis(20), Duration::from_millis(200))
        .poll_interval(Duration::from_millis(200))
        .flush_interval(Duration::from_secs(3600))
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pro_rule() -> Value {
    json!([{ "id": "pro", "conditions": [{ "attribute": "plan", "operator": "in", "values": ["pro"] }], "serve": { "variant": "on" } }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_changes_over_the_stream_and_reports_metrics() {
    let server = Server::start().await;
    let key = server.setup("server").await;
    let client = client(&server, &key).build().await.unwrap();
    client.wait_until_ready(Duration::from_secs(10)).await.unwrap();
    let changed = Arc::new(Mutex::new(Vec::new()));
    let sink = changed.clone();
    client.on_change(move |c| sink.lock().unwrap().push(c.key.clone()));

    let (pro, free) = (Context::new("u1").with("plan", "pro"), Context::new("u2").with("plan", "free"));
    assert!(!client.bool_value("checkout", &pro, true));
    server
        .configure(
            "checkout",
            json!({ "enabled": true, "off_variant": "off", "rules": pro_rule(), "default": { "variant": "off" } }),
        )
        .await;
    eventually("the rule arrives", || client.bool_value("checkout", &pro, false)).await;
    assert!(!client.bool_value("checkout", &free, true));
    assert_eq!(client.bool_detail("checkout", &pro, false).reason.kind(), "RULE_MATCH");
    assert_eq!(*changed.lock().unwrap(), ["checkout"]);

    assert_eq!(client.track("checkout_error", &pro, 1.0), 1);
    client.flush().await.expect("the server takes the metrics");

    server.call(reqwest::Method::POST, "/api/v1/flags/checkout/archive", None, 200).await;
    eventually("the archived flag goes away", || {
        client.bool_detail("checkout", &pro, false).error() == Some(ErrorCode::FlagNotFound)
    })
    .await;
    assert_eq!(client.status(), Status::Ready);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_follows_changes_too() {
    let server = Server::start().await;
    let key = server.setup("server").await;
    let client = client(&server, &key).stream(false).build().await.unwrap();
    client.wait_until_ready(Duration::from_secs(10)).await.unwrap();
    let ctx = Context::new("u1");
    assert!(!client.bool_value("checkout", &ctx, true));
    server
        .configure("checkout", json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } }))
        .await;
    eventually("the next poll brings the change", || client.bool_value("checkout", &ctx, false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_key_or_a_wrong_key_is_refused() {
    let server = Server::start().await;
    let client_key = server.setup("client").await;
    for key in [client_key.as_str(), "pnn_srv_not-a-real-key"] {
        let client = client(&server, key).build().await.unwrap();
        let ready = client.wait_until_ready(Duration::from_secs(10)).await;
        assert!(matches!(ready, Err(ReadyError::Failed(_))), "{key}: {ready:?}");
        assert!(matches!(client.status(), Status::Failed { .. }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_serving_through_a_restart_and_catches_up() {
    let mut server = Server::start().await;
    let key = server.setup("server").await;
    server
        .configure("checkout", json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } }))
        .await;
    let client = client(&server, &key).build().await.unwrap();
    client.wait_until_ready(Duration::from_secs(10)).await.unwrap();
    let ctx = Context::new("u1");
    assert!(client.bool_value("checkout", &ctx, false));

    server.stop().await;
    eventually("the client notices", || matches!(client.status(), Status::Interrupted { .. })).await;
    assert!(client.bool_value("checkout", &ctx, false), "the last flags are served during the outage");

    server.restart().await;
    eventually("the client is back", || client.status() == Status::Ready).await;
    server
        .configure("checkout", json!({ "enabled": false, "off_variant": "off", "default": { "variant": "on" } }))
        .await;
    eventually("the change after the restart arrives", || !client.bool_value("checkout", &ctx, true)).await;
    assert_eq!(client.bool_detail("checkout", &ctx, true).reason.kind(), "OFF");
}

/// The exposure counters a service appends to its own `/metrics`: cumulative per flag and variant, in the
/// Prometheus text format, and unchanged by sending the exposures to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposure_metrics_count_every_evaluation_per_variant() {
    let server = Server::start().await;
    let key = server.setup("server").await;
    server
        .configure(
            "checkout",
            json!({ "enabled": true, "off_variant": "off", "rules": pro_rule(), "default": { "variant": "off" } }),
        )
        .await;
    let client = client(&server, &key).build().await.unwrap();
    client.wait_until_ready(Duration::from_secs(10)).await.unwrap();
    let (pro, free) = (Context::new("u1").with("plan", "pro"), Context::new("u2").with("plan", "free"));
    for _ in 0..3 {
        assert!(client.bool_value("checkout", &pro, false));
    }
    assert!(!client.bool_value("checkout", &free, true));
    client.flush().await.expect("the server takes the exposures");
    assert!(client.bool_value("checkout", &pro, false));

    let text = client.exposure_metrics();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            let words: Vec<&str> = line.split(' ').collect();
            assert!(matches!(words[1], "HELP" | "TYPE"), "{line}");
            assert_eq!(words[2], "pennon_sdk_exposures_total", "{line}");
            if words[1] == "TYPE" {
                assert_eq!(words[3], "counter");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        samples.push((series.to_owned(), value.parse::<u64>().expect("a whole count")));
    }
    samples.sort();
    assert_eq!(
        samples,
        [
            (r#"pennon_sdk_exposures_total{flag="checkout",variant="off"}"#.to_owned(), 1),
            (r#"pennon_sdk_exposures_total{flag="checkout",variant="on"}"#.to_owned(), 4),
        ],
        "{text}"
    );
    client.close().await;
}
