//! A replica that loses its database connection misses the notifications of changes made through another
//! replica; once the connection is back it catches up by revision, and its clients get the changes.

use std::collections::HashSet;

use pennon_sdk::{Context, Status};
use pennon_tests::database::{Db, TestDatabase, admin_url};
use pennon_tests::eventually;
use pennon_tests::proxy::DbProxy;
use sqlx::Connection;

use crate::cluster::{Cluster, Heard, PATIENCE, client, ready};

/// The first replica reaches PostgreSQL through a proxy that is cut: it loses every connection, its change
/// listener included, while its clients stay connected to it. A change through the second replica cannot
/// reach it until the proxy is restored; then it does, without any client reconnecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_the_database_catches_up_when_it_is_back() {
    let database = TestDatabase::new(Db::Postgres).await;
    let (proxy, proxied) = DbProxy::in_front_of(&database.url).await;
    let cluster = Cluster::start_with(database, Some(&proxied)).await;
    let (a, b) = (&cluster.first, cluster.replica().await);
    let on_a = [ready(client(a, &cluster.key)).await, ready(client(a, &cluster.key)).await];
    let on_b = ready(client(&b, &cluster.key)).await;
    let heard: Vec<Heard> = on_a.iter().map(Heard::listen).collect();
    let ctx = Context::new("user-42");
    let before = a.revision("production");

    proxy.cut().await;
    let on = cluster.admin.serve(&b, "checkout", "on").await;
    eventually("the second replica's client sees the change", PATIENCE, || on_b.bool_value("checkout", &ctx, false))
        .await;
    assert_eq!(a.revision("production"), before, "the cut-off replica cannot know of the change");
    for c in &on_a {
        assert!(!c.bool_value("checkout", &ctx, true), "its clients keep the last flags");
        assert_eq!(c.status(), Status::Ready, "their streams to the replica stay up");
    }

    proxy.restore().await;
    for (i, c) in on_a.iter().enumerate() {
        eventually(&format!("client {i} of the first replica gets the change"), PATIENCE, || {
            c.bool_value("checkout", &ctx, false)
        })
        .await;
        heard[i].hears("checkout", on).await;
    }
    assert_eq!(a.revision("production"), b.revision("production"));

    // Changes through the replica that was cut off reach the other one's clients again.
    let added = cluster.admin.new_flag(a, "banner").await;
    eventually("the change reaches the second replica's client", PATIENCE, || on_b.bool_value("banner", &ctx, false))
        .await;
    assert_eq!(
        on_b.snapshot().flags.iter().find(|f| f.definition.key == "banner").map(|f| f.config.version),
        Some(added)
    );
}

/// The PostgreSQL backends of the database's `LISTEN` connections.
async fn listeners(conn: &mut sqlx::PgConnection, database: &str) -> HashSet<i32> {
    let rows: Vec<(i32,)> =
        sqlx::query_as("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'")
            .bind(database)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    rows.into_iter().map(|(pid,)| pid).collect()
}

/// The replicas' listening connections are terminated by the database server (as an administrator or a
/// failover would): they reconnect by themselves, and a change made meanwhile reaches every client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_connections_terminated_by_the_database_come_back() {
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.first, cluster.replica().await);
    let clients = [ready(client(a, &cluster.key)).await, ready(client(&b, &cluster.key)).await];
    let name = cluster.database.postgres_name().unwrap().to_owned();
    let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
    let mut old = HashSet::new();
    for _ in 0..250 {
        old = listeners(&mut conn, &name).await;
        if old.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(old.len(), 2, "each replica listens on a connection of its own");

    for pid in &old {
        let (ended,): (bool,) =
            sqlx::query_as("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&mut conn).await.unwrap();
        assert!(ended);
    }
    let ctx = Context::new("user-42");
    cluster.admin.serve(&b, "checkout", "on").await;
    for (i, c) in clients.iter().enumerate() {
        eventually(&format!("client {i} gets the change"), PATIENCE, || c.bool_value("checkout", &ctx, false)).await;
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = listeners(&mut conn, &name).await;
        if now.len() == 2 && now.is_disjoint(&old) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the replicas did not listen again: {now:?} (before: {old:?})");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // And notifications flow again, both ways.
    cluster.admin.serve(a, "checkout", "off").await;
    cluster.admin.new_flag(&b, "banner").await;
    for (i, c) in clients.iter().enumerate() {
        eventually(&format!("client {i} gets both later changes"), PATIENCE, || {
            !c.bool_value("checkout", &ctx, true) && c.bool_value("banner", &ctx, false)
        })
        .await;
    }
    conn.close().await.unwrap();
}
