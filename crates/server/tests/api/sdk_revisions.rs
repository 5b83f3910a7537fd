//! Revisions only move forward for an environment key, and a client is never sent an older state than it
//! holds: an environment deleted and created again continues after the revision it reached, and a server
//! asked for a revision it has not reached catches up first (or answers 503 with `Retry-After`).

use std::time::Duration;

use pennon_server::app::config::ServeConfig;
use pennon_server::store::Actor;
use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Db, TestApp, TestDatabase};
use crate::proxy::DbProxy;
use crate::sse::{SseReader, bearer, sdk_key};

both!(a_recreated_environment_continues_after_its_old_revisions);

const STREAM: &str = "/api/v1/sdk/stream";
const SNAPSHOT: &str = "/api/v1/sdk/snapshot";

async fn revision(app: &TestApp) -> u64 {
    app.get("/api/v1/environments/production").await.expect(200).body["revision"].as_u64().unwrap()
}

async fn a_recreated_environment_continues_after_its_old_revisions(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let first = revision(&app).await;
    app.post("/api/v1/flags", json!({ "key": "banner", "kind": "boolean" })).await.expect(201);
    app.call(Method::POST, "/api/v1/flags/checkout/environments/production/toggle", None, &[]).await.expect(200);
    let last = revision(&app).await;

    app.call(Method::DELETE, "/api/v1/environments/production?force=true", None, &[]).await.expect(204);
    app.environment("production").await;
    let again = revision(&app).await;
    assert!(again > last, "the new environment starts at {again}, the old one reached {last}");
    let auth = bearer(&sdk_key(&app, "production", "server").await);

    // Any ETag of the old environment gets the new state.
    for held in [first, last] {
        let etag = format!("\"{held}\"");
        let got = app.call(Method::GET, SNAPSHOT, None, &[("authorization", &auth), ("if-none-match", &etag)]).await;
        let got = got.expect(200);
        assert_eq!(got.body["revision"], again);
        assert_eq!(got.body["flags"].as_array().map(Vec::len), Some(2), "both flags: {}", got.body);
        assert_eq!(got.body["flags"][1]["config"]["enabled"], false, "checkout as the new environment has it");
    }
    // Any event id of the old environment gets a put of the new state.
    for held in [first, last] {
        let id = held.to_string();
        let mut stream = SseReader::open(&app, STREAM, &[("authorization", &auth), ("last-event-id", &id)]).await;
        assert!(stream.next().await.retry.is_some());
        let put = stream.next_event().await;
        assert_eq!(put.event.as_deref(), Some("put"), "after Last-Event-ID {held}: {put:?}");
        assert_eq!(put.json()["revision"], again);
    }
}

/// A client that holds a revision the server has not reached (as if another replica served it): the server
/// catches up from the database before answering, and sends nothing older. SQLite: nothing but the request
/// can tell this server that the database moved on (PostgreSQL's notifications would).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_behind_the_client_catches_up_first() {
    let database = TestDatabase::new(Db::Sqlite).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.refresh_interval = Duration::from_hours(1);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let auth = bearer(&sdk_key(&app, "production", "server").await);
    let served = app.state().snapshots.get("production").unwrap().revision();

    // A write the server's snapshots do not hear of.
    let segment = serde_json::from_value(json!({ "key": "staff", "included": ["ann"] })).unwrap();
    let (_, revisions) = app.state().store.create_segment(&segment, &Actor::system("test")).await.unwrap();
    let ahead = revisions[0].1;
    assert!(ahead > served);
    assert_eq!(app.state().snapshots.get("production").unwrap().revision(), served, "the server is behind");

    let etag = format!("\"{ahead}\"");
    let polled = app.call(Method::GET, SNAPSHOT, None, &[("authorization", &auth), ("if-none-match", &etag)]).await;
    polled.expect(304);
    assert_eq!(app.state().snapshots.get("production").unwrap().revision(), ahead, "caught up");

    let segment = serde_json::from_value(json!({ "key": "admins", "included": ["bob"] })).unwrap();
    let (_, revisions) = app.state().store.create_segment(&segment, &Actor::system("test")).await.unwrap();
    let id = revisions[0].1.to_string();
    let mut stream = SseReader::open(&app, STREAM, &[("authorization", &auth), ("last-event-id", &id)]).await;
    assert!(stream.next().await.retry.is_some());
    if let Some(block) = stream.next_within(Duration::from_millis(500)).await {
        assert!(block.is_heartbeat(), "nothing but heartbeats for a client that is current: {block:?}");
    }
}

/// A replica cut off from the database cannot catch up: a client ahead of it is told to come back later,
/// and is not sent the replica's older state. Once the database is back, the replica serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_catch_up_answers_503_with_retry_after() {
    let database = TestDatabase::new(Db::Postgres).await;
    let (proxy, url) = DbProxy::in_front_of(&database.url).await;
    let mut config = ServeConfig::for_database(&url);
    config.refresh_interval = Duration::from_hours(1);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let auth = bearer(&sdk_key(&app, "production", "server").await);
    let other = pennon_server::app::startup::spawn(ServeConfig::for_database(&app.database.url)).await.unwrap();

    proxy.cut().await;
    let toggled = reqwest::Client::new()
        .post(format!("{}/api/v1/flags/checkout/environments/production/toggle", other.url()))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(toggled.status(), 200);
    let ahead = other.state.snapshots.get("production").unwrap().revision();
    assert!(app.state().snapshots.get("production").unwrap().revision() < ahead);

    let etag = format!("\"{ahead}\"");
    let id = ahead.to_string();
    for (path, header) in [(SNAPSHOT, ("if-none-match", etag.as_str())), (STREAM, ("last-event-id", id.as_str()))] {
        let reply = app.call(Method::GET, path, None, &[("authorization", &auth), header]).await.expect(503);
        assert_eq!(reply.header("retry-after"), Some("1"), "{path}");
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    }

    proxy.restore().await;
    let started = std::time::Instant::now();
    loop {
        let polled = app.call(Method::GET, SNAPSHOT, None, &[("authorization", &auth), ("if-none-match", &etag)]).await;
        if polled.status == 304 {
            break;
        }
        // Until the replica reaches the database again, it keeps saying so, and never sends its older state.
        polled.expect(503);
        assert!(started.elapsed() < Duration::from_secs(15), "the replica did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    other.shutdown().await;
}
