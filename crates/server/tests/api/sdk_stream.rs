//! `/api/v1/sdk/snapshot` and `/api/v1/sdk/stream`: the delivery contract of `docs/sdk-protocol.md`, read
//! over real HTTP.

use std::time::{Duration, Instant};

use pennon_server::app::config::ServeConfig;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both;
use crate::helpers::{Db, TestApp, TestDatabase};
use crate::sse::{Block, SseReader, bearer, sdk_key};

both!(
    snapshot_has_an_etag_and_answers_304,
    keys_are_checked,
    put_on_connect_then_patches_and_deletes,
    last_event_id_replays_changes,
    heartbeats_arrive,
    streams_end_when_shutdown_starts,
    a_subscriber_that_stops_reading_is_dropped
);

const STREAM: &str = "/api/v1/sdk/stream";
const TOGGLE: &str = "/api/v1/flags/checkout/environments/production/toggle";

/// An app with a short heartbeat, `production`, the flag `checkout` and a server key.
async fn app_with_key(db: Db, tune: impl FnOnce(&mut ServeConfig)) -> (TestApp, String) {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.sse_heartbeat = Duration::from_millis(300);
    tune(&mut config);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let key = sdk_key(&app, "production", "server").await;
    (app, key)
}

async fn revision(app: &TestApp) -> u64 {
    app.get("/api/v1/environments/production").await.expect(200).body["revision"].as_u64().unwrap()
}

async fn toggle(app: &TestApp) -> Value {
    app.call(Method::POST, TOGGLE, None, &[]).await.expect(200).body
}

fn id(block: &Block) -> u64 {
    block.id.as_deref().expect("an id").parse().expect("a numeric id")
}

async fn snapshot_has_an_etag_and_answers_304(db: Db) {
    let (app, key) = app_with_key(db, |_| {}).await;
    let auth = bearer(&key);
    let got = app.call(Method::GET, "/api/v1/sdk/snapshot", None, &[("authorization", &auth)]).await.expect(200);
    let revision = revision(&app).await;
    assert_eq!(got.header("etag"), Some(format!("\"{revision}\"").as_str()));
    assert_eq!(got.body["environment"], "production");
    assert_eq!(got.body["revision"], revision);
    assert_eq!(got.body["flags"][0]["definition"]["key"], "checkout");
    assert_eq!(got.body["flags"][0]["config"]["environment"], "production");

    let etag = format!("\"{revision}\"");
    let same = [("authorization", auth.as_str()), ("if-none-match", etag.as_str())];
    let unchanged = app.call(Method::GET, "/api/v1/sdk/snapshot", None, &same).await.expect(304);
    assert_eq!(unchanged.header("etag"), Some(etag.as_str()));
    assert_eq!(unchanged.body, Value::Null);

    toggle(&app).await;
    let changed = app.call(Method::GET, "/api/v1/sdk/snapshot", None, &same).await.expect(200);
    assert_eq!(changed.header("etag"), Some(format!("\"{}\"", revision + 1).as_str()));
    assert_eq!(changed.body["flags"][0]["config"]["enabled"], true);
    // The bare key, without `Bearer`, is accepted too.
    app.call(Method::GET, "/api/v1/sdk/snapshot", None, &[("authorization", &key)]).await.expect(200);
}

async fn keys_are_checked(db: Db) {
    let (app, _) = app_with_key(db, |_| {}).await;
    let client = bearer(&sdk_key(&app, "production", "client").await);
    let wrong = bearer("pnn_srv_0000000000000000000000000000000000000000000");
    for (method, path) in
        [(Method::GET, "/api/v1/sdk/snapshot"), (Method::GET, STREAM), (Method::POST, "/api/v1/sdk/metrics")]
    {
        let body = (method == Method::POST).then(|| json!({}));
        let none = app.call(method.clone(), path, body.clone(), &[("authorization", "")]).await.expect(401);
        assert_eq!(none.header("content-type"), Some("application/problem+json"));
        app.call(method.clone(), path, body.clone(), &[("authorization", &wrong)]).await.expect(401);
        // The admin's session is not an SDK key.
        app.call(method.clone(), path, body.clone(), &[]).await.expect(401);
        app.call(method, path, body, &[("authorization", &client)]).await.expect(403);
    }
}

