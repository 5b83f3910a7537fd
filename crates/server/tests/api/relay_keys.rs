//! Relay credentials (`pnn_rly_...`): created, listed, rotated and revoked by an admin only, audited; with
//! one a relay reads, for each environment it names, what a server key of that environment may read for
//! relaying — and nothing else.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp};
use crate::sse::{SseReader, bearer};

both!(
    a_relay_key_reads_the_environments_it_names_and_nothing_else,
    only_an_admin_manages_relay_keys,
    a_revoked_relay_key_stops_at_once,
    a_rotated_relay_key_names_the_same_environments
);

const RELAY_KEYS: &str = "/api/v1/relay-keys";

/// `production`, `staging` and `development`, with the flag `checkout`; a relay key naming the first two.
async fn app_with_relay_key(db: Db) -> (TestApp, i64, String) {
    let app = TestApp::spawn(db).await;
    for env in ["production", "staging", "development"] {
        app.environment(env).await;
    }
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let body = json!({ "name": "edge relay", "environments": ["production", "staging"] });
    let created = app.post(RELAY_KEYS, body).await.expect(201).body;
    let secret = created["key"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("pnn_rly_") && secret.len() == 8 + 64, "{secret}");
    assert_eq!(created["environments"], json!(["production", "staging"]));
    (app, created["id"].as_i64().expect("an id"), secret)
}

/// `GET path` with `secret`, naming `environment` in the header.
async fn get_as(app: &TestApp, path: &str, secret: &str, environment: &str) -> crate::helpers::Reply {
    let auth = bearer(secret);
    app.call(Method::GET, path, None, &[("authorization", &auth), ("x-pennon-environment", environment)]).await
}

async fn a_relay_key_reads_the_environments_it_names_and_nothing_else(db: Db) {
    let (app, _, secret) = app_with_relay_key(db).await;
    let auth = bearer(&secret);
    for env in ["production", "staging"] {
        let snapshot = get_as(&app, "/api/v1/sdk/snapshot", &secret, env).await.expect(200).body;
        assert_eq!(snapshot["environment"], env);
        assert!(snapshot["flags"].to_string().contains("checkout"), "{snapshot}");
        let info = get_as(&app, "/api/v1/sdk/relay", &secret, env).await.expect(200).body;
        assert_eq!(info["environment"], env);
    }
    // The query parameter names the environment too.
    let by_query = "/api/v1/sdk/snapshot?environment=staging";
    let reply = app.call(Method::GET, by_query, None, &[("authorization", &auth)]).await.expect(200);
    assert_eq!(reply.body["environment"], "staging");
    // Not a third environment; not without naming one.
    get_as(&app, "/api/v1/sdk/snapshot", &secret, "development").await.expect(403);
    get_as(&app, "/api/v1/sdk/relay", &secret, "development").await.expect(403);
    let missing = app.call(Method::GET, "/api/v1/sdk/snapshot", None, &[("authorization", &auth)]).await.expect(422);
    assert!(missing.body.to_string().contains("environment"), "{}", missing.body);
    // Metrics are taken for a named environment.
    let batch = json!({ "exposures": [], "metrics": [] });
    let headers = [("authorization", auth.as_str()), ("x-pennon-environment", "production")];
    let reply = app.call(Method::POST, "/api/v1/sdk/metrics", Some(batch), &headers).await;
    assert!(reply.status.is_success(), "metrics refused: {} {}", reply.status, reply.body);
    // The stream opens with a put of the named environment.
    let mut stream = SseReader::open(&app, "/api/v1/sdk/stream", &headers).await;
    assert!(stream.next().await.retry.is_some());
    assert_eq!(stream.next_event().await.event.as_deref(), Some("put"));

    // Nothing else: not the admin API, not evaluation.
    for (method, path) in [
        (Method::GET, "/api/v1/flags"),
        (Method::GET, "/api/v1/environments/production/keys"),
        (Method::GET, RELAY_KEYS),
        (Method::POST, "/api/v1/flags/checkout/environments/production/toggle"),
    ] {
        let reply = app.call(method.clone(), path, None, &headers).await;
        assert!([401, 403].contains(&reply.status.as_u16()), "{method} {path} answered {}", reply.status);
    }
    let ask = json!({ "flag": "checkout", "environment": "production", "context": { "key": "u1" } });
    for path in ["/api/v1/evaluate", "/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/checkout"] {
        let reply = app.call(Method::POST, path, Some(ask.clone()), &headers).await;
        assert!([401, 403].contains(&reply.status.as_u16()), "{path} answered {}: {}", reply.status, reply.body);
    }
}

