//! A change made through any replica reaches every SDK client of every replica.

use pennon_sdk::Context;
use pennon_tests::eventually;

use crate::cluster::{Cluster, Heard, PATIENCE, client, ready};

/// Three clients on two replicas: two on the first, one on the second. A change through the first replica,
/// then one through the second, reaches all three, as their evaluations and change listeners show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_either_replica_reaches_every_client() {
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.first, cluster.replica().await);
    let clients = [
        ready(client(a, &cluster.key)).await,
        ready(client(a, &cluster.key)).await,
        ready(client(&b, &cluster.key)).await,
    ];
    let heard: Vec<Heard> = clients.iter().map(Heard::listen).collect();
    let ctx = Context::new("user-42");
    for c in &clients {
        assert!(!c.bool_value("checkout", &ctx, true), "checkout starts off");
    }

    let first = cluster.admin.serve(a, "checkout", "on").await;
    for (i, c) in clients.iter().enumerate() {
        eventually(&format!("client {i} sees checkout on"), PATIENCE, || c.bool_value("checkout", &ctx, false)).await;
        eventually(&format!("client {i} hears of it"), PATIENCE, || heard[i].has("checkout", first)).await;
    }

    let version = cluster.admin.serve(&b, "checkout", "off").await;
    let added = cluster.admin.new_flag(&b, "banner").await;
    for (i, c) in clients.iter().enumerate() {
        eventually(&format!("client {i} sees checkout off again"), PATIENCE, || !c.bool_value("checkout", &ctx, true))
            .await;
        eventually(&format!("client {i} sees the new flag"), PATIENCE, || c.bool_value("banner", &ctx, false)).await;
        eventually(&format!("client {i} hears of both"), PATIENCE, || {
            heard[i].has("checkout", version) && heard[i].has("banner", added)
        })
        .await;
        // Each change was heard once, in order.
        let checkout: Vec<_> = heard[i].all().into_iter().filter(|(key, _)| key == "checkout").collect();
        assert_eq!(checkout, [("checkout".into(), Some(first)), ("checkout".into(), Some(version))], "client {i}");
    }
    let revisions: Vec<u64> = clients.iter().map(pennon_sdk::Client::revision).collect();
    assert_eq!(revisions, [revisions[0]; 3], "every client ends at the same revision");
    assert_eq!(Some(revisions[0]), b.revision("production"));
    assert_eq!(a.revision("production"), b.revision("production"));
    for c in &clients {
        c.close().await;
    }
}
