//! Exposures and tracked metrics reach `POST /api/v1/sdk/metrics`: batched, retried, bounded, flushed on close.

use std::time::Duration;

use pennon_sdk::Context;
use serde_json::{Value, json};

use crate::{KEY, ScriptedServer, StreamPlan, builder, flag, snapshot};

fn rows(body: &Value, field: &str) -> Vec<Value> {
    let mut rows = body[field].as_array().cloned().unwrap_or_default();
    rows.sort_by_key(ToString::to_string);
    rows
}

async fn ready_client(server: &ScriptedServer, flush_interval: Duration) -> pennon_sdk::Client {
    server.plan_streams([StreamPlan::Open]);
    let client = builder(server).events(true).flush_interval(flush_interval).build().await.unwrap();
    let conn = server.connection().await;
    conn.event("put", 1, &snapshot(1, vec![flag("a", 1, "on"), flag("b", 1, "off")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    // Keep the stream open for the rest of the test.
    std::mem::forget(conn);
    client
}

#[tokio::test]
async fn exposures_and_metrics_are_sent_kept_on_failure_and_flushed_on_close() {
    let server = ScriptedServer::start().await;
    let client = ready_client(&server, Duration::from_secs(3600)).await;
    let (alice, bob) = (Context::new("alice"), Context::new("bob"));
    for _ in 0..3 {
        client.bool_value("a", &alice, false);
    }
    client.bool_value("b", &bob, false);
    client.bool_value("missing", &bob, false);
    assert_eq!(client.track("checkout_error", &alice, 1.0), 1);
    assert_eq!(client.track("latency_ms", &bob, 120.0), 1);
    assert_eq!(client.track("latency_ms", &bob, 80.0), 1);
    assert_eq!(client.track("latency_ms", &Context::new("carol"), 80.0), 0);

    server.plan_metrics_statuses([500]);
    assert!(client.flush().await.is_err());
    client.bool_value("a", &bob, false);
    client.flush().await.unwrap();

    let posts = server.seen("/sdk/metrics");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(
        rows(&posts[1].body, "exposures"),
        rows(
            &json!({ "exposures": [
                { "flag": "a", "variant": "on", "count": 4 },
                { "flag": "b", "variant": "off", "count": 1 }
            ]}),
            "exposures"
        ),
        "the failed batch was kept and merged with the next"
    );
    assert_eq!(
        rows(&posts[1].body, "metrics"),
        rows(
            &json!({ "metrics": [
                { "flag": "a", "variant": "on", "metric": "checkout_error", "count": 1, "sum": 1.0, "sum_squares": 1.0 },
                { "flag": "b", "variant": "off", "metric": "latency_ms", "count": 2, "sum": 200.0, "sum_squares": 20800.0 }
            ]}),
            "metrics"
        )
    );

    client.bool_value("b", &alice, true);
    client.close().await;
    let posts = server.seen("/sdk/metrics");
    assert_eq!(posts.len(), 3, "close() sends the rest");
    assert_eq!(posts[2].body["exposures"], json!([{ "flag": "b", "variant": "off", "count": 1 }]));
    // Nothing left: a second close sends nothing.
    client.close().await;
    assert_eq!(server.seen("/sdk/metrics").len(), 3);
}

#[tokio::test]
async fn batches_go_out_every_flush_interval_and_empty_windows_send_nothing() {
    let server = ScriptedServer::start().await;
    let client = ready_client(&server, Duration::from_millis(100)).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(server.seen("/sdk/metrics").is_empty(), "nothing to send");
    client.bool_value("a", &Context::new("u"), false);
    crate::eventually("the flush loop sends the exposure", || !server.seen("/sdk/metrics").is_empty()).await;
    assert_eq!(server.seen("/sdk/metrics")[0].body["exposures"][0]["count"], 1);
}

#[tokio::test]
async fn a_batch_the_server_rejects_is_dropped_and_a_failing_server_keeps_only_the_newest() {
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open]);
    let client = builder(&server)
        .events(true)
        .flush_interval(Duration::from_secs(3600))
        .max_pending_events(2)
        .build()
        .await
        .unwrap();
    let conn = server.connection().await;
    conn.event("put", 1, &snapshot(1, vec![flag("a", 1, "on"), flag("b", 1, "off")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    let ctx = Context::new("u");

    client.bool_value("a", &ctx, false);
    server.plan_metrics_statuses([422]);
    assert!(client.flush().await.is_err());
    // Two windows that fail, each of two rows: beyond the bound of two rows the older goes.
    server.plan_metrics_statuses([503, 503]);
    client.bool_value("a", &ctx, false);
    client.bool_value("b", &ctx, false);
    assert!(client.flush().await.is_err());
    for _ in 0..5 {
        client.bool_value("a", &ctx, false);
    }
    client.bool_value("b", &ctx, false);
    assert!(client.flush().await.is_err());
    client.flush().await.unwrap();
    let posts = server.seen("/sdk/metrics");
    assert_eq!(posts.len(), 4);
    let want = json!({ "exposures": [{ "flag": "a", "variant": "on", "count": 5 }, { "flag": "b", "variant": "off", "count": 1 }] });
    assert_eq!(rows(&posts[3].body, "exposures"), rows(&want, "exposures"));
    drop(conn);
}
