//! SDK metrics sent to a relay while its upstream is dead are forwarded once the upstream is back, and count
//! toward a metric guard there as metrics sent to the server would: the guard trips and the SDKs behind the
//! relay see the flag turned off.

use std::time::Duration;

use pennon_sdk::Context;
use pennon_tests::database::{Db, TestDatabase};
use pennon_tests::eventually;
use reqwest::Method;
use serde_json::json;

use crate::cluster::{Admin, PATIENCE, Server, client, ready};
use crate::process::ServerProcess;
use crate::relay_process::RelayProcess;

const GUARDS: &str = "/api/v1/flags/checkout/environments/production/guards";
/// Short guard and flush intervals, so that the guard acts within the test's patience.
const TUNED: [(&str, &str); 2] = [("PENNON_GUARD_INTERVAL", "0.3"), ("PENNON_METRICS_FLUSH_INTERVAL", "0.2")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_sent_to_a_relay_during_an_outage_trip_a_guard_upstream() {
    let database = TestDatabase::new(Db::Postgres).await;
    let mut server = ServerProcess::start_with_env(&database.url, &TUNED).await;
    let admin = Admin::sign_in(&server).await;
    let key = admin.set_up(&server).await;
    let split = json!({ "split": { "weights": [{ "variant": "on", "weight": 50_000 }, { "variant": "off", "weight": 50_000 }] } });
    let config = json!({ "enabled": true, "off_variant": "off", "default": split });
    admin.call(&server, Method::PUT, "/api/v1/flags/checkout/environments/production", Some(config), 200).await;
    let metric = json!({ "key": "checkout_error", "kind": "rate", "direction": "lower_is_better" });
    admin.call(&server, Method::POST, "/api/v1/metrics", Some(metric), 201).await;
    let guard = json!({ "metric": "checkout_error", "statistic": "rate", "direction": "higher_is_worse",
        "threshold": { "relative": 0.1 }, "variant": "on", "window": "1h" });
    let created = admin.call(&server, Method::POST, GUARDS, Some(guard), 201).await;
    let id = created["id"].as_i64().expect("a guard id");
    let relay = RelayProcess::start(&server.url(), &[&key], None).await;
    let sdk = ready(client(&relay, &key)).await;
    // The relay learns that the guard watches checkout_error (metrics no guard watches are ignored).
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let info = http.get(format!("{}/api/v1/sdk/relay", relay.url())).bearer_auth(&key).send().await.unwrap();
        let info: serde_json::Value = info.json().await.unwrap();
        if info["watched"] == json!([{ "flag": "checkout", "metric": "checkout_error" }]) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the relay does not learn the watched metric: {info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pennon_tests::until_next_metric_bucket().await;

    server.kill();
    // The new code errs on 20% of its requests, the old one on 0.5%.
    let batch = json!({
        "exposures": [{ "flag": "checkout", "variant": "on", "count": 5000 }, { "flag": "checkout", "variant": "off", "count": 5000 }],
        "metrics": [
            { "flag": "checkout", "variant": "on", "metric": "checkout_error", "count": 1000, "sum": 1000.0, "sum_squares": 1000.0 },
            { "flag": "checkout", "variant": "off", "metric": "checkout_error", "count": 25, "sum": 25.0, "sum_squares": 25.0 }
        ] });
    let reply = http.post(format!("{}/api/v1/sdk/metrics", relay.url())).bearer_auth(&key).json(&batch).send().await;
    let reply = reply.expect("an answer");
    assert_eq!(reply.status(), 202);
    assert_eq!(reply.json::<serde_json::Value>().await.unwrap()["accepted"], 4, "every entry is taken");
    // Forward rounds fail meanwhile; the aggregates are kept.
    tokio::time::sleep(Duration::from_millis(600)).await;

    server.restart().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let guard = admin.call(&server, Method::GET, &format!("{GUARDS}/{id}"), None, 200).await;
        if guard["state"] == "breached" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the forwarded metrics do not trip the guard: {guard}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let everyone_off = || (0..200).all(|u| !sdk.bool_value("checkout", &Context::new(format!("user-{u}")), true));
    eventually("the SDK behind the relay serves checkout off to everyone", PATIENCE, everyone_off).await;
}
