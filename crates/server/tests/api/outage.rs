//! Database outages, for real: the server reaches PostgreSQL through a proxy of our own that can cut the
//! database off (or let it go silent) and bring it back. While it is away, evaluation keeps answering from
//! the snapshots, writes answer 503 promptly, and `/readyz` says why; afterwards everything recovers without
//! a restart.

use std::time::{Duration, Instant};

use pennon_server::app::config::ServeConfig;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Db, Reply, TestApp, TestDatabase};
use crate::proxy::DbProxy;
use crate::sse::{bearer, sdk_key};

/// How long a refused write or a failed readiness check may take: the store's `ACQUIRE_TIMEOUT` (1 s) and a margin.
const PROMPT: Duration = Duration::from_secs(2);

/// A server reaching its database through a proxy, checking its snapshots against the database every
/// `refresh_interval`.
async fn app_behind_proxy(refresh_interval: Duration) -> (TestApp, DbProxy) {
    let database = TestDatabase::new(Db::Postgres).await;
    let (proxy, url) = DbProxy::in_front_of(&database.url).await;
    let mut config = ServeConfig::for_database(&url);
    config.refresh_interval = refresh_interval;
    (TestApp::spawn_with(database, config).await, proxy)
}

const CONFIG: &str = "/api/v1/flags/checkout/environments/production";

/// A boolean flag `checkout` in `production`, enabled and serving `on`; returns a server SDK key of
/// `production`.
async fn checkout_flag_on(app: &TestApp) -> String {
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let config = json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } });
    app.put(CONFIG, config).await.expect(200);
    sdk_key(app, "production", "server").await
}

/// Turns `checkout` off (or back on) in `production`.
async fn toggle_checkout(app: &TestApp) -> Reply {
    app.call(Method::POST, &format!("{CONFIG}/toggle"), None, &[]).await
}

/// The variant `checkout` serves to a user, evaluated by `POST /api/v1/evaluate` with an SDK key, which
/// must answer at once whether or not the database is there.
async fn checkout_variant(app: &TestApp, key: &str) -> String {
    let started = Instant::now();
    let body = json!({ "flag": "checkout", "context": { "key": "user-42" } });
    let auth = bearer(key);
    let reply = app.call(Method::POST, "/api/v1/evaluate", Some(body), &[("authorization", &auth)]).await;
    assert!(started.elapsed() < Duration::from_millis(500), "evaluation took {:?}", started.elapsed());
    reply.expect(200).body["variant"].as_str().expect("a variant").to_owned()
}

/// Asserts that SDKs still get the whole snapshot, from memory.
async fn assert_snapshot_served(app: &TestApp, key: &str) {
    let auth = bearer(key);
    let snapshot = app.call(Method::GET, "/api/v1/sdk/snapshot", None, &[("authorization", &auth)]).await;
    let flags = snapshot.expect(200).body["flags"].clone();
    assert_eq!(flags[0]["config"]["flag"], "checkout", "{flags}");
}

/// Asserts that a write is refused with 503 and a problem body, within [`PROMPT`].
async fn assert_write_refused(app: &TestApp, key: &str) {
    let started = Instant::now();
    let reply = app.post("/api/v1/environments", json!({ "key": key })).await.expect(503);
    let took = started.elapsed();
    assert!(took < PROMPT, "the refusal took {took:?}");
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    assert_eq!(reply.body["type"], "/problems/unavailable");
    assert_eq!(reply.body["status"], 503);
    assert!(reply.body["detail"].as_str().unwrap().contains("database is unavailable"), "{}", reply.body);
}

/// Asserts that `/readyz` answers 503 naming the database, within [`PROMPT`].
async fn assert_not_ready(app: &TestApp) {
    let started = Instant::now();
    let reply = app.get("/readyz").await.expect(503);
    let took = started.elapsed();
    assert!(took < PROMPT, "/readyz took {took:?}");
    assert_eq!(reply.body["database"], "unreachable", "{}", reply.body);
    assert_eq!(reply.body["status"], "degraded");
}

