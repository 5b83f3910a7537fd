//! A replica stopped under running clients, and started again on the same port.

use pennon_sdk::{Context, Source, Status};
use pennon_tests::eventually;

use crate::cluster::{Cluster, Heard, PATIENCE, client, ready};

/// While the replica is away its client keeps evaluating with the last flags; a change made meanwhile
/// through the other replica reaches it once the replica is back, without the client being rebuilt, and
/// changes keep flowing through the restarted replica afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_ride_out_a_replica_restart_and_catch_up() {
    let mut cluster = Cluster::start().await;
    let b = cluster.replica().await;
    let on_a = ready(client(&cluster.first, &cluster.key)).await;
    let on_b = ready(client(&b, &cluster.key)).await;
    let heard = Heard::listen(&on_a);
    let ctx = Context::new("user-42");
    cluster.admin.serve(&cluster.first, "checkout", "on").await;
    for c in [&on_a, &on_b] {
        eventually("checkout is on", PATIENCE, || c.bool_value("checkout", &ctx, false)).await;
    }
    let revision = on_a.revision();

    cluster.first.stop().await;
    eventually("the client notices", PATIENCE, || matches!(on_a.status(), Status::Interrupted { .. })).await;
    let detail = on_a.bool_detail("checkout", &ctx, false);
    assert!(detail.value, "the last flags are served while the replica is away");
    assert_eq!((detail.error(), on_a.source()), (None, Source::Server));

    let off = cluster.admin.serve(&b, "checkout", "off").await;
    eventually("the other replica's client sees the change", PATIENCE, || !on_b.bool_value("checkout", &ctx, true))
        .await;
    assert!(on_a.bool_value("checkout", &ctx, false), "nothing can reach the stopped replica's client");
    assert_eq!(on_a.revision(), revision);

    cluster.first.start().await;
    eventually("the client catches up", PATIENCE, || !on_a.bool_value("checkout", &ctx, true)).await;
    eventually("the client is current again", PATIENCE, || on_a.status() == Status::Ready).await;
    heard.hears("checkout", off).await;
    assert_eq!(on_a.revision(), on_b.revision());

    let added = cluster.admin.new_flag(&cluster.first, "banner").await;
    for c in [&on_a, &on_b] {
        eventually("a change through the restarted replica arrives", PATIENCE, || c.bool_value("banner", &ctx, false))
            .await;
    }
    heard.hears("banner", added).await;
    on_a.close().await;
    on_b.close().await;
}

/// Every replica stopped at once: clients serve their last flags. A change made while they are all away
/// (through a replica that then stops too) reaches every client once the replicas are back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_outage_is_ridden_out() {
    let mut cluster = Cluster::start().await;
    let mut b = cluster.replica().await;
    let clients = [ready(client(&cluster.first, &cluster.key)).await, ready(client(&b, &cluster.key)).await];
    let ctx = Context::new("user-7");

    cluster.first.stop().await;
    b.stop().await;
    for c in &clients {
        eventually("the client notices", PATIENCE, || matches!(c.status(), Status::Interrupted { .. })).await;
        assert!(!c.bool_value("checkout", &ctx, true), "the last flags are served");
    }
    // A change while no replica serves the clients: a third replica makes it and goes away again.
    let mut c = cluster.replica().await;
    cluster.admin.serve(&c, "checkout", "on").await;
    c.stop().await;
    for client in &clients {
        assert!(!client.bool_value("checkout", &ctx, true), "still the last flags");
    }

    b.start().await;
    cluster.first.start().await;
    for client in &clients {
        eventually("each client catches up", PATIENCE, || client.bool_value("checkout", &ctx, false)).await;
        eventually("each client is current", PATIENCE, || client.status() == Status::Ready).await;
    }
}
