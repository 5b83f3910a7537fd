//! Events on the stream: put, patch, delete, duplicates and out-of-order revisions, malformed and truncated
//! events, resuming with Last-Event-ID, dead connections, server errors and a refused key after a reconnect.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pennon_sdk::{Context, ErrorCode, Source, Status};

use crate::{KEY, ScriptedServer, StreamPlan, builder, delete, eventually, flag, patch, snapshot};

#[tokio::test]
async fn put_patch_and_delete_apply_in_revision_order() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open]);
    let client = builder(&server).build().await.unwrap();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let sink = changes.clone();
    client.on_change(move |c| sink.lock().unwrap().push((c.key.clone(), c.new_version, c.revision)));
    let ctx = Context::new("user-1");
    assert_eq!(client.bool_detail("a", &ctx, false).error(), Some(ErrorCode::FlagNotFound));

    let conn = server.connection().await;
    conn.send("retry: 20\n: hello\n\n");
    conn.event("put", 5, &snapshot(5, vec![flag("a", 1, "on"), flag("b", 1, "off")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    assert!(client.bool_value("a", &ctx, false));
    assert_eq!((client.revision(), client.source()), (5, Source::Server));

    conn.event("patch", 6, &patch(6, &flag("a", 2, "off")));
    eventually("the patch applies", || !client.bool_value("a", &ctx, true)).await;
    // A duplicate of the same revision changes nothing; an older revision is ignored.
    conn.event("patch", 6, &patch(6, &flag("a", 2, "off")));
    conn.event("patch", 4, &patch(4, &flag("a", 9, "on")));
    // One change touching two flags: both events carry revision 7.
    conn.event("patch", 7, &patch(7, &flag("b", 2, "on")));
    conn.event("delete", 7, &delete(7, "a"));
    eventually("the delete applies", || client.bool_detail("a", &ctx, true).error() == Some(ErrorCode::FlagNotFound))
        .await;
    assert!(client.bool_value("b", &ctx, false));
    conn.event("delete", 3, &delete(3, "b"));
    conn.event("patch", 8, &patch(8, &flag("c", 1, "on")));
    eventually("the last patch applies", || client.revision() == 8).await;
    assert!(client.bool_value("b", &ctx, false), "an older delete is ignored");

    let changes = changes.lock().unwrap().clone();
    let want = [
        ("a".into(), Some(1), 5),
        ("b".into(), Some(1), 5),
        ("a".into(), Some(2), 6),
        ("b".into(), Some(2), 7),
        ("a".into(), None, 7),
        ("c".into(), Some(1), 8),
    ];
    assert_eq!(changes, want);
    let stream = &server.seen("/sdk/stream")[0];
    assert_eq!(stream.authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(stream.last_event_id, None);
}

#[tokio::test]
async fn malformed_and_truncated_events_keep_the_last_good_flags_and_the_stream_resumes() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open, StreamPlan::Open]);
    let client = builder(&server).build().await.unwrap();
    let ctx = Context::new("user-1");
    let conn = server.connection().await;
    conn.event("put", 5, &snapshot(5, vec![flag("a", 1, "on")]));
    eventually("the put applies", || client.revision() == 5).await;

    conn.send("event: put\nid: 6\ndata: {not json\n\n");
    conn.send("event: patch\nid: 6\ndata: {\"revision\": 6, \"kind\": \"flag\", \"key\": \"a\", \"object\": {\"definition\": 1}}\n\n");
    let wrong_key = patch(6, &flag("a", 2, "off")).to_string().replace("\"key\":\"a\"", "\"key\":\"z\"");
    conn.send(&format!("event: patch\nid: 6\ndata: {wrong_key}\n\n"));
    conn.send("event: delete\nid: 6\ndata: {\"revision\": \"six\"}\n\n");
    conn.send("event: surprise\ndata: {}\n\n");
    // A patch cut off by the connection closing before its blank line must not apply.
    conn.send(&format!("event: patch\nid: 6\ndata: {}\n", patch(6, &flag("a", 2, "off"))));
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(conn);

    let resumed = server.connection().await;
    assert_eq!(resumed.last_event_id.as_deref(), Some("5"));
    assert!(client.bool_value("a", &ctx, false), "the last good flags are still served");
    assert_eq!(client.revision(), 5);
    resumed.event("patch", 6, &patch(6, &flag("a", 2, "off")));
    eventually("the replayed patch applies", || !client.bool_value("a", &ctx, true)).await;
    assert_eq!(client.status(), Status::Ready);
}

#[tokio::test]
async fn a_silent_connection_is_replaced_but_heartbeats_keep_it() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open, StreamPlan::Open]);
    let client = builder(&server).heartbeat_timeout(Duration::from_secs(1)).build().await.unwrap();
    let conn = server.connection().await;
    conn.event("put", 3, &snapshot(3, vec![flag("a", 1, "on")]));
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        conn.send(": heartbeat\n");
    }
    assert_eq!(server.seen("/sdk/stream").len(), 1, "heartbeats keep the connection");
    // Silence: the client gives up on this connection and resumes on a new one.
    let second = server.connection().await;
    assert_eq!(second.last_event_id.as_deref(), Some("3"));
    eventually("the first connection is dropped", || !conn.is_open()).await;
    assert!(client.bool_value("a", &Context::new("u"), false));
    drop(client);
}

