//! The real server binary killed with SIGKILL under running SDK clients, and started again.
//!
//! Unlike [`restart`](crate::restart), which stops in-process replicas gracefully (their streams end
//! cleanly), this is what a crash, the OOM killer or `kill -9` does: no shutdown, connections cut by the kernel,
//! nothing flushed. It proves that
//! - SDK clients keep evaluating with the last flags they had while no server answers, and say they are
//!   interrupted rather than failing evaluations;
//! - a change made meanwhile (through another server process on the same database) reaches the very same
//!   `Client` objects once the killed server is started again on its address: they reconnect by themselves,
//!   resume their stream and catch up, with no restart of the application;
//! - changes keep flowing through the restarted server afterwards.

use std::time::Duration;

use pennon_sdk::{Client, Context, Source, Status};
use pennon_tests::database::{Db, TestDatabase};
use pennon_tests::eventually;

use crate::cluster::{Admin, Heard, PATIENCE, client, ready};
use crate::process::ServerProcess;

/// How long the clients are watched serving their last flags with the server dead: many reconnection
/// attempts (their delays are at most 200 ms).
const DEAD_FOR: Duration = Duration::from_secs(2);

/// Asserts that `condition` holds, checked every 20 ms, for the whole of `period`.
async fn throughout(what: &str, period: Duration, mut condition: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + period;
    while tokio::time::Instant::now() < end {
        assert!(condition(), "{what} stopped holding");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Both clients serve `checkout` = `value` from the server's flags, without an evaluation error.
fn serve_last_flags(clients: &[Client], ctx: &Context, value: bool) -> bool {
    clients.iter().all(|c| {
        let detail = c.bool_detail("checkout", ctx, !value);
        detail.value == value && detail.error().is_none() && c.source() == Source::Server
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_ride_out_a_killed_server_and_catch_up_when_it_is_back() {
    // Declared first: dropped after the server processes that use it.
    let database = TestDatabase::new(Db::Postgres).await;
    let mut server = ServerProcess::start(&database.url).await;
    let admin = Admin::sign_in(&server).await;
    let key = admin.set_up(&server).await;
    let clients = [ready(client(&server, &key)).await, ready(client(&server, &key)).await];
    let heard: Vec<Heard> = clients.iter().map(Heard::listen).collect();
    let ctx = Context::new("user-42");

    let on = admin.serve(&server, "checkout", "on").await;
    for (i, c) in clients.iter().enumerate() {
        eventually(&format!("client {i} sees checkout on"), PATIENCE, || c.bool_value("checkout", &ctx, false)).await;
        eventually(&format!("client {i} hears of it"), PATIENCE, || heard[i].has("checkout", on)).await;
    }
    let revision = clients[0].revision();
    assert_eq!(clients[1].revision(), revision);

    server.kill();
    assert!(!server.answers(), "nothing answers on the killed server's port");
    for (i, c) in clients.iter().enumerate() {
        let interrupted = || matches!(c.status(), Status::Interrupted { .. });
        eventually(&format!("client {i} notices the server is gone"), PATIENCE, interrupted).await;
    }
    throughout("serving the last flags with the server dead", DEAD_FOR, || {
        serve_last_flags(&clients, &ctx, true) && clients.iter().all(|c| c.revision() == revision)
    })
    .await;
    assert!(!server.answers(), "still nothing answers on the killed server's port");

    // A change while the server is dead: another server process on the same database makes it, then dies too.
    let mut other = ServerProcess::start(&database.url).await;
    let off = admin.serve(&other, "checkout", "off").await;
    other.kill();
    assert!(serve_last_flags(&clients, &ctx, true), "nothing can reach the clients of the dead server");
    assert!(clients.iter().all(|c| c.revision() == revision));

    server.restart().await;
    for (i, c) in clients.iter().enumerate() {
        eventually(&format!("client {i} catches up"), PATIENCE, || !c.bool_value("checkout", &ctx, true)).await;
        eventually(&format!("client {i} is current again"), PATIENCE, || c.status() == Status::Ready).await;
        heard[i].hears("checkout", off).await;
        assert!(c.revision() > revision);
    }
    assert!(serve_last_flags(&clients, &ctx, false));
    assert_eq!(clients[0].revision(), clients[1].revision());

    let added = admin.new_flag(&server, "banner").await;
    for (i, c) in clients.iter().enumerate() {
        let arrived = || c.bool_value("banner", &ctx, false);
        eventually(&format!("a change through the restarted server reaches client {i}"), PATIENCE, arrived).await;
        heard[i].hears("banner", added).await;
    }
    for c in &clients {
        c.close().await;
    }
}