/// Waits until `/readyz` answers 200 again, by itself.
async fn wait_until_ready(app: &TestApp) {
    let started = Instant::now();
    while app.get("/readyz").await.status != 200 {
        assert!(started.elapsed() < Duration::from_secs(15), "the server did not become ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// After the database returns: writes succeed, their changes reach the snapshots, and nothing refused
/// during the outage was written.
async fn assert_recovered(app: &TestApp, key: &str, refused: &str) {
    wait_until_ready(app).await;
    app.environment("staging").await;
    assert!(app.state().snapshots.get("staging").is_some());
    app.get(&format!("/api/v1/environments/{refused}")).await.expect(404);
    toggle_checkout(app).await.expect(200);
    assert_eq!(checkout_variant(app, key).await, "off");
    app.get("/readyz").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_cut_off_then_restored() {
    let (app, proxy) = app_behind_proxy(Duration::from_millis(200)).await;
    let key = checkout_flag_on(&app).await;
    assert_eq!(checkout_variant(&app, &key).await, "on");

    proxy.cut().await;
    assert_eq!(checkout_variant(&app, &key).await, "on");
    assert_snapshot_served(&app, &key).await;
    app.get("/healthz").await.expect(200);
    assert_write_refused(&app, "refused").await;
    assert_not_ready(&app).await;
    assert_eq!(toggle_checkout(&app).await.expect(503).body["type"], "/problems/unavailable");
    assert_write_refused(&app, "refused").await;
    assert_eq!(checkout_variant(&app, &key).await, "on");

    proxy.restore().await;
    assert_recovered(&app, &key, "refused").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_silent_then_back() {
    let (app, proxy) = app_behind_proxy(Duration::from_millis(200)).await;
    let key = checkout_flag_on(&app).await;

    proxy.blackhole();
    assert_eq!(checkout_variant(&app, &key).await, "on");
    assert_snapshot_served(&app, &key).await;
    assert_write_refused(&app, "refused").await;
    assert_not_ready(&app).await;
    assert_eq!(checkout_variant(&app, &key).await, "on");

    proxy.restore().await;
    assert_recovered(&app, &key, "refused").await;
}

/// A replica cut off from the database misses changes made through another one, and catches up by itself
/// once the database is back: its change listener reconnects and catches up (the periodic refresh, the
/// other way back, is set out of reach here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_replica_catches_up() {
    let (app, proxy) = app_behind_proxy(Duration::from_hours(1)).await;
    let key = checkout_flag_on(&app).await;
    let other = pennon_server::app::startup::spawn(ServeConfig::for_database(&app.database.url)).await.unwrap();
    let client = reqwest::Client::new();
    let call = |method: Method, path: &str| {
        client.request(method, format!("{}{path}", other.url())).bearer_auth(&app.admin_token)
    };

    proxy.cut().await;
    let created = call(Method::POST, "/api/v1/environments").json(&json!({ "key": "staging" })).send().await;
    assert_eq!(created.unwrap().status(), 201);
    let toggled = call(Method::POST, &format!("{CONFIG}/toggle")).send().await;
    assert_eq!(toggled.unwrap().status(), 200);
    assert!(app.state().snapshots.get("staging").is_none());
    assert_eq!(checkout_variant(&app, &key).await, "on");

    proxy.restore().await;
    let started = Instant::now();
    while app.state().snapshots.get("staging").is_none() || checkout_variant(&app, &key).await != "off" {
        assert!(started.elapsed() < Duration::from_secs(15), "the snapshots did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    other.shutdown().await;
}

/// While the database is away, a signed-in session and an API token are still checked (from memory) and
/// evaluate; refused writes say the database is unavailable and when to retry; nothing answers 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_work_while_the_database_is_away() {
    let (app, proxy) = app_behind_proxy(Duration::from_millis(200)).await;
    checkout_flag_on(&app).await;
    let token = app.post("/api/v1/tokens", json!({ "name": "ops", "role": "admin" })).await.expect(201);
    let token = format!("Bearer {}", token.body["token"].as_str().unwrap());
    let session = format!("Bearer {}", app.admin_token);
    let body = json!({ "flag": "checkout", "context": { "key": "user-42" } });
    let evaluate = |auth: String| {
        let body = body.clone();
        let app = &app;
        async move {
            let headers = [("authorization", auth.as_str()), ("x-pennon-environment", "production")];
            app.call(Method::POST, "/api/v1/evaluate", Some(body), &headers).await
        }
    };
    assert_eq!(evaluate(token.clone()).await.expect(200).body["variant"], "on");

    proxy.cut().await;
    for auth in [&token, &session] {
        for _ in 0..5 {
            assert_eq!(evaluate(auth.clone()).await.expect(200).body["variant"], "on");
        }
        let me = app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", auth)]).await;
        me.expect(200);
        let refused = app
            .call(Method::POST, "/api/v1/environments", Some(json!({ "key": "refused" })), &[("authorization", auth)])
            .await
            .expect(503);
        assert!(refused.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() > 0), "{:?}", refused.headers);
        assert!(refused.body["detail"].as_str().unwrap().contains("database is unavailable"), "{}", refused.body);
    }
    let read = app.get("/api/v1/flags").await;
    if read.status == 503 {
        let detail = read.body["detail"].as_str().unwrap();
        assert!(!detail.contains("writes are refused"), "a read does not say writes are refused: {detail}");
    }
    proxy.restore().await;
    wait_until_ready(&app).await;
}
