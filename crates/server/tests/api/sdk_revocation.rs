//! An SDK key that stops working ends the streams opened with it: revoked, rotated out, or past its expiry.
//! Streams of the environment's other keys stay open.

use std::time::Duration;

use pennon_server::api::common::rfc3339;
use pennon_server::store::now_millis;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp};
use crate::sse::{SseReader, bearer};

both!(a_revoked_keys_stream_ends, a_rotated_out_keys_stream_ends, an_expiring_keys_stream_ends_at_its_expiry);

const STREAM: &str = "/api/v1/sdk/stream";
const KEYS: &str = "/api/v1/environments/production/keys";
const TOGGLE: &str = "/api/v1/flags/checkout/environments/production/toggle";
/// How long a stream may take to end after its key stopped working (the issue asks for a second).
const ENDS_WITHIN: Duration = Duration::from_secs(1);

/// `production` with the flag `checkout`, and two server keys: (id, secret) each.
async fn app_with_two_keys(db: Db) -> (TestApp, (i64, String), (i64, String)) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let mut keys = Vec::new();
    for name in ["doomed", "kept"] {
        let created = app.post(KEYS, json!({ "kind": "server", "name": name })).await.expect(201).body;
        keys.push((created["id"].as_i64().expect("an id"), created["key"].as_str().expect("a secret").to_owned()));
    }
    let kept = keys.pop().expect("two keys");
    let doomed = keys.pop().expect("two keys");
    (app, doomed, kept)
}

/// A stream opened with `secret`, past its opening `put`.
async fn open(app: &TestApp, secret: &str) -> SseReader {
    let mut stream = SseReader::open(app, STREAM, &[("authorization", &bearer(secret))]).await;
    assert!(stream.next().await.retry.is_some());
    assert_eq!(stream.next_event().await.event.as_deref(), Some("put"));
    stream
}

/// The key `kept` still streams: a change arrives as a patch.
async fn still_streams(app: &TestApp, stream: &mut SseReader) {
    app.call(Method::POST, TOGGLE, None, &[]).await.expect(200);
    assert_eq!(stream.next_event().await.event.as_deref(), Some("patch"), "the other key's stream stays open");
}

async fn a_revoked_keys_stream_ends(db: Db) {
    let (app, (id, doomed), (_, kept)) = app_with_two_keys(db).await;
    let mut revoked = open(&app, &doomed).await;
    let mut other = open(&app, &kept).await;

    app.delete(&format!("{KEYS}/{id}")).await.expect(204);
    assert!(revoked.ends_within(ENDS_WITHIN).await, "the revoked key's stream is still open");
    let auth = bearer(&doomed);
    app.call(Method::GET, STREAM, None, &[("authorization", &auth)]).await.expect(401);
    still_streams(&app, &mut other).await;
}

async fn a_rotated_out_keys_stream_ends(db: Db) {
    let (app, (id, doomed), (_, kept)) = app_with_two_keys(db).await;
    let mut rotated = open(&app, &doomed).await;
    let mut other = open(&app, &kept).await;

    // Rotated without an overlap: the old key stops working now.
    let now = json!({ "old_key_expires_at": rfc3339(now_millis()) });
    let new: Value = app.post(&format!("{KEYS}/{id}/rotate"), now).await.expect(201).body;
    assert!(rotated.ends_within(ENDS_WITHIN).await, "the rotated-out key's stream is still open");
    let mut replacement = open(&app, new["key"].as_str().expect("a secret")).await;
    still_streams(&app, &mut replacement).await;
    still_streams(&app, &mut other).await;
}

async fn an_expiring_keys_stream_ends_at_its_expiry(db: Db) {
    let (app, (id, doomed), (_, kept)) = app_with_two_keys(db).await;
    // Rotated with an overlap: the old key expires three seconds from now. Nothing reloads the key table then:
    // the stream's own timer ends it.
    let expires_at = now_millis() + 3_000;
    app.post(&format!("{KEYS}/{id}/rotate"), json!({ "old_key_expires_at": rfc3339(expires_at) })).await.expect(201);
    let mut expiring = open(&app, &doomed).await;
    let mut other = open(&app, &kept).await;
    still_streams(&app, &mut expiring).await;

    let left = u64::try_from(expires_at - now_millis()).unwrap_or(0);
    assert!(expiring.ends_within(Duration::from_millis(left) + ENDS_WITHIN).await, "the expired key's stream is open");
    assert!(now_millis() >= expires_at, "the stream ended before the key expired");
    still_streams(&app, &mut other).await;
}
