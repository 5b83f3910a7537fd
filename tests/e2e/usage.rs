//! Last seen from a real SDK: a service embedding the SDK evaluates a flag locally; the exposures it reports
//! move the flag's `last_seen` and its evaluation counts in that environment on the server, and a flag the
//! service never asked for stays unseen.

use std::time::Duration;

use pennon_sdk::Context;
use reqwest::Method;
use serde_json::Value;

use crate::cluster::{Admin, PATIENCE, Replica, client, ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposures_from_an_sdk_move_last_seen() {
    let database = pennon_tests::database::TestDatabase::new(pennon_tests::database::Db::Postgres).await;
    let replica = Replica::start_with(&database.url, |config| {
        config.metrics_flush_interval = Duration::from_millis(200);
    })
    .await;
    let admin = Admin::sign_in(&replica).await;
    let key = admin.set_up(&replica).await;
    admin.new_flag(&replica, "unasked").await;
    let service = ready(client(&replica, &key).events(true).flush_interval(Duration::from_millis(100))).await;
    for user in 0..250 {
        assert!(!service.bool_value("checkout", &Context::new(format!("user-{user}")), true), "checkout serves off");
    }
    let usage = |flag: &'static str| {
        let (admin, replica) = (&admin, &replica);
        async move { admin.call(replica, Method::GET, &format!("/api/v1/flags/{flag}"), None, 200).await["usage"].clone() }
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while usage("checkout").await["environments"]["production"]["evaluations_24h"] != 250 {
        assert!(tokio::time::Instant::now() < deadline, "the exposures did not arrive: {}", usage("checkout").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = usage("checkout").await;
    assert!(
        seen["environments"]["production"]["last_seen"].as_str().is_some_and(|t| t.ends_with(":00.000Z")),
        "{seen}"
    );
    assert_eq!(seen["last_seen"], seen["environments"]["production"]["last_seen"]);
    let unasked = usage("unasked").await;
    assert_eq!(unasked["last_seen"], Value::Null, "{unasked}");
}
