//! The relay as operators run it: `pennon serve` on PostgreSQL, `pennon relay` in front of it, real SDK
//! clients and client-key evaluations against the relay, all real processes over real HTTP.
//!
//! - changes reach the SDKs through the relay; a client key evaluates there;
//! - the upstream killed (SIGKILL): the SDKs keep their values, the relay stays ready but degraded, and SDK
//!   metrics sent to it meanwhile arrive upstream once it is back;
//! - a change made meanwhile through another server process reaches the SDKs once, when the upstream is back;
//! - a client key revoked upstream is refused by the relay;
//! - a relay restarted while the upstream is down serves the flags it cached;
//! - the relay, and a relay of the relay, answer the same requests with the same bytes as the server.

use std::time::Duration;

use pennon_sdk::Context;
use pennon_tests::database::{Db, TestDatabase};
use pennon_tests::eventually;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::{Admin, Heard, PATIENCE, Server, client, ready};
use crate::process::ServerProcess;
use crate::relay_process::RelayProcess;

/// A client key of production, with its id.
async fn client_key(admin: &Admin, server: &impl Server) -> (String, i64) {
    let body = json!({ "kind": "client", "name": "browser" });
    let created = admin.call(server, Method::POST, "/api/v1/environments/production/keys", Some(body), 201).await;
    (created["key"].as_str().expect("a key").to_owned(), created["id"].as_i64().expect("an id"))
}

/// `POST path` with `key` and `body` on `at`: the status and the body's bytes.
async fn post(at: &impl Server, path: &str, key: &str, body: &Value) -> (u16, Vec<u8>) {
    let http = reqwest::Client::new();
    let reply = http.post(format!("{}{path}", at.url())).bearer_auth(key).json(body).send().await.expect("an answer");
    (reply.status().as_u16(), reply.bytes().await.expect("a body").to_vec())
}

/// The relay's `/readyz` says `status`, with every environment served from `source`.
async fn relay_says(relay: &RelayProcess, status: &str, source: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (code, body) = relay.readiness().await;
        let sources = body["environments"].as_array().is_some_and(|e| e.iter().all(|e| e["source"] == source));
        if code == 200 && body["status"] == status && sources {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the relay does not say {status} from {source}: {code} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdks_ride_out_an_upstream_outage_behind_a_relay() {
    let database = TestDatabase::new(Db::Postgres).await;
    let mut server = ServerProcess::start(&database.url).await;
    let admin = Admin::sign_in(&server).await;
    let key = admin.set_up(&server).await;
    let (browser, browser_id) = client_key(&admin, &server).await;
    let cache = tempfile::tempdir().expect("a cache directory");
    let mut relay = RelayProcess::start(&server.url(), &[&key], Some(cache.path())).await;
    relay_says(&relay, "ready", "upstream").await;

    let sdk = ready(client(&relay, &key)).await;
    let heard = Heard::listen(&sdk);
    let ctx = Context::new("user-42");
    let on = admin.serve(&server, "checkout", "on").await;
    eventually("the SDK sees checkout on through the relay", PATIENCE, || sdk.bool_value("checkout", &ctx, false))
        .await;
    let ask = json!({ "flag": "checkout", "context": { "key": "user-42" } });
    let (status, body) = post(&relay, "/api/v1/evaluate", &browser, &ask).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["value"], true);

    // The upstream dies: the SDK keeps its values, the relay keeps serving and says it is degraded.
    server.kill();
    relay_says(&relay, "degraded", "upstream").await;
    assert!(sdk.bool_value("checkout", &ctx, false), "the SDK keeps checkout on");
    let (status, _) = post(&relay, "/api/v1/evaluate", &browser, &ask).await;
    assert_eq!(status, 200, "the relay evaluates with the upstream down");
    // SDK metrics sent to the relay meanwhile are kept for the upstream.
    let batch = json!({ "exposures": [{ "flag": "checkout", "variant": "on", "count": 7 }] });
    let (status, body) = post(&relay, "/api/v1/sdk/metrics", &key, &batch).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));

    // A change through another server process on the same database, which then dies too.
    let mut other = ServerProcess::start(&database.url).await;
    let off = admin.serve(&other, "checkout", "off").await;
    other.kill();
    assert!(sdk.bool_value("checkout", &ctx, false), "nothing reaches the relay with every server down");

    // The upstream is back: the relay catches up, the SDK hears the change once, the metrics arrive.
    server.restart().await;
    eventually("the SDK sees checkout off", PATIENCE, || !sdk.bool_value("checkout", &ctx, true)).await;
    relay_says(&relay, "ready", "upstream").await;
    let changes: Vec<_> = heard.all().into_iter().filter(|(flag, _)| flag == "checkout").collect();
    assert_eq!(changes, [("checkout".to_owned(), Some(on)), ("checkout".to_owned(), Some(off))], "each change once");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let flag = admin.call(&server, Method::GET, "/api/v1/flags/checkout", None, 200).await;
        if flag["usage"]["environments"]["production"]["evaluations_24h"] == 7 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the metrics did not arrive upstream: {}", flag["usage"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A client key revoked upstream stops working at the relay.
    let path = format!("/api/v1/environments/production/keys/{browser_id}");
    admin.call(&server, Method::DELETE, &path, None, 204).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while post(&relay, "/api/v1/evaluate", &browser, &ask).await.0 != 401 {
        assert!(tokio::time::Instant::now() < deadline, "the revoked key still works at the relay");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The relay restarted while the upstream is down serves what it cached.
    server.kill();
    relay.kill();
    relay.restart().await;
    relay_says(&relay, "degraded", "cache").await;
    let fresh = ready(client(&relay, &key)).await;
    assert!(!fresh.bool_value("checkout", &ctx, true), "a new SDK gets the cached flags: checkout off");
    assert!(!sdk.bool_value("checkout", &ctx, true), "the first SDK keeps checkout off");
    // Once the upstream is back, the relay follows it again and says so.
    server.restart().await;
    relay_says(&relay, "ready", "upstream").await;
}

