//! Clients cut off from their replica by the network: the connection stays open but nothing comes through
//! (a partition, a hung proxy). They notice the silence, keep serving the last flags, and catch up once
//! the network is back.

use std::time::Duration;

use pennon_sdk::{Context, Status};
use pennon_tests::eventually;
use pennon_tests::proxy::DbProxy;

use crate::cluster::{Cluster, Heard, PATIENCE, Replica, client, ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_silent_network_notice_and_catch_up_when_it_is_back() {
    let cluster = Cluster::start().await;
    // Heartbeats every 200 ms, so that a client may call one silent second a dead connection.
    let a =
        Replica::start_with(&cluster.database.url, |config| config.sse_heartbeat = Duration::from_millis(200)).await;
    let network = DbProxy::start(a.addr()).await;
    let through = format!("http://{}", network.addr());
    // One client reaches the replica directly, one through a TCP relay that can go silent.
    let behind = ready(client(&a, &cluster.key)).await;
    let builder = pennon_sdk::Client::builder(through, &cluster.key)
        .reconnect_delays(Duration::from_millis(20), Duration::from_millis(200))
        .heartbeat_timeout(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(1))
        .stream_failures_before_polling(1_000)
        .events(false);
    let partitioned = ready(builder).await;
    let heard = Heard::listen(&partitioned);
    let ctx = Context::new("user-42");

    network.blackhole();
    let on = cluster.admin.serve(&cluster.first, "checkout", "on").await;
    eventually("the directly connected client gets the change", PATIENCE, || {
        behind.bool_value("checkout", &ctx, false)
    })
    .await;
    eventually("the partitioned client notices the silence", PATIENCE, || {
        matches!(partitioned.status(), Status::Interrupted { .. })
    })
    .await;
    assert!(!partitioned.bool_value("checkout", &ctx, true), "the last flags are served meanwhile");

    network.restore().await;
    eventually("the partitioned client catches up", PATIENCE, || partitioned.bool_value("checkout", &ctx, false)).await;
    eventually("and is current again", PATIENCE, || partitioned.status() == Status::Ready).await;
    heard.hears("checkout", on).await;
}
