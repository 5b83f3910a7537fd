//! Falling back to polling, polling through errors, and refused keys.

use std::time::Duration;

use pennon_sdk::{Context, ReadyError, Status};

use crate::{ScriptedServer, StreamPlan, builder, eventually, flag, snapshot};

#[tokio::test]
async fn a_refused_stream_falls_back_to_polling_with_if_none_match() {
    for refusal in
        [StreamPlan::Status(404), StreamPlan::Status(405), StreamPlan::Status(501), StreamPlan::NotEventStream]
    {
        let server = ScriptedServer::start().await;
        server.plan_streams([refusal.clone()]);
        server.set_snapshot(snapshot(3, vec![flag("a", 1, "off")]));
        let client = builder(&server).build().await.unwrap();
        client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
        let ctx = Context::new("u");
        assert!(!client.bool_value("a", &ctx, true), "{refusal:?}");

        server.set_snapshot(snapshot(4, vec![flag("a", 2, "on")]));
        eventually("the next poll brings the change", || client.bool_value("a", &ctx, false)).await;
        eventually("a poll that finds nothing new", || {
            server.seen("/sdk/snapshot").iter().any(|s| s.if_none_match.as_deref() == Some("\"4\""))
        })
        .await;
        let polls = server.seen("/sdk/snapshot");
        assert_eq!(polls[0].if_none_match, None);
        assert_eq!(server.seen("/sdk/stream").len(), 1, "{refusal:?}: the stream is not retried right away");
        assert_eq!(client.revision(), 4);
        client.close().await;
    }
}

#[tokio::test]
async fn polling_keeps_trying_through_server_errors() {
    let server = ScriptedServer::start().await;
    server.plan_snapshot_statuses([500, 503, 429]);
    server.set_snapshot(snapshot(2, vec![flag("a", 1, "on")]));
    let client = builder(&server).stream(false).build().await.unwrap();
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    assert!(client.bool_value("a", &Context::new("u"), false));
    assert!(server.seen("/sdk/snapshot").len() >= 4);
    assert!(server.seen("/sdk/stream").is_empty(), "streaming is off");
}

#[tokio::test]
async fn repeated_stream_failures_fall_back_to_polling() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Status(500), StreamPlan::Status(503), StreamPlan::Status(500)]);
    server.set_snapshot(snapshot(7, vec![flag("a", 1, "on")]));
    let client = builder(&server).stream_failures_before_polling(3).build().await.unwrap();
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    assert_eq!(client.revision(), 7);
    // The stream keeps being tried while the client polls.
    assert!(server.seen("/sdk/stream").len() >= 3);
    assert!(!server.seen("/sdk/snapshot").is_empty());
}

#[tokio::test]
async fn a_refused_key_stops_the_client_which_keeps_serving_its_flags() {
    for code in [401, 403] {
        let server = ScriptedServer::start().await;
        server.plan_streams([StreamPlan::Status(code)]);
        let bootstrap = serde_json::from_value(snapshot(1, vec![flag("a", 1, "on")])).unwrap();
        let client = builder(&server).bootstrap(bootstrap).events(true).build().await.unwrap();
        let ready = client.wait_until_ready(Duration::from_secs(5)).await;
        assert!(matches!(&ready, Err(ReadyError::Failed(e)) if e.contains(&code.to_string())), "{ready:?}");
        assert!(matches!(client.status(), Status::Failed { .. }));
        assert!(client.bool_value("a", &Context::new("u"), false), "the bootstrap is still served");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.seen("/sdk/stream").len(), 1, "no retries after {code}");
        assert!(server.seen("/sdk/snapshot").is_empty());
        assert!(client.flush().await.is_err(), "metrics are not sent with a refused key");
        assert!(server.seen("/sdk/metrics").is_empty());
    }
}

#[tokio::test]
async fn a_refused_key_while_polling_stops_too() {
    let server = ScriptedServer::start().await;
    server.plan_snapshot_statuses([500, 401]);
    let client = builder(&server).stream(false).build().await.unwrap();
    let ready = client.wait_until_ready(Duration::from_secs(5)).await;
    assert!(matches!(ready, Err(ReadyError::Failed(_))), "{ready:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.seen("/sdk/snapshot").len(), 2);
}