/// The contexts of the engine's evaluation vectors.
fn vector_contexts() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/engine/tests/vectors/evaluation");
    let mut contexts = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the vectors") {
        let text = std::fs::read_to_string(entry.expect("a vector file").path()).expect("a vector file");
        let vectors: Value = serde_json::from_str(&text).expect("JSON vectors");
        for case in vectors["cases"].as_array().expect("cases") {
            contexts.push(case["context"].clone());
        }
    }
    contexts
}

/// The OFREP form of a context: `targetingKey` and the attributes beside it.
fn ofrep_context(context: &Value) -> Value {
    let mut out = context["attributes"].as_object().cloned().unwrap_or_default();
    if let Some(key) = context.get("key") {
        out.insert("targetingKey".to_owned(), key.clone());
    }
    json!({ "context": out })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_answers_as_the_server_does() {
    let database = TestDatabase::new(Db::Postgres).await;
    let server = ServerProcess::start(&database.url).await;
    let admin = Admin::sign_in(&server).await;
    let key = admin.set_up(&server).await;
    let (browser, _) = client_key(&admin, &server).await;
    let segment = json!({ "key": "staff", "included": ["alice"],
        "conditions": [{ "attribute": "email", "operator": "ends_with", "values": ["@example.com"] }] });
    admin.call(&server, Method::POST, "/api/v1/segments", Some(segment), 201).await;
    let flag = json!({ "key": "theme", "kind": "string",
        "variants": [{ "key": "dark", "value": "dark" }, { "key": "light", "value": "light" }] });
    admin.call(&server, Method::POST, "/api/v1/flags", Some(flag), 201).await;
    let config = json!({ "enabled": true, "off_variant": "light",
        "targets": [{ "variant": "dark", "keys": ["u-dark-1"] }],
        "rules": [
            { "id": "staff", "segments": ["staff"], "serve": { "variant": "dark" } },
            { "id": "pro", "conditions": [{ "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] }],
              "serve": { "split": { "bucket_by": "key", "weights": [
                  { "variant": "dark", "weight": 40000 }, { "variant": "light", "weight": 60000 }] } } }],
        "default": { "split": { "bucket_by": "key", "weights": [
            { "variant": "dark", "weight": 25000 }, { "variant": "light", "weight": 75000 }] } } });
    admin.call(&server, Method::PUT, "/api/v1/flags/theme/environments/production", Some(config), 200).await;
    admin.serve(&server, "checkout", "on").await;
    let relay = RelayProcess::start(&server.url(), &[&key], None).await;

    let http = reqwest::Client::new();
    let snapshot = |at: String| {
        let (http, key) = (http.clone(), key.clone());
        async move {
            let reply = http.get(format!("{at}/api/v1/sdk/snapshot")).bearer_auth(key).send().await.expect("an answer");
            let etag = reply.headers()["etag"].to_str().expect("an ETag").to_owned();
            (etag, reply.bytes().await.expect("the snapshot").to_vec())
        }
    };
    let upstream = snapshot(server.url()).await;
    let mut relayed = snapshot(relay.url()).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while relayed.0 != upstream.0 {
        assert!(tokio::time::Instant::now() < deadline, "the relay does not reach {}", upstream.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        relayed = snapshot(relay.url()).await;
    }
    assert!(upstream.1 == relayed.1, "the snapshot bytes differ");

    // A relay whose upstream is the relay: the same bytes again.
    let chained = RelayProcess::start(&relay.url(), &[&key], None).await;
    let mut second = snapshot(chained.url()).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while second.0 != upstream.0 {
        assert!(tokio::time::Instant::now() < deadline, "the chained relay does not reach {}", upstream.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        second = snapshot(chained.url()).await;
    }
    assert!(upstream.1 == second.1, "the chained relay's snapshot bytes differ");

    let contexts = vector_contexts();
    assert!(contexts.len() > 20, "the vectors hold contexts");
    for context in &contexts {
        for ask in [json!({ "context": context }), json!({ "flag": "theme", "context": context })] {
            let from_server = post(&server, "/api/v1/evaluate", &browser, &ask).await;
            let from_relay = post(&relay, "/api/v1/evaluate", &browser, &ask).await;
            assert_eq!(from_server, from_relay, "POST /api/v1/evaluate {ask}");
            let from_chained = post(&chained, "/api/v1/evaluate", &browser, &ask).await;
            assert_eq!(from_server, from_chained, "POST /api/v1/evaluate {ask} through two relays");
        }
        let ofrep = ofrep_context(context);
        for path in ["/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/theme", "/ofrep/v1/evaluate/flags/nope"] {
            let from_server = post(&server, path, &browser, &ofrep).await;
            let from_relay = post(&relay, path, &browser, &ofrep).await;
            assert_eq!(from_server, from_relay, "POST {path} {ofrep}");
        }
    }
    // After changes that reach the relays as stream events (not a whole snapshot): the same bytes still.
    admin.serve(&server, "checkout", "off").await;
    let segment = json!({ "included": ["alice", "bob"],
        "conditions": [{ "attribute": "email", "operator": "ends_with", "values": ["@example.com"] }] });
    admin.call(&server, Method::PUT, "/api/v1/segments/staff", Some(segment), 200).await;
    let flag = json!({ "key": "banner", "kind": "boolean" });
    admin.call(&server, Method::POST, "/api/v1/flags", Some(flag), 201).await;
    admin.serve(&server, "banner", "on").await;
    let upstream = snapshot(server.url()).await;
    for at in [relay.url(), chained.url()] {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut relayed = snapshot(at.clone()).await;
        while relayed.0 != upstream.0 {
            assert!(tokio::time::Instant::now() < deadline, "{at} does not reach {}", upstream.0);
            tokio::time::sleep(Duration::from_millis(50)).await;
            relayed = snapshot(at.clone()).await;
        }
        assert!(upstream.1 == relayed.1, "the snapshot bytes differ at {at} after a change");
    }
    // A request without a context is refused alike.
    let bad = json!({ "flag": "theme" });
    assert_eq!(
        post(&server, "/api/v1/evaluate", &browser, &bad).await,
        post(&relay, "/api/v1/evaluate", &browser, &bad).await
    );
}
