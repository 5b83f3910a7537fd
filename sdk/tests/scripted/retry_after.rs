//! `Retry-After` on 429 and 503: whatever the client tries next (a stream, a poll, a metrics batch) waits at
//! least as long as the server asked, although its own delays here are a few milliseconds.

use std::time::{Duration, SystemTime};

use pennon_sdk::Context;

use crate::server::Seen;
use crate::{ScriptedServer, StreamPlan, builder, eventually, flag, snapshot};

const ONE_SECOND: Duration = Duration::from_secs(1);

/// The time between consecutive requests.
fn gaps(seen: &[Seen]) -> Vec<Duration> {
    seen.windows(2).map(|pair| pair[1].at - pair[0].at).collect()
}

#[tokio::test]
async fn the_stream_is_retried_no_sooner_than_retry_after() {
    for status in [429, 503] {
        let server = ScriptedServer::start().await;
        server.plan_streams([StreamPlan::RetryAfter(status, "1".into()), StreamPlan::Open]);
        let client = builder(&server).build().await.unwrap();
        let conn = server.connection().await;
        conn.event("put", 1, &snapshot(1, vec![flag("a", 1, "on")]));
        client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
        let gaps = gaps(&server.seen("/sdk/stream"));
        assert_eq!(gaps.len(), 1, "{status}");
        assert!(gaps[0] >= ONE_SECOND, "{status}: retried after {:?}", gaps[0]);
        assert!(server.seen("/sdk/snapshot").is_empty(), "{status}");
    }
}

#[tokio::test]
async fn retry_after_may_be_a_date() {
    let server = ScriptedServer::start().await;
    // An HTTP date has whole seconds, so three seconds from now is at least two from when it was made: more
    // than one second from the refusal whatever the setup in between took.
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    server.plan_streams([StreamPlan::RetryAfter(503, date), StreamPlan::Open]);
    let client = builder(&server).build().await.unwrap();
    let conn = server.connection().await;
    conn.event("put", 1, &snapshot(1, vec![flag("a", 1, "on")]));
    client.wait_until_ready(Duration::from_secs(10)).await.unwrap();
    let gaps = gaps(&server.seen("/sdk/stream"));
    assert!(gaps[0] >= ONE_SECOND, "retried after {:?}", gaps[0]);
}

/// After repeated refusals the client polls too, between stream attempts: no attempt of either kind comes
/// before the time the last refusal asked for.
#[tokio::test]
async fn falling_back_to_polling_waits_as_well() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::RetryAfter(429, "1".into()), StreamPlan::RetryAfter(429, "1".into())]);
    server.set_snapshot(snapshot(3, vec![flag("a", 1, "on")]));
    let client = builder(&server).stream_failures_before_polling(2).build().await.unwrap();
    client.wait_until_ready(Duration::from_secs(10)).await.unwrap();
    let streams = server.seen("/sdk/stream");
    let polls = server.seen("/sdk/snapshot");
    assert!(streams.len() >= 3, "the stream is tried again: {} attempts", streams.len());
    let gaps = gaps(&streams);
    assert!(gaps[0] >= ONE_SECOND && gaps[1] >= ONE_SECOND, "{gaps:?}");
    let first_poll = polls[0].at - streams[1].at;
    assert!(first_poll >= ONE_SECOND, "polled {first_poll:?} after the refusal");
}

#[tokio::test]
async fn polling_waits_as_long_as_retry_after_asks() {
    let server = ScriptedServer::start().await;
    server.plan_snapshot_retry_after(503, "1");
    server.set_snapshot(snapshot(2, vec![flag("a", 1, "on")]));
    let client = builder(&server).stream(false).build().await.unwrap();
    client.wait_until_ready(Duration::from_secs(10)).await.unwrap();
    let polls = server.seen("/sdk/snapshot");
    assert!(gaps(&polls)[0] >= ONE_SECOND, "polled again after {:?}", gaps(&polls)[0]);
    // Afterwards the usual interval (100 ms here) applies again.
    eventually("a few more polls", || server.seen("/sdk/snapshot").len() >= 4).await;
    assert!(client.bool_value("a", &Context::new("u"), false));
}

/// Metrics refused with `Retry-After` are kept, and not sent again before the time is up: neither by the
/// periodic flush nor by an explicit one.
#[tokio::test]
async fn metrics_wait_as_long_as_retry_after_asks_and_are_kept() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open]);
    let client = builder(&server).events(true).flush_interval(Duration::from_millis(50)).build().await.unwrap();
    let conn = server.connection().await;
    conn.event("put", 1, &snapshot(1, vec![flag("a", 1, "on")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    // The periodic flush: refused once, sent again no sooner than a second later.
    server.plan_metrics_retry_after(429, "1");
    let ctx = Context::new("u");
    assert!(client.bool_value("a", &ctx, false));
    eventually("the batch is sent again", || server.seen("/sdk/metrics").len() >= 2).await;
    let sent = server.seen("/sdk/metrics");
    assert!(sent[1].at - sent[0].at >= ONE_SECOND, "sent again after {:?}", sent[1].at - sent[0].at);
    client.close().await;

    // Explicit flushes.
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open]);
    let client = builder(&server).events(true).flush_interval(Duration::from_secs(3600)).build().await.unwrap();
    let conn = server.connection().await;
    conn.event("put", 1, &snapshot(1, vec![flag("a", 1, "on")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    server.plan_metrics_retry_after(503, "1");
    for _ in 0..3 {
        assert!(client.bool_value("a", &ctx, false));
    }
    assert!(client.flush().await.is_err(), "refused");
    assert!(client.flush().await.is_err(), "too early");
    assert_eq!(server.seen("/sdk/metrics").len(), 1, "the early flush sent nothing");
    while client.flush().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = server.seen("/sdk/metrics");
    assert_eq!(sent.len(), 2);
    assert!(sent[1].at - sent[0].at >= ONE_SECOND, "sent again after {:?}", sent[1].at - sent[0].at);
    let exposures = sent[1].body["exposures"].as_array().cloned().unwrap_or_default();
    let counted: u64 = exposures.iter().filter_map(|row| row["count"].as_u64()).sum();
    assert_eq!(counted, 3, "every exposure is sent once the wait is over: {}", sent[1].body);
    drop(conn);
}
