//! Starting and running while the server is away: prompt start, defaults, the cache file across a restart,
//! bootstrap files and offline mode.

use std::time::{Duration, Instant};

use pennon_sdk::{BuildError, Client, Context, ErrorCode, ReadyError, Source, Status};

use crate::{KEY, ScriptedServer, StreamPlan, builder, eventually, flag, snapshot};

/// A URL where nothing listens.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn build_returns_at_once_without_a_server_and_defaults_are_served() {
    let started = Instant::now();
    let client = Client::builder(dead_url().await, KEY)
        .reconnect_delays(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "build took {:?}", started.elapsed());
    let detail = client.bool_detail("a", &Context::new("u"), true);
    assert!(detail.value);
    assert_eq!(detail.error(), Some(ErrorCode::FlagNotFound));
    assert_eq!(client.wait_until_ready(Duration::from_millis(300)).await, Err(ReadyError::Timeout));
    assert!(matches!(client.status(), Status::Interrupted { .. }), "{:?}", client.status());
    client.close().await;
    assert_eq!(client.status(), Status::Closed);
}

#[tokio::test]
async fn the_cache_file_serves_the_last_flags_after_a_restart_during_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("pennon-cache.json");
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open]);
    let client = builder(&server).cache_file(&cache).build().await.unwrap();
    let conn = server.connection().await;
    conn.event("put", 12, &snapshot(12, vec![flag("a", 3, "on"), flag("b", 1, "off")]));
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    eventually("the cache file is written", || std::fs::read(&cache).is_ok_and(|b| b.windows(2).any(|w| w == b"12")))
        .await;
    client.close().await;
    drop(server);

    // The server is gone; a new process starts with the cache file.
    let restarted = Client::builder(dead_url().await, KEY)
        .cache_file(&cache)
        .reconnect_delays(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    assert_eq!(restarted.source(), Source::Cache);
    assert_eq!(restarted.revision(), 12);
    let ctx = Context::new("u");
    assert!(restarted.bool_value("a", &ctx, false));
    assert!(!restarted.bool_value("b", &ctx, true));
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "only the cache file, no temporary files");
}

#[tokio::test]
async fn a_resumed_cache_does_not_claim_a_revision_but_gets_a_fresh_put() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.json");
    std::fs::write(&cache, snapshot(30, vec![flag("a", 1, "on")]).to_string()).unwrap();
    let server = ScriptedServer::start().await;
    server.plan_streams([StreamPlan::Open]);
    let client = builder(&server).cache_file(&cache).build().await.unwrap();
    let conn = server.connection().await;
    assert_eq!(conn.last_event_id, None, "Last-Event-ID only for revisions from the server in this run");
    conn.event("put", 31, &snapshot(31, vec![flag("a", 2, "off")]));
    eventually("the put replaces the cached flags", || !client.bool_value("a", &Context::new("u"), true)).await;
    assert_eq!(client.source(), Source::Server);
}

#[tokio::test]
async fn bootstrap_files_and_offline_mode() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flags.json");
    std::fs::write(&file, snapshot(4, vec![flag("a", 1, "on")]).to_string()).unwrap();
    let offline =
        Client::builder("http://unused.invalid", KEY).bootstrap_file(&file).offline(true).build().await.unwrap();
    assert_eq!(offline.status(), Status::Offline);
    offline.wait_until_ready(Duration::from_millis(10)).await.unwrap();
    assert_eq!(offline.source(), Source::Bootstrap);
    assert!(offline.bool_value("a", &Context::new("u"), false));

    let missing =
        Client::builder("http://unused.invalid", KEY).bootstrap_file(dir.path().join("nope.json")).build().await;
    assert!(matches!(missing, Err(BuildError::Bootstrap { .. })), "{missing:?}");
    std::fs::write(&file, "{").unwrap();
    let broken = Client::builder("http://unused.invalid", KEY).bootstrap_file(&file).offline(true).build().await;
    assert!(matches!(broken, Err(BuildError::Bootstrap { .. })));
    let bad_url = Client::builder("pennon.internal", KEY).build().await;
    assert!(matches!(bad_url, Err(BuildError::InvalidUrl(_))));
}
