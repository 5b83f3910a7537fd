//! The client against a scripted server (real HTTP on 127.0.0.1): the stream's events and how they apply,
//! malformed and truncated input, reconnection, fallback to polling, refused keys, outages with a cache
//! file, and metrics batches.

mod server;

mod events;
mod fallback;
mod outage;
mod retry_after;
mod stream;

use std::time::Duration;

use pennon_sdk::{Client, ClientBuilder};
use serde_json::{Value, json};

pub use server::{ScriptedServer, StreamPlan};

pub const KEY: &str = "pnn_srv_test-key";

/// A boolean flag serving `serve` (`on` or `off`) to everyone.
pub fn flag(key: &str, version: u64, serve: &str) -> Value {
    json!({
        "definition": { "key": key, "kind": "boolean", "salt": format!("salt-{key}"),
            "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
        "config": { "flag": key, "environment": "production", "version": version, "enabled": true,
            "off_variant": "off", "default": { "variant": serve } }
    })
}

pub fn snapshot(revision: u64, flags: Vec<Value>) -> Value {
    json!({ "environment": "production", "revision": revision, "flags": Value::Array(flags), "segments": [] })
}

pub fn patch(revision: u64, flag: &Value) -> Value {
    let key = flag["definition"]["key"].clone();
    json!({ "revision": revision, "kind": "flag", "key": key, "version": flag["config"]["version"], "object": flag })
}

pub fn delete(revision: u64, key: &str) -> Value {
    json!({ "revision": revision, "kind": "flag", "key": key })
}

/// A client with short delays, for tests.
pub fn builder(server: &ScriptedServer) -> ClientBuilder {
    Client::builder(server.url(), KEY)
        .reconnect_delays(Duration::from_millis(10), Duration::from_millis(50))
        .poll_interval(Duration::from_millis(100))
        .request_timeout(Duration::from_secs(2))
        .events(false)
}

/// Waits (up to 10 s) until `condition` holds.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