#[tokio::test]
async fn a_server_error_is_retried_with_backoff() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Status(500), StreamPlan::Status(502), StreamPlan::Open]);
    let client = builder(&server).build().await.unwrap();
    let conn = server.connection().await;
    conn.event("put", 9, &snapshot(9, vec![flag("a", 1, "on")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    assert_eq!(server.seen("/sdk/stream").len(), 3);
    assert!(server.seen("/sdk/snapshot").is_empty(), "two failures do not yet mean polling");
}

/// A client that held flags: the connection breaks in the middle of an event, the server then answers 500
/// and 503, then 200. The last good flags are served throughout, and the client resumes from its revision.
#[tokio::test]
async fn a_broken_connection_then_server_errors_keep_the_last_good_flags_until_the_stream_resumes() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open, StreamPlan::Status(500), StreamPlan::Status(503), StreamPlan::Open]);
    // Three failures in a row (the break, 500, 503) would mean polling for a while by default.
    let client = builder(&server).stream_failures_before_polling(5).build().await.unwrap();
    let ctx = Context::new("user-1");
    let conn = server.connection().await;
    conn.event("put", 5, &snapshot(5, vec![flag("a", 1, "on")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();

    let cut = format!("event: patch\nid: 6\ndata: {}", patch(6, &flag("a", 2, "off")));
    conn.send(&cut[..cut.len() / 2]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(conn);
    let resumed = server.connection().await;
    assert_eq!(server.seen("/sdk/stream").len(), 4, "two failed attempts before this one");
    assert_eq!(resumed.last_event_id.as_deref(), Some("5"));
    assert!(client.bool_value("a", &ctx, false), "half an event never applies");
    assert_eq!((client.revision(), client.source()), (5, Source::Server));

    resumed.event("patch", 6, &patch(6, &flag("a", 2, "off")));
    eventually("the replayed patch applies", || !client.bool_value("a", &ctx, true)).await;
    assert_eq!(client.status(), Status::Ready);
}

/// The key is revoked while the client runs: its reconnection is refused with 401, it stops trying and goes
/// on serving the flags it had from the server.
#[tokio::test]
async fn a_key_refused_after_a_reconnect_stops_the_client_with_its_last_flags() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open, StreamPlan::Status(401)]);
    let client = builder(&server).build().await.unwrap();
    let conn = server.connection().await;
    conn.event("put", 4, &snapshot(4, vec![flag("a", 1, "on")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    drop(conn);
    eventually("the client stops", || matches!(client.status(), Status::Failed { .. })).await;
    let ctx = Context::new("user-1");
    assert!(client.bool_value("a", &ctx, false));
    assert_eq!((client.revision(), client.source()), (4, Source::Server));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.seen("/sdk/stream").len(), 2, "no attempt after the 401");
    assert!(server.seen("/sdk/snapshot").is_empty(), "no polling either");
}

/// Revisions only move forward: a `put` older than the flags held (from a replica that lags behind the one
/// heard before) is ignored, and so is an older snapshot answered to a poll. A newer one applies.
#[tokio::test]
async fn an_older_put_or_polled_snapshot_is_ignored() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open]);
    let client = builder(&server).build().await.unwrap();
    let ctx = Context::new("user-1");
    let conn = server.connection().await;
    conn.event("put", 5, &snapshot(5, vec![flag("a", 2, "on")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();

    conn.event("put", 3, &snapshot(3, vec![flag("a", 1, "off")]));
    // A marker after it: once it is applied, the older put was read (and ignored).
    conn.event("patch", 5, &patch(5, &flag("m", 1, "on")));
    eventually("the marker applies", || client.bool_value("m", &ctx, false)).await;
    assert_eq!(client.revision(), 5);
    assert!(client.bool_value("a", &ctx, false), "the older put was applied");

    conn.event("put", 6, &snapshot(6, vec![flag("a", 3, "off")]));
    eventually("a newer put applies", || client.revision() == 6).await;
    assert!(!client.bool_value("a", &ctx, true));
    client.close().await;

    // Polling: a lagging server answers with an older snapshot.
    let server = ScriptedServer::start().await;
    server.set_snapshot(snapshot(5, vec![flag("a", 2, "on")]));
    let client = builder(&server).stream(false).build().await.unwrap();
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    server.set_snapshot(snapshot(3, vec![flag("a", 1, "off")]));
    let polls = server.seen("/sdk/snapshot").len();
    eventually("two more polls", || server.seen("/sdk/snapshot").len() >= polls + 2).await;
    assert_eq!(client.revision(), 5);
    assert!(client.bool_value("a", &ctx, false), "the older snapshot was applied");
    assert!(server.seen("/sdk/snapshot").iter().skip(polls).all(|s| s.if_none_match.as_deref() == Some("\"5\"")));
}
