//! CORS: only the client-key endpoints answer cross-origin requests, from the origins each environment
//! allows; the admin API and the server-key SDK routes never do.

use std::time::Duration;

use pennon_server::app::startup::spawn;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, Reply, TestApp};

both!(
    allowed_origins_are_checked_normalised_and_audited,
    client_key_routes_answer_the_origins_of_the_keys_environment,
    preflights_need_no_credential,
    admin_and_server_key_routes_never_answer_cross_origin,
    changes_take_effect_without_restart,
);

const APP: &str = "https://app.example.com";
const STAGING: &str = "https://staging.example.com";
const EVIL: &str = "https://evil.example";
const ALLOW_ORIGIN: &str = "access-control-allow-origin";

async fn client_key(app: &TestApp, env: &str, kind: &str) -> String {
    let created = app.post(&format!("/api/v1/environments/{env}/keys"), json!({ "kind": kind, "name": "web" })).await;
    created.expect(201).body["key"].as_str().unwrap().to_owned()
}

/// Two environments with their own origins and a flag, and a client key of each.
async fn setup(app: &TestApp) -> (String, String) {
    app.post("/api/v1/environments", json!({ "key": "production", "allowed_origins": [APP] })).await.expect(201);
    app.post("/api/v1/environments", json!({ "key": "staging", "allowed_origins": [STAGING] })).await.expect(201);
    app.post("/api/v1/flags", json!({ "key": "beta", "kind": "boolean" })).await.expect(201);
    (client_key(app, "production", "client").await, client_key(app, "staging", "client").await)
}

/// A cross-origin call, as a browser makes it, to one of the client-key endpoints.
async fn call_from(app: &TestApp, path: &str, key: &str, origin: &str) -> Reply {
    let body =
        if path.starts_with("/ofrep") { json!({ "context": { "targetingKey": "u1" } }) } else { evaluate_body() };
    let auth = format!("Bearer {key}");
    app.call(Method::POST, path, Some(body), &[("authorization", &auth), ("origin", origin)]).await
}

fn evaluate_body() -> Value {
    json!({ "flag": "beta", "context": { "key": "u1" } })
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> Reply {
    let headers = [
        ("authorization", ""),
        ("origin", origin),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "authorization,content-type"),
    ];
    app.call(Method::OPTIONS, path, None, &headers).await
}

fn varies_by_origin(reply: &Reply) -> bool {
    reply
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("origin"))
}

/// The origin is not allowed (a preflight still lists the methods and headers, which allows nothing).
fn refused(reply: &Reply, what: &str) {
    assert_eq!(reply.header(ALLOW_ORIGIN), None, "{what}");
    assert_eq!(reply.header("access-control-allow-credentials"), None, "{what}");
}

/// No CORS header at all.
fn no_cors(reply: &Reply, what: &str) {
    let cors: Vec<_> = reply.headers.keys().filter(|k| k.as_str().starts_with("access-control-")).collect();
    assert!(cors.is_empty(), "{what} answered with {cors:?}");
}

