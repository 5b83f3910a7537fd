//! Leader election: one holder of a lock key at a time on PostgreSQL, handed over when it stops; SQLite is
//! always the leader.

use std::time::Duration;

use pennon_server::jobs::leader::{GUARD_LOOP, Leader, PLAN_SCHEDULER};
use pennon_server::store::Store;

use crate::helpers::{Db, TestDatabase};

const RETRY: Duration = Duration::from_millis(50);

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_per_key_on_postgres_and_handover_on_stop() {
    let database = TestDatabase::new(Db::Postgres).await;
    let a = Store::connect_lazy(&database.url, 4).unwrap();
    let b = Store::connect_lazy(&database.url, 4).unwrap();
    let first = Leader::start_with(a.clone(), GUARD_LOOP, RETRY);
    first.wait_until_leader().await;
    let second = Leader::start_with(b.clone(), GUARD_LOOP, RETRY);
    // Another key is independent of the first.
    let other = Leader::start_with(b.clone(), PLAN_SCHEDULER, RETRY);
    other.wait_until_leader().await;
    // Many retries later, the second replica still does not lead.
    tokio::time::sleep(RETRY * 8).await;
    assert!(first.is_leader());
    assert!(!second.is_leader(), "two leaders for one key");

    first.stop().await;
    assert!(!first.is_leader());
    wait_for("the second replica to take over", || second.is_leader()).await;
    second.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_is_lost_with_the_connection_and_taken_over() {
    let database = TestDatabase::new(Db::Postgres).await;
    let a = Store::connect_lazy(&database.url, 4).unwrap();
    let b = Store::connect_lazy(&database.url, 4).unwrap();
    let first = Leader::start_with(a.clone(), GUARD_LOOP, RETRY);
    first.wait_until_leader().await;
    let second = Leader::start_with(b.clone(), GUARD_LOOP, RETRY);
    tokio::time::sleep(RETRY * 4).await;
    assert!(!second.is_leader());

    // Dropping the last handle ends the campaign; its connection goes and with it the lock.
    drop(first);
    wait_for("the second replica to take over", || second.is_leader()).await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_is_always_the_leader() {
    let database = TestDatabase::new(Db::Sqlite).await;
    let store = Store::connect_lazy(&database.url, 4).unwrap();
    let leader = Leader::start(store.clone(), GUARD_LOOP);
    assert!(leader.is_leader());
    let again = Leader::start(store, GUARD_LOOP);
    assert!(again.is_leader(), "one process: every loop in it may run");
}