async fn put_on_connect_then_patches_and_deletes(db: Db) {
    let (app, key) = app_with_key(db, |_| {}).await;
    let auth = bearer(&key);
    let mut stream = SseReader::open(&app, STREAM, &[("authorization", &auth)]).await;
    let opening = stream.next().await;
    assert_eq!(opening.retry, Some(3000), "the stream opens with retry: {opening:?}");
    let put = stream.next_event().await;
    assert_eq!(put.event.as_deref(), Some("put"));
    let at = revision(&app).await;
    assert_eq!(id(&put), at);
    let snapshot = put.json();
    assert_eq!((snapshot["environment"].clone(), snapshot["revision"].clone()), (json!("production"), json!(at)));
    assert_eq!(snapshot["flags"][0]["definition"]["key"], "checkout");

    let toggled = toggle(&app).await;
    let patch = stream.next_event().await;
    assert_eq!(patch.event.as_deref(), Some("patch"));
    assert_eq!(id(&patch), at + 1);
    let data = patch.json();
    assert_eq!(data["revision"], at + 1);
    assert_eq!((data["kind"].as_str(), data["key"].as_str()), (Some("flag"), Some("checkout")));
    assert_eq!(data["version"], toggled["version"]);
    assert_eq!(data["object"]["config"]["enabled"], true);
    assert_eq!(data["object"]["definition"]["key"], "checkout");

    // A segment reaches every environment's stream.
    let segment = json!({ "key": "staff", "conditions": [], "included": ["ann"] });
    app.post("/api/v1/segments", segment).await.expect(201);
    let patch = stream.next_event().await;
    assert_eq!((patch.event.as_deref(), id(&patch)), (Some("patch"), at + 2));
    assert_eq!((patch.json()["kind"].as_str(), patch.json()["version"].as_u64()), (Some("segment"), Some(1)));

    app.post("/api/v1/flags/checkout/archive", json!({})).await.expect(200);
    let delete = stream.next_event().await;
    assert_eq!((delete.event.as_deref(), id(&delete)), (Some("delete"), at + 3));
    assert_eq!(delete.json(), json!({ "revision": at + 3, "kind": "flag", "key": "checkout" }));
}

/// Reads until `count` events (not heartbeats) came, and checks none is a `put`.
async fn patches(stream: &mut SseReader, count: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    while ids.len() < count {
        let block = stream.next_event().await;
        assert_eq!(block.event.as_deref(), Some("patch"), "only patches are replayed: {block:?}");
        ids.push(id(&block));
    }
    ids
}

async fn last_event_id_replays_changes(db: Db) {
    let (app, key) = app_with_key(db, |_| {}).await;
    let auth = bearer(&key);
    let held = revision(&app).await;
    for _ in 0..3 {
        toggle(&app).await;
    }
    // Nobody listened: the replay comes from the change log.
    let last = held.to_string();
    let mut stream = SseReader::open(&app, STREAM, &[("authorization", &auth), ("last-event-id", &last)]).await;
    assert!(stream.next().await.retry.is_some());
    assert_eq!(patches(&mut stream, 3).await, vec![held + 1, held + 2, held + 3]);

    // While that one listens, the hub keeps what it sent: a second replay comes from memory.
    for _ in 0..2 {
        toggle(&app).await;
    }
    assert_eq!(patches(&mut stream, 2).await, vec![held + 4, held + 5]);
    let from = (held + 2).to_string();
    let mut again = SseReader::open(&app, STREAM, &[("authorization", &auth), ("last-event-id", &from)]).await;
    assert!(again.next().await.retry.is_some());
    assert_eq!(patches(&mut again, 3).await, vec![held + 3, held + 4, held + 5]);
    drop((stream, again));

    // The current revision: nothing but heartbeats.
    let current = (held + 5).to_string();
    let mut idle = SseReader::open(&app, STREAM, &[("authorization", &auth), ("last-event-id", &current)]).await;
    assert!(idle.next().await.retry.is_some());
    for _ in 0..3 {
        let block = idle.next_within(Duration::from_secs(5)).await.expect("a heartbeat");
        assert!(block.is_heartbeat(), "only heartbeats: {block:?}");
    }
    drop(idle);

    // Beyond what the change log still holds, and nobody listening: a fresh put.
    toggle(&app).await;
    let pruned = app.state().store.prune_change_log(1).await.expect("prune");
    assert!(pruned > 0);
    let mut fresh = SseReader::open(&app, STREAM, &[("authorization", &auth), ("last-event-id", &last)]).await;
    assert!(fresh.next().await.retry.is_some());
    let put = fresh.next_event().await;
    assert_eq!((put.event.as_deref(), id(&put)), (Some("put"), held + 6));
    // An id that is not a revision, or one from the future, gets a put too.
    for odd in ["yesterday", "999999"] {
        let mut stream = SseReader::open(&app, STREAM, &[("authorization", &auth), ("last-event-id", odd)]).await;
        stream.next().await;
        assert_eq!(stream.next_event().await.event.as_deref(), Some("put"));
    }
}