async fn allowed_origins_are_checked_normalised_and_audited(db: Db) {
    let app = TestApp::spawn(db).await;
    let created = app
        .post(
            "/api/v1/environments",
            json!({ "key": "production", "allowed_origins": ["HTTPS://App.Example.com:443"] }),
        )
        .await
        .expect(201);
    assert_eq!(created.body["allowed_origins"], json!([APP]), "stored as browsers send it");
    let plain = app.environment("staging").await;
    assert_eq!(plain["allowed_origins"], json!([]));

    let bad = app
        .patch("/api/v1/environments/production", json!({ "allowed_origins": [APP, "https://app.example.com/path"] }))
        .await
        .expect(422);
    assert_eq!(bad.body["field"], "allowed_origins[1]");
    let bad = app
        .patch("/api/v1/environments/production", json!({ "allowed_origins": ["*.example.com", "ftp://x.example"] }))
        .await
        .expect(422);
    let paths: Vec<_> = bad.body["errors"].as_array().unwrap().iter().map(|p| p["path"].clone()).collect();
    assert_eq!(paths, [json!("allowed_origins[0]"), json!("allowed_origins[1]")]);
    app.patch("/api/v1/environments/production", json!({ "allowed_origins": ["*", APP] })).await.expect(422);
    app.post("/api/v1/environments", json!({ "key": "qa", "allowed_origins": ["qa.example"] })).await.expect(422);
    app.get("/api/v1/environments/qa").await.expect(404);
    let unchanged = app.get("/api/v1/environments/production").await.expect(200);
    assert_eq!(
        (unchanged.body["allowed_origins"].clone(), unchanged.body["version"].clone()),
        (json!([APP]), json!(1))
    );
    assert_eq!(app.state().store.count_audit("environment.update").await.unwrap(), 0);

    let updated = app
        .patch(
            "/api/v1/environments/production",
            json!({ "allowed_origins": [APP, "http://localhost:3000"], "version": 1 }),
        )
        .await
        .expect(200);
    assert_eq!(updated.body["allowed_origins"], json!([APP, "http://localhost:3000"]));
    let renamed = app.patch("/api/v1/environments/production", json!({ "name": "Prod" })).await.expect(200);
    assert_eq!(renamed.body["allowed_origins"], json!([APP, "http://localhost:3000"]), "a rename keeps them");
    let everywhere = app.patch("/api/v1/environments/staging", json!({ "allowed_origins": ["*"] })).await.expect(200);
    assert_eq!(everywhere.body["allowed_origins"], json!(["*"]));
    assert_eq!(app.state().store.count_audit("environment.update").await.unwrap(), 3);
    let audit = app.get("/api/v1/audit?environment=production").await.expect(200);
    let update = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "environment.update" && a["version"] == 2)
        .expect("the origins change is in the audit log")
        .clone();
    assert_eq!(update["before"]["allowed_origins"], json!([APP]));
    assert_eq!(update["after"]["allowed_origins"], json!([APP, "http://localhost:3000"]));
}

async fn client_key_routes_answer_the_origins_of_the_keys_environment(db: Db) {
    let app = TestApp::spawn(db).await;
    let (production, staging) = setup(&app).await;
    for path in ["/api/v1/evaluate", "/ofrep/v1/evaluate/flags/beta", "/ofrep/v1/evaluate/flags"] {
        let allowed = call_from(&app, path, &production, APP).await.expect(200);
        assert_eq!(allowed.header(ALLOW_ORIGIN), Some(APP), "{path}");
        assert!(varies_by_origin(&allowed), "{path}");
        assert_eq!(allowed.header("access-control-allow-credentials"), None, "{path}");
        refused(&call_from(&app, path, &production, EVIL).await.expect(200), "an origin nobody allows");
        refused(&call_from(&app, path, &production, STAGING).await.expect(200), "another environment's origin");
        let theirs = call_from(&app, path, &staging, STAGING).await.expect(200);
        assert_eq!(theirs.header(ALLOW_ORIGIN), Some(STAGING), "{path}");
    }
    let bulk = call_from(&app, "/ofrep/v1/evaluate/flags", &production, APP).await;
    assert_eq!(bulk.header("access-control-expose-headers").map(str::to_ascii_lowercase).as_deref(), Some("etag"));

    // Server keys and admin credentials are not for browsers on other origins.
    let server = client_key(&app, "production", "server").await;
    refused(&call_from(&app, "/api/v1/evaluate", &server, APP).await.expect(200), "a server key");
    let admin = app
        .call(
            Method::POST,
            "/api/v1/evaluate",
            Some(json!({ "environment": "production", "flag": "beta", "context": { "key": "u1" } })),
            &[("origin", APP)],
        )
        .await
        .expect(200);
    refused(&admin, "an admin session");
    // A refused key gets no CORS headers either.
    refused(&call_from(&app, "/api/v1/evaluate", "pnn_cli_unknown", APP).await.expect(401), "an unknown key");

    // "*" allows every origin, echoed back.
    app.patch("/api/v1/environments/staging", json!({ "allowed_origins": ["*"] })).await.expect(200);
    let any = call_from(&app, "/api/v1/evaluate", &staging, EVIL).await.expect(200);
    assert_eq!(any.header(ALLOW_ORIGIN), Some(EVIL));
    refused(&call_from(&app, "/api/v1/evaluate", &production, EVIL).await.expect(200), "production still refuses");
}

