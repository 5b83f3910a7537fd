//! # pennon-tests
//!
//! End-to-end tests of Pennon (in `e2e/`): server replicas sharing one PostgreSQL database, real SDK clients
//! following them over real HTTP and server-sent events, replicas stopped and restarted, the server binary killed
//! with SIGKILL, database connections cut. Run them with `cargo build -p pennon-server && cargo test -p
//! pennon-tests` (the binary is run from the same target directory); they need the PostgreSQL server named by
//! `PENNON_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//!
//! The library holds what these tests and the server's API tests share: a fresh database per test
//! ([`database::TestDatabase`]), a TCP proxy that takes a database away and brings it back
//! ([`proxy::DbProxy`]), and waiting for a condition with a deadline ([`eventually`]).

pub mod database;
pub mod proxy;

use std::time::Duration;

/// Waits until `condition` holds, checking every 20 ms; panics naming `what` when it still does not after
/// `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the next 10-second metric bucket starts: a guard counts only the buckets that start at or
/// after its creation (or reset), so metrics sent before then do not count toward it.
pub async fn until_next_metric_bucket() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis();
    let wait = 10_000 - now % 10_000;
    tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0) + 20)).await;
}
