//! A gradual rollout plan walks 1% → 5% → 25% → 100% on a cluster of two replicas, and every SDK client of
//! either replica sees every step, in order, once; a guard breached halfway halts it, and every client sees
//! the ramped variant taken away.

use pennon_sdk::Context;
use pennon_tests::eventually;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::{Cluster, Heard, PATIENCE, client, ready};

const PLAN: &str = "/api/v1/flags/checkout/environments/production/rollout-plan";

/// The config versions the plan's steps made, oldest first, from the config's history.
fn step_versions(history: &Value) -> Vec<u64> {
    let mut versions: Vec<u64> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["action"].as_str().is_some_and(|a| a.starts_with("config.plan.")))
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    versions.reverse();
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_walks_every_step_to_every_client() {
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.first, cluster.replica().await);
    let clients = [ready(client(a, &cluster.key)).await, ready(client(&b, &cluster.key)).await];
    let heard: Vec<Heard> = clients.iter().map(Heard::listen).collect();
    let plan = json!({ "variant": "on", "steps": [
        { "percent": 1, "hold": "1s" }, { "percent": 5, "hold": "1s" }, { "percent": 25, "hold": "1s" }, { "percent": 100 }
    ] });
    cluster.admin.call(a, Method::PUT, PLAN, Some(plan), 201).await;
    cluster.admin.call(&b, Method::POST, &format!("{PLAN}/start"), None, 200).await;

    let contexts: Vec<Context> = (0..400).map(|i| Context::new(format!("user-{i}"))).collect();
    for (i, c) in clients.iter().enumerate() {
        eventually(&format!("client {i} serves on to everyone"), PATIENCE, || {
            contexts.iter().all(|ctx| c.bool_value("checkout", ctx, false))
        })
        .await;
    }
    let plan = cluster.admin.call(a, Method::GET, PLAN, None, 200).await;
    assert_eq!(plan["state"], "completed");
    let events: Vec<&str> = plan["history"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["created", "started", "advanced", "advanced", "advanced", "completed"], "each step once");

    let history =
        cluster.admin.call(a, Method::GET, "/api/v1/flags/checkout/environments/production/history", None, 200);
    let steps = step_versions(&history.await);
    assert_eq!(steps.len(), 4, "four steps, four config versions: {steps:?}");
    for (i, h) in heard.iter().enumerate() {
        eventually(&format!("client {i} heard the last step"), PATIENCE, || h.has("checkout", steps[3])).await;
        let versions: Vec<u64> =
            h.all().into_iter().filter(|(key, _)| key == "checkout").filter_map(|(_, v)| v).collect();
        assert_eq!(versions, steps, "client {i} saw every step, in order, once");
    }
    for c in &clients {
        c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breach_halfway_halts_the_plan_for_every_client() {
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.first, cluster.replica().await);
    let clients = [ready(client(a, &cluster.key)).await, ready(client(&b, &cluster.key)).await];
    let heard: Vec<Heard> = clients.iter().map(Heard::listen).collect();
    let guards = "/api/v1/flags/checkout/environments/production/guards";
    let guard = json!({ "metric": "checkout_error", "statistic": "rate", "direction": "higher_is_worse",
        "threshold": { "relative": 0.1 }, "variant": "on", "control": "off", "action": "halt_rollout" });
    let metric = json!({ "key": "checkout_error", "kind": "rate", "direction": "lower_is_better" });
    cluster.admin.call(a, Method::POST, "/api/v1/metrics", Some(metric), 201).await;
    let guard = cluster.admin.call(a, Method::POST, guards, Some(guard), 201).await["id"].as_i64().unwrap();
    let plan = json!({ "variant": "on", "steps": [
        { "percent": 1, "hold": "1s" }, { "percent": 5, "hold": "1s" }, { "percent": 25, "hold": "1h" }, { "percent": 100 }
    ] });
    cluster.admin.call(a, Method::PUT, PLAN, Some(plan), 201).await;
    cluster.admin.call(&b, Method::POST, &format!("{PLAN}/start"), None, 200).await;
    let path = "/api/v1/flags/checkout/environments/production";
    let at_quarter = || async {
        let config = cluster.admin.call(a, Method::GET, path, None, 200).await;
        config["default"]["split"]["weights"][0]["weight"] == 25_000
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !at_quarter().await {
        assert!(tokio::time::Instant::now() < deadline, "the plan reaches 25%");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The guard counts the buckets from the first after its creation on.
    pennon_tests::until_next_metric_bucket().await;
    // The services behind both replicas report 2% errors on the ramped variant against 0.5% on control.
    let metric = |variant: &str, n: u64| json!({ "flag": "checkout", "variant": variant, "metric": "checkout_error", "count": n, "sum": n as f64, "sum_squares": n as f64 });
    let half = json!({
        "exposures": [{ "flag": "checkout", "variant": "on", "count": 10_000 }, { "flag": "checkout", "variant": "off", "count": 10_000 }],
        "metrics": [metric("on", 200), metric("off", 50)]
    });
    let http = reqwest::Client::new();
    for replica in [a, &b] {
        let sent = http.post(format!("{}/api/v1/sdk/metrics", replica.url())).bearer_auth(&cluster.key).json(&half);
        assert_eq!(sent.send().await.unwrap().status(), 202);
    }
    let contexts: Vec<Context> = (0..400).map(|i| Context::new(format!("user-{i}"))).collect();
    for (i, c) in clients.iter().enumerate() {
        eventually(&format!("client {i} serves off to everyone"), PATIENCE, || {
            contexts.iter().all(|ctx| !c.bool_value("checkout", ctx, true))
        })
        .await;
    }
    let plan = cluster.admin.call(&b, Method::GET, PLAN, None, 200).await;
    assert_eq!(plan["state"], "halted");
    let last = plan["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["event"].as_str(), last["detail"]["guard"].as_i64()), (Some("halted"), Some(guard)));
    let events: Vec<&str> = plan["history"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["created", "started", "advanced", "advanced", "halted"]);

    let history = cluster.admin.call(a, Method::GET, &format!("{path}/history"), None, 200).await;
    let mut versions: Vec<u64> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["action"].as_str().is_some_and(|a| a.starts_with("config.plan.") || a == "guard.breach"))
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    versions.reverse();
    assert_eq!(versions.len(), 4, "1%, 5%, 25% and the breach: {versions:?}");
    for (i, h) in heard.iter().enumerate() {
        eventually(&format!("client {i} heard the breach"), PATIENCE, || h.has("checkout", versions[3])).await;
        let seen: Vec<u64> = h.all().into_iter().filter(|(key, _)| key == "checkout").filter_map(|(_, v)| v).collect();
        assert_eq!(seen, versions, "client {i} saw every step and the breach, in order, once");
    }
    for c in &clients {
        c.close().await;
    }
}
