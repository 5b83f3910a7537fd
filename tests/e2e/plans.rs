//! A gradual rollout plan walks 1% → 5% → 25% → 100% on a cluster of two replicas, and every SDK client of
//! either replica sees every step, in order, once.

use pennon_sdk::Context;
use pennon_tests::eventually;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::{Cluster, Heard, PATIENCE, client, ready};

const PLAN: &str = "/api/v1/flags/checkout/environments/production/plan";

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
