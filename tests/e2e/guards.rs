//! Metric guards end to end: services embedding the SDK evaluate a flag split 50/50 and track their errors;
//! the SDKs send exposures and metrics to two replicas; the guard loop (on one of them) turns the flag off
//! when the new variant errs more, and every SDK sees it. With equal error rates nothing trips.

use std::time::Duration;

use pennon_sdk::{Client, Context};
use pennon_tests::eventually;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::{Admin, Cluster, PATIENCE, Replica, client, ready};

const GUARDS: &str = "/api/v1/flags/checkout/environments/production/guards";

fn tuned(config: &mut pennon_server::app::config::ServeConfig) {
    config.guard_interval = Duration::from_millis(300);
    config.metrics_flush_interval = Duration::from_millis(200);
}

/// Two replicas with short guard and flush intervals, `checkout` split 50/50 between `on` (the new code)
/// and `off`, and a guard: `on` may not err more than 10% above `off`. Returns the replicas and the guard id.
async fn guarded() -> (Cluster, Replica, i64) {
    let database = pennon_tests::database::TestDatabase::new(pennon_tests::database::Db::Postgres).await;
    let first = Replica::start_with(&database.url, tuned).await;
    let admin = Admin::sign_in(&first).await;
    let key = admin.set_up(&first).await;
    let cluster = Cluster { admin, key, first, database };
    let second = Replica::start_with(&cluster.database.url, tuned).await;
    let split = json!({ "split": { "weights": [{ "variant": "on", "weight": 50_000 }, { "variant": "off", "weight": 50_000 }] } });
    let config = json!({ "enabled": true, "off_variant": "off", "default": split });
    let path = "/api/v1/flags/checkout/environments/production";
    cluster.admin.call(&cluster.first, Method::PUT, path, Some(config), 200).await;
    let guard = json!({ "metric": "checkout_error", "statistic": "rate", "direction": "higher_is_worse",
        "threshold": { "relative": 0.1 }, "variant": "on", "window": "1h" });
    let metric = json!({ "key": "checkout_error", "kind": "rate", "direction": "lower_is_better" });
    cluster.admin.call(&second, Method::POST, "/api/v1/metrics", Some(metric), 201).await;
    let created = cluster.admin.call(&second, Method::POST, GUARDS, Some(guard), 201).await;
    pennon_tests::until_next_metric_bucket().await;
    (cluster, second, created["id"].as_i64().expect("a guard id"))
}

/// An SDK-driven service: a client that reports what it served and what failed.
async fn service(replica: &Replica, key: &str) -> Client {
    ready(client(replica, key).events(true).flush_interval(Duration::from_millis(100))).await
}

/// Serves one request per user in `users` through `client`: the flag picks the code path, which fails with
/// the probability of its variant. Returns how many were served `on`.
fn serve_requests(client: &Client, users: std::ops::Range<u32>, error_rate: (f64, f64), rng: &mut StdRng) -> u32 {
    let mut on = 0;
    for user in users {
        let ctx = Context::new(format!("user-{user}"));
        let new_code = client.bool_value("checkout", &ctx, false);
        on += u32::from(new_code);
        let rate = if new_code { error_rate.0 } else { error_rate.1 };
        if rng.random_bool(rate) {
            client.track("checkout_error", &ctx, 1.0);
        }
    }
    on
}

async fn guard(cluster: &Cluster, id: i64) -> Value {
    cluster.admin.call(&cluster.first, Method::GET, &format!("{GUARDS}/{id}"), None, 200).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_variant_is_turned_off_for_every_sdk() {
    let (cluster, second, id) = guarded().await;
    let services = [service(&cluster.first, &cluster.key).await, service(&second, &cluster.key).await];
    let watcher = ready(client(&second, &cluster.key)).await;
    let mut rng = StdRng::seed_from_u64(6);
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    let mut served = 0;
    // Traffic until the guard acts: 2% errors on the new code, 0.5% on the old.
    while guard(&cluster, id).await["state"] != "breached" {
        assert!(tokio::time::Instant::now() < deadline, "the guard did not breach after {served} requests");
        for (i, s) in services.iter().enumerate() {
            let start = served + u32::try_from(i).unwrap() * 1_000;
            serve_requests(s, start..start + 1_000, (0.02, 0.005), &mut rng);
            s.flush().await.expect("metrics are sent");
        }
        served += 2_000;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every client turns the new code off for everyone, not only for one bucket of users.
    let everyone_off =
        |c: &Client| (0..2_000).all(|u| !c.bool_value("checkout", &Context::new(format!("user-{u}")), true));
    for (i, c) in services.iter().chain([&watcher]).enumerate() {
        eventually(&format!("client {i} serves checkout off to everyone"), PATIENCE, || everyone_off(c)).await;
    }
    let audit = cluster.admin.call(&second, Method::GET, "/api/v1/audit?flag=checkout", None, 200).await;
    let breaches: Vec<&Value> =
        audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "guard.breach").collect();
    assert_eq!(breaches.len(), 1, "one replica acted, once");
    let detail = &breaches[0]["detail"];
    assert_eq!(breaches[0]["actor"], "system:guard");
    let (t, c) = (&detail["treatment"], &detail["control"]);
    assert!(t["value"].as_f64().unwrap() > c["value"].as_f64().unwrap(), "{detail}");
    assert!(t["samples"].as_u64().unwrap() >= 100 && c["samples"].as_u64().unwrap() >= 100, "{detail}");
    assert!(detail["p_value"].as_f64().unwrap() <= 0.05 && detail["bound"].as_f64().unwrap() > 0.0, "{detail}");
    assert_eq!(breaches[0]["after"]["enabled"], false);
    for c in services.iter().chain([&watcher]) {
        c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_error_rates_trip_nothing() {
    let (cluster, second, id) = guarded().await;
    let services = [service(&cluster.first, &cluster.key).await, service(&second, &cluster.key).await];
    let mut rng = StdRng::seed_from_u64(11);
    let mut served = 0;
    for _ in 0..10 {
        for (i, s) in services.iter().enumerate() {
            let start = served + u32::try_from(i).unwrap() * 2_000;
            serve_requests(s, start..start + 2_000, (0.01, 0.01), &mut rng);
            s.flush().await.expect("metrics are sent");
        }
        served += 4_000;
    }
    // Wait until the guard has judged all of it (both replicas' metrics written, then a check).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let last = loop {
        let g = guard(&cluster, id).await;
        let n = |arm: &str| g["evidence"][arm]["n"].as_u64().unwrap_or(0);
        if n("treatment") + n("control") >= u64::from(served) || tokio::time::Instant::now() > deadline {
            break g;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(last["state"], "healthy", "{last}");
    let probe = Context::new("user-3");
    let on_somewhere = (0..200).any(|u| services[0].bool_value("checkout", &Context::new(format!("user-{u}")), false));
    assert!(
        on_somewhere
            && services[1].bool_value("checkout", &probe, false) == services[0].bool_value("checkout", &probe, false)
    );
    let config =
        cluster.admin.call(&second, Method::GET, "/api/v1/flags/checkout/environments/production", None, 200).await;
    assert_eq!(config["enabled"], true);
    for c in &services {
        c.close().await;
    }
}
