//! No SDK goes back in time: a client that got a revision from one replica and is then sent (by a load
//! balancer) to a replica held behind — cut off from the database, so that neither its notifications nor a
//! catch-up can reach it — is not sent that replica's older state, and does not apply one. Once the replica
//! reaches the database again, the client streams from it.

use std::time::Duration;

use pennon_sdk::{Client, Context};
use pennon_tests::database::{Db, TestDatabase};
use pennon_tests::eventually;
use pennon_tests::proxy::DbProxy;

use crate::cluster::{Cluster, Heard, PATIENCE, ready};

/// How long the client is watched talking to the replica held behind: many stream attempts and polls (its
/// delays are at most 200 ms, the replica's `Retry-After` is 1 s).
const BEHIND_FOR: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sent_to_a_replica_held_behind_never_applies_an_older_revision() {
    let database = TestDatabase::new(Db::Postgres).await;
    let (db, proxied) = DbProxy::in_front_of(&database.url).await;
    let cluster = Cluster::start_with(database, Some(&proxied)).await;
    let (behind, ahead) = (&cluster.first, cluster.replica().await);
    // The load balancer: it sends the client to the up-to-date replica first.
    let balancer = DbProxy::start(ahead.addr()).await;
    let builder = Client::builder(format!("http://{}", balancer.addr()), &cluster.key)
        .reconnect_delays(Duration::from_millis(20), Duration::from_millis(200))
        .poll_interval(Duration::from_millis(200))
        .request_timeout(Duration::from_secs(5))
        .events(false);
    let client = ready(builder).await;
    let heard = Heard::listen(&client);
    let ctx = Context::new("user-42");

    db.cut().await;
    let on = cluster.admin.serve(&ahead, "checkout", "on").await;
    eventually("the client gets the change", PATIENCE, || client.bool_value("checkout", &ctx, false)).await;
    let held = client.revision();
    assert!(behind.revision("production") < Some(held), "the first replica is held behind");

    // Every connection of the client now goes to the replica held behind.
    balancer.cut().await;
    balancer.retarget(behind.addr());
    balancer.restore().await;
    let end = tokio::time::Instant::now() + BEHIND_FOR;
    while tokio::time::Instant::now() < end {
        assert!(client.revision() >= held, "the client went back from {held} to {}", client.revision());
        assert!(client.bool_value("checkout", &ctx, false), "the client applied the older state");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(behind.revision("production") < Some(held), "the replica was behind all along");

    // The replica reaches the database again: it catches up, and the client streams from it.
    db.restore().await;
    let off = cluster.admin.serve(&ahead, "checkout", "off").await;
    eventually("a later change reaches the client", PATIENCE, || !client.bool_value("checkout", &ctx, true)).await;
    let versions: Vec<Option<u64>> =
        heard.all().into_iter().filter(|(flag, _)| flag == "checkout").map(|(_, version)| version).collect();
    assert_eq!(versions, [Some(on), Some(off)], "the client heard checkout go back and forth");
    client.close().await;
}
