//! A relay started with one relay credential (`pnn_rly_...`) naming two environments: `pennon serve` on
//! PostgreSQL, `pennon relay --relay-key K --environment production --environment staging` in front of it,
//! and a real SDK per environment against the relay, all real processes over real HTTP.
//!
//! - each SDK, with its own environment's server key, gets its environment's flags through the relay, and a
//!   change in each reaches it;
//! - a server key revoked upstream is refused at the relay.

use std::time::Duration;

use pennon_sdk::Context;
use pennon_tests::database::{Db, TestDatabase};
use pennon_tests::eventually;
use reqwest::Method;
use serde_json::json;

use crate::cluster::{Admin, PATIENCE, Server, client, ready};
use crate::process::ServerProcess;
use crate::relay_process::RelayProcess;

/// Through `server`: `checkout` serves `variant` to everyone in `env`.
async fn serve_in(admin: &Admin, server: &impl Server, env: &str, variant: &str) {
    let path = format!("/api/v1/flags/checkout/environments/{env}");
    let config = json!({ "enabled": true, "off_variant": "off", "default": { "variant": variant } });
    admin.call(server, Method::PUT, &path, Some(config), 200).await;
}

/// A new server key of `env`: its secret and id.
async fn server_key(admin: &Admin, server: &impl Server, env: &str) -> (String, i64) {
    let path = format!("/api/v1/environments/{env}/keys");
    let created = admin.call(server, Method::POST, &path, Some(json!({ "kind": "server", "name": "app" })), 201).await;
    (created["key"].as_str().expect("a key").to_owned(), created["id"].as_i64().expect("an id"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_relay_key_serves_two_environments_and_follows_revocations() {
    let database = TestDatabase::new(Db::Postgres).await;
    let server = ServerProcess::start(&database.url).await;
    let admin = Admin::sign_in(&server).await;
    let production_key = admin.set_up(&server).await;
    admin.call(&server, Method::POST, "/api/v1/environments", Some(json!({ "key": "staging" })), 201).await;
    serve_in(&admin, &server, "staging", "on").await;
    let (staging_key, staging_id) = server_key(&admin, &server, "staging").await;
    let body = json!({ "name": "edge", "environments": ["production", "staging"] });
    let relay_key = admin.call(&server, Method::POST, "/api/v1/relay-keys", Some(body), 201).await;
    let relay_key = relay_key["key"].as_str().expect("a relay key");

    let relay = RelayProcess::start_with_relay_key(&server.url(), relay_key, &["production", "staging"]).await;
    let ctx = Context::new("user-42");
    let production = ready(client(&relay, &production_key)).await;
    let staging = ready(client(&relay, &staging_key)).await;
    assert!(!production.bool_value("checkout", &ctx, true), "production serves off");
    assert!(staging.bool_value("checkout", &ctx, false), "staging serves on");

    // A change in each environment reaches its SDK through the relay.
    serve_in(&admin, &server, "production", "on").await;
    serve_in(&admin, &server, "staging", "off").await;
    eventually("production's SDK sees on", PATIENCE, || production.bool_value("checkout", &ctx, false)).await;
    eventually("staging's SDK sees off", PATIENCE, || !staging.bool_value("checkout", &ctx, true)).await;

    // The staging key revoked upstream is refused at the relay; production's still works.
    let path = format!("/api/v1/environments/staging/keys/{staging_id}");
    admin.call(&server, Method::DELETE, &path, None, 204).await;
    let http = reqwest::Client::new();
    let snapshot =
        |key: &str| http.get(format!("{}/api/v1/sdk/snapshot", relay.url())).bearer_auth(key.to_owned()).send();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while snapshot(&staging_key).await.expect("an answer").status() != 401 {
        assert!(tokio::time::Instant::now() < deadline, "the revoked key still works at the relay");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(snapshot(&production_key).await.expect("an answer").status(), 200, "production's key still works");
}