async fn preflights_need_no_credential(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    for path in ["/api/v1/evaluate", "/ofrep/v1/evaluate/flags/beta", "/ofrep/v1/evaluate/flags"] {
        let ok = preflight(&app, path, APP).await;
        assert!(ok.status.is_success(), "{path}: {}", ok.status);
        assert_eq!(ok.header(ALLOW_ORIGIN), Some(APP), "{path}");
        assert!(ok.header("access-control-allow-methods").is_some_and(|m| m.contains("POST")), "{path}");
        let headers = ok.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
        assert!(headers.contains("authorization") && headers.contains("content-type"), "{path}: {headers}");
        assert!(varies_by_origin(&ok), "{path}");
        // Without a credential the preflight cannot know the environment: any environment's origin passes,
        // and the actual request decides.
        assert_eq!(preflight(&app, path, STAGING).await.header(ALLOW_ORIGIN), Some(STAGING), "{path}");
        refused(&preflight(&app, path, EVIL).await, "a preflight from an origin nobody allows");
    }
}

async fn admin_and_server_key_routes_never_answer_cross_origin(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    app.patch("/api/v1/environments/staging", json!({ "allowed_origins": ["*"] })).await.expect(200);
    let paths = [
        "/api/v1/environments",
        "/api/v1/environments/production",
        "/api/v1/flags",
        "/api/v1/flags/beta",
        "/api/v1/auth/login",
        "/api/v1/sdk/snapshot",
        "/api/v1/sdk/metrics",
        "/api/v1/evaluate/../flags",
        "/healthz",
        "/openapi.json",
        "/api/v1/no-such-route",
    ];
    for path in paths {
        no_cors(&preflight(&app, path, APP).await, path);
        no_cors(&app.call(Method::GET, path, None, &[("origin", APP)]).await, path);
    }
    let server = client_key(&app, "production", "server").await;
    let snapshot = app
        .call(
            Method::GET,
            "/api/v1/sdk/snapshot",
            None,
            &[("authorization", &format!("Bearer {server}")), ("origin", APP)],
        )
        .await
        .expect(200);
    no_cors(&snapshot, "the server-key snapshot");
}

/// An origin allowed only halfway through the tests below.
const NEW: &str = "https://new.example.com";

async fn changes_take_effect_without_restart(db: Db) {
    let mut app = TestApp::spawn(db).await;
    let (production, _) = setup(&app).await;
    refused(&call_from(&app, "/api/v1/evaluate", &production, NEW).await, "before it is allowed");
    refused(&preflight(&app, "/api/v1/evaluate", NEW).await, "a preflight before it is allowed");
    app.patch("/api/v1/environments/production", json!({ "allowed_origins": [NEW] })).await.expect(200);
    let now = call_from(&app, "/api/v1/evaluate", &production, NEW).await.expect(200);
    assert_eq!(now.header(ALLOW_ORIGIN), Some(NEW));
    assert_eq!(preflight(&app, "/api/v1/evaluate", NEW).await.header(ALLOW_ORIGIN), Some(NEW));
    refused(&call_from(&app, "/api/v1/evaluate", &production, APP).await, "the origin taken off the list");
    refused(&preflight(&app, "/api/v1/evaluate", APP).await, "a preflight from the origin taken off the list");

    app.restart().await;
    let after_restart = call_from(&app, "/api/v1/evaluate", &production, NEW).await.expect(200);
    assert_eq!(after_restart.header(ALLOW_ORIGIN), Some(NEW), "the table is rebuilt from the database");

    app.delete("/api/v1/environments/production?force=true").await.expect(204);
    refused(&preflight(&app, "/api/v1/evaluate", NEW).await, "the deleted environment's origin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_replicas_follow_at_once_on_postgres() {
    let app = TestApp::spawn(Db::Postgres).await;
    let (production, _) = setup(&app).await;
    let mut config = app.config.clone();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    // No periodic refresh to fall back on: only the notification can bring the change.
    config.refresh_interval = Duration::from_hours(1);
    let other = spawn(config).await.expect("a second replica starts");
    app.patch("/api/v1/environments/production", json!({ "allowed_origins": [NEW] })).await.expect(200);
    let ask = || async {
        app.client
            .post(format!("{}/api/v1/evaluate", other.url()))
            .bearer_auth(&production)
            .header("origin", NEW)
            .json(&evaluate_body())
            .send()
            .await
            .expect("sent")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = ask().await;
        assert_eq!(reply.status().as_u16(), 200);
        if reply.headers().get(ALLOW_ORIGIN).is_some_and(|v| v == NEW) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the other replica never allowed the new origin");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    other.shutdown().await;
}
