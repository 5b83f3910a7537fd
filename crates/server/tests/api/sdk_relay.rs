//! `GET /api/v1/sdk/relay`: what a relay learns of an environment with its server key — the live SDK keys as
//! digests (never secrets), followed through revocations, with an ETag.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Db, TestApp};

both!(relay_information_lists_live_key_digests_and_follows_revocations);

const RELAY: &str = "/api/v1/sdk/relay";
const KEYS: &str = "/api/v1/environments/production/keys";

async fn relay_information_lists_live_key_digests_and_follows_revocations(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    let mut made = Vec::new();
    for (env, kind) in [("production", "server"), ("production", "client"), ("staging", "server")] {
        let path = format!("/api/v1/environments/{env}/keys");
        let created = app.post(&path, json!({ "kind": kind, "name": kind })).await.expect(201).body;
        made.push((created["id"].as_i64().expect("an id"), created["key"].as_str().expect("a secret").to_owned()));
    }
    let server = format!("Bearer {}", made[0].1);
    let reply = app.call(Method::GET, RELAY, None, &[("authorization", &server)]).await.expect(200);
    let text = reply.body.to_string();
    assert!(made.iter().all(|(_, secret)| !text.contains(secret.as_str())), "no secret in {text}");
    assert_eq!(reply.body["environment"], "production");
    let keys = reply.body["keys"].as_array().expect("keys");
    let listed: Vec<_> =
        keys.iter().map(|k| (k["id"].as_i64().unwrap(), k["kind"].clone(), k["digest"].clone())).collect();
    let digest = |secret: &str| json!(pennon_server::auth::secrets::hash(secret));
    assert_eq!(
        listed,
        [(made[0].0, json!("server"), digest(&made[0].1)), (made[1].0, json!("client"), digest(&made[1].1))],
        "production's keys only, as SHA-256 digests"
    );
    let etag = reply.header("etag").expect("an ETag").to_owned();
    app.call(Method::GET, RELAY, None, &[("authorization", &server), ("if-none-match", &etag)]).await.expect(304);

    // A client key may not ask; nor may no key.
    let client = format!("Bearer {}", made[1].1);
    app.call(Method::GET, RELAY, None, &[("authorization", &client)]).await.expect(403);
    app.call(Method::GET, RELAY, None, &[]).await.expect(401);

    // The revoked client key leaves the list, and the ETag changes.
    app.delete(&format!("{KEYS}/{}", made[1].0)).await.expect(204);
    let reply = app.call(Method::GET, RELAY, None, &[("authorization", &server), ("if-none-match", &etag)]).await;
    let reply = reply.expect(200);
    assert_ne!(reply.header("etag"), Some(etag.as_str()));
    let ids: Vec<_> = reply.body["keys"].as_array().unwrap().iter().map(|k| k["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [made[0].0]);
}