async fn only_an_admin_manages_relay_keys(db: Db) {
    let (app, id, _) = app_with_relay_key(db).await;
    let editor = app.post("/api/v1/tokens", json!({ "name": "ci", "role": "editor" })).await.expect(201).body;
    let editor = bearer(editor["token"].as_str().expect("a token"));
    let body = json!({ "name": "sneaky", "environments": ["production"] });
    app.call(Method::POST, RELAY_KEYS, Some(body), &[("authorization", &editor)]).await.expect(403);
    app.call(Method::GET, RELAY_KEYS, None, &[("authorization", &editor)]).await.expect(403);
    app.call(Method::DELETE, &format!("{RELAY_KEYS}/{id}"), None, &[("authorization", &editor)]).await.expect(403);

    // Bad input names its field; an unknown environment is 404.
    let bad = app.post(RELAY_KEYS, json!({ "name": "x", "environments": [] })).await.expect(422);
    assert!(bad.body.to_string().contains("environments"), "{}", bad.body);
    let bad = app.post(RELAY_KEYS, json!({ "name": "x", "environments": ["Not A Key"] })).await.expect(400);
    assert!(bad.body.to_string().contains("environments[0]"), "{}", bad.body);
    app.post(RELAY_KEYS, json!({ "name": "x", "environments": ["production", "nowhere"] })).await.expect(404);

    // The list shows no secret; the creation is audited.
    let list = app.get(RELAY_KEYS).await.expect(200).body;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert!(items[0].get("key").is_none() && items[0]["prefix"].as_str().unwrap().starts_with("pnn_rly_"));
    let audit = app.get("/api/v1/audit").await.expect(200).body;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"relay_key.create"), "{actions:?}");
}

async fn a_revoked_relay_key_stops_at_once(db: Db) {
    let (app, id, secret) = app_with_relay_key(db).await;
    let auth = bearer(&secret);
    let headers = [("authorization", auth.as_str()), ("x-pennon-environment", "staging")];
    let mut stream = SseReader::open(&app, "/api/v1/sdk/stream", &headers).await;
    assert!(stream.next().await.retry.is_some());
    assert_eq!(stream.next_event().await.event.as_deref(), Some("put"));

    app.delete(&format!("{RELAY_KEYS}/{id}")).await.expect(204);
    assert!(stream.ends_within(Duration::from_secs(1)).await, "the revoked relay key's stream is still open");
    get_as(&app, "/api/v1/sdk/snapshot", &secret, "staging").await.expect(401);
    get_as(&app, "/api/v1/sdk/relay", &secret, "production").await.expect(401);
    app.delete(&format!("{RELAY_KEYS}/{id}")).await.expect(404);
    let list = app.get(RELAY_KEYS).await.expect(200).body;
    assert!(list["items"][0]["revoked_at"].is_string(), "{list}");
    let audit = app.get("/api/v1/audit").await.expect(200).body;
    assert!(audit.to_string().contains("relay_key.revoke"), "the revocation is audited");
}

async fn a_rotated_relay_key_names_the_same_environments(db: Db) {
    let (app, id, old) = app_with_relay_key(db).await;
    let rotated: Value = app
        .post(&format!("{RELAY_KEYS}/{id}/rotate"), json!({ "old_key_expires_at": "2000-01-01T00:00:00Z" }))
        .await
        .expect(201)
        .body;
    let new = rotated["key"].as_str().expect("a secret");
    assert_ne!(new, old);
    assert_eq!(rotated["environments"], json!(["production", "staging"]));
    get_as(&app, "/api/v1/sdk/snapshot", new, "staging").await.expect(200);
    get_as(&app, "/api/v1/sdk/snapshot", &old, "staging").await.expect(401);
}