async fn heartbeats_arrive(db: Db) {
    let (app, key) = app_with_key(db, |_| {}).await;
    let auth = bearer(&key);
    let mut stream = SseReader::open(&app, STREAM, &[("authorization", &auth)]).await;
    stream.next().await;
    assert_eq!(stream.next().await.event.as_deref(), Some("put"));
    let started = Instant::now();
    let block = stream.next_within(Duration::from_secs(3)).await.expect("a heartbeat within 3 s");
    assert!(block.is_heartbeat(), "{block:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "the heartbeat interval is 300 ms");
    assert_eq!(app.state().streams.sdk.subscribers(), 1);
}

async fn streams_end_when_shutdown_starts(db: Db) {
    let (mut app, key) = app_with_key(db, |_| {}).await;
    let auth = bearer(&key);
    let mut stream = SseReader::open(&app, STREAM, &[("authorization", &auth)]).await;
    stream.next().await;
    stream.next_event().await;
    let grace = app.config.shutdown_grace;
    let started = Instant::now();
    app.server.take().expect("running").shutdown().await;
    assert!(started.elapsed() < grace / 2, "an open stream held shutdown up for {:?}", started.elapsed());
    assert!(stream.ends_within(Duration::from_secs(2)).await, "the stream ended");
}

/// Waits until the server counts `count` SDK subscribers.
async fn subscribers_become(app: &TestApp, count: usize, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if app.state().streams.sdk.subscribers() == count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn a_subscriber_that_stops_reading_is_dropped(db: Db) {
    let (app, key) = app_with_key(db, |config| config.write_stall_timeout = Duration::from_secs(1)).await;
    let auth = bearer(&key);
    let mut reader = SseReader::open(&app, STREAM, &[("authorization", &auth)]).await;
    reader.next().await;
    assert_eq!(reader.next_event().await.event.as_deref(), Some("put"));

    // A client that never reads, with a small receive window so that the buffers fill soon.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer");
    let mut stuck = socket.connect(app.server.as_ref().expect("running").addr).await.expect("connect");
    let request = format!("GET {STREAM} HTTP/1.1\r\nhost: pennon\r\nauthorization: {auth}\r\n\r\n");
    stuck.write_all(request.as_bytes()).await.expect("request sent");
    assert!(subscribers_become(&app, 2, Duration::from_secs(5)).await, "both subscribed");

    // Large changes (about 300 KB each) until the stuck client's buffers are full (about 12 on loopback).
    let keys: Vec<String> = (0..20_000).map(|i| format!("user-{i:06}")).collect();
    let targets = "/api/v1/flags/checkout/environments/production/targets";
    for round in 0..40 {
        let variant = if round % 2 == 0 { "on" } else { "off" };
        app.put(targets, json!({ "targets": [{ "variant": variant, "keys": keys }] })).await.expect(200);
        let patch = reader.next_event().await;
        assert_eq!(patch.event.as_deref(), Some("patch"), "the reading subscriber keeps receiving");
        assert_eq!(patch.json()["object"]["config"]["targets"][0]["variant"], variant);
        if app.state().streams.sdk.subscribers() == 1 {
            break;
        }
    }
    assert!(subscribers_become(&app, 1, Duration::from_secs(10)).await, "the stuck subscriber was dropped");
    toggle(&app).await;
    assert_eq!(reader.next_event().await.event.as_deref(), Some("patch"), "the other one still receives");

    // The server closed the stuck connection: reading it now ends (after what was buffered).
    let mut sink = vec![0u8; 1 << 16];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stuck.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stuck connection was closed by the server");
}
