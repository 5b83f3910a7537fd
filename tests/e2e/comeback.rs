//! SDK clients at their default settings after the server was away for a while: they keep trying the stream
//! (not only polling every 30 s), say they are interrupted for as long as nothing answers, and are streaming
//! again within seconds of the server being back, resuming with `Last-Event-ID`.

use std::time::Duration;

use pennon_sdk::{Client, Context, Status};
use pennon_tests::database::{Db, TestDatabase};
use pennon_tests::eventually;

use crate::cluster::{Admin, PATIENCE, ready};
use crate::process::ServerProcess;

/// How long the server stays dead: several reconnection attempts, and the three failures after which the
/// client used to fall back to polling alone.
const OUTAGE: Duration = Duration::from_secs(10);
/// How soon a change made after the server is back must reach every client (the bound at default
/// settings: at most 4 s of reconnection delay, plus the time to connect).
const CHANGE_ARRIVES_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_at_default_settings_are_current_within_seconds_of_a_restart() {
    // Declared first: dropped after the server process that uses it.
    let database = TestDatabase::new(Db::Postgres).await;
    let mut server = ServerProcess::start(&database.url).await;
    let admin = Admin::sign_in(&server).await;
    let key = admin.set_up(&server).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(ready(Client::builder(crate::cluster::Server::url(&server), &key).events(false)).await);
    }
    let ctx = Context::new("user-42");

    server.kill();
    for (i, c) in clients.iter().enumerate() {
        let interrupted = || matches!(c.status(), Status::Interrupted { .. });
        eventually(&format!("client {i} notices the server is gone"), PATIENCE, interrupted).await;
    }
    let end = tokio::time::Instant::now() + OUTAGE;
    while tokio::time::Instant::now() < end {
        for (i, c) in clients.iter().enumerate() {
            assert!(!c.status().is_ready(), "client {i} says {:?} while no server answers", c.status());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    server.restart().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    admin.serve(&server, "checkout", "on").await;
    let changed = tokio::time::Instant::now();
    for (i, c) in clients.iter().enumerate() {
        let left = CHANGE_ARRIVES_WITHIN.saturating_sub(changed.elapsed());
        eventually(&format!("client {i} has the change"), left, || c.bool_value("checkout", &ctx, false)).await;
    }
    for (i, c) in clients.iter().enumerate() {
        eventually(&format!("client {i} is current"), PATIENCE, || c.status() == Status::Ready).await;
    }
    for c in &clients {
        c.close().await;
    }
}
