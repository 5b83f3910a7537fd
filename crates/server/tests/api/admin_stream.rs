//! `/api/v1/admin/stream`: the dashboard's feed of changes and audit rows, from this replica and others.

use std::time::Duration;

use pennon_server::app::startup::spawn;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp};
use crate::sse::{Block, SseReader, bearer, sdk_key};

both!(changes_and_audit_rows_arrive, audit_rows_of_other_replicas_arrive, needs_a_signed_in_user);

const STREAM: &str = "/api/v1/admin/stream";

async fn open(app: &TestApp) -> SseReader {
    let auth = bearer(&app.admin_token);
    let mut stream = SseReader::open(app, STREAM, &[("authorization", &auth)]).await;
    assert_eq!(stream.next().await.retry, Some(3000));
    stream
}

/// Reads events until one named `event` satisfies `wanted`; returns it.
async fn until(stream: &mut SseReader, event: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let block: Block = stream.next_event().await;
        if block.event.as_deref() == Some(event) && wanted(&block.json()) {
            return block.json();
        }
    }
}

async fn changes_and_audit_rows_arrive(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let mut stream = open(&app).await;

    let toggle = "/api/v1/flags/checkout/environments/production/toggle";
    let toggled = app.call(Method::POST, toggle, None, &[]).await.expect(200).body;
    let revision = app.get("/api/v1/environments/production").await.expect(200).body["revision"].clone();
    // The flag's creation may still be on its way to the stream when it opens: wait for the toggle's change.
    let change = until(&mut stream, "change", |c| c["key"] == "checkout" && c["revision"] == revision).await;
    assert_eq!(
        change,
        json!({ "environment": "production", "revision": revision, "kind": "flag", "key": "checkout", "op": "put" })
    );
    let audit = until(&mut stream, "audit", |a| a["action"] == "config.toggle").await;
    assert_eq!(audit["actor"], "user:admin@pennon.test");
    assert_eq!((audit["flag"].as_str(), audit["environment"].as_str()), (Some("checkout"), Some("production")));
    assert_eq!(audit["version"], toggled["version"]);
    assert!(audit["id"].as_i64().is_some() && audit["at"].as_i64().is_some());

    app.delete("/api/v1/flags/checkout").await;
    app.call(Method::DELETE, "/api/v1/environments/production?force=true", None, &[]).await.expect(204);
    let removed = until(&mut stream, "change", |c| c["kind"] == "environment").await;
    assert_eq!(
        removed,
        json!({ "environment": "production", "kind": "environment", "key": "production", "op": "delete" })
    );
    until(&mut stream, "audit", |a| a["action"].as_str().is_some_and(|a| a.starts_with("environment."))).await;
}

async fn audit_rows_of_other_replicas_arrive(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut stream = open(&app).await;
    let mut config = app.config.clone();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let other = spawn(config).await.expect("a second replica starts");
    let created = app
        .client
        .post(format!("{}/api/v1/environments", other.url()))
        .bearer_auth(&app.admin_token)
        .json(&json!({ "key": "elsewhere" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status().as_u16(), 201);
    let audit = until(&mut stream, "audit", |a| a["resource_key"] == "elsewhere").await;
    assert_eq!(audit["action"], "environment.create");
    other.shutdown().await;
}

async fn needs_a_signed_in_user(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.call(Method::GET, STREAM, None, &[("authorization", "")]).await.expect(401);
    app.call(Method::GET, STREAM, None, &[("authorization", "Bearer not-a-session")]).await.expect(401);
    let key = sdk_key(&app, "production", "server").await;
    app.call(Method::GET, STREAM, None, &[("authorization", &bearer(&key))]).await.expect(403);
    // The dashboard's cookie works (what a browser's EventSource sends).
    let cookie = format!("pennon_session={}", app.admin_token);
    let mut stream = SseReader::open(&app, STREAM, &[("cookie", &cookie)]).await;
    assert!(stream.next_within(Duration::from_secs(5)).await.is_some_and(|b| b.retry.is_some()));
    assert_eq!(app.state().streams.admin.subscribers(), 1);
}
