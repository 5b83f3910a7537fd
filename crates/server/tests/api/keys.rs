//! SDK keys: evaluation takes the environment from the key; rotation overlaps; revocation is immediate.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, Reply, TestApp};

both!(keys_bind_their_environment, rotation_overlaps_then_only_the_new_key_works, keys_are_listed_without_secrets);

async fn setup(app: &TestApp) {
    for env in ["production", "staging"] {
        app.environment(env).await;
    }
    app.post("/api/v1/flags", json!({ "key": "beta", "kind": "boolean" })).await.expect(201);
    app.post("/api/v1/flags/beta/environments/production/toggle", json!({ "enabled": true })).await.expect(200);
}

async fn key(app: &TestApp, env: &str, kind: &str) -> Value {
    app.post(&format!("/api/v1/environments/{env}/keys"), json!({ "kind": kind, "name": "web" })).await.expect(201).body
}

async fn evaluate_with(app: &TestApp, key: &str, body: Value) -> Reply {
    let auth = format!("Bearer {key}");
    app.call(Method::POST, "/api/v1/evaluate", Some(body), &[("authorization", &auth)]).await
}

async fn keys_bind_their_environment(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    let client = key(&app, "production", "client").await;
    let client = client["key"].as_str().unwrap();
    assert!(client.starts_with("pnn_cli_"));
    let ctx = json!({ "flag": "beta", "context": { "key": "u1" } });
    let eval = evaluate_with(&app, client, ctx.clone()).await.expect(200);
    assert_eq!(eval.body["reason"]["kind"], "FALLTHROUGH", "production has the flag on");
    let staging = key(&app, "staging", "server").await;
    let off = evaluate_with(&app, staging["key"].as_str().unwrap(), ctx.clone()).await.expect(200);
    assert_eq!(off.body["reason"]["kind"], "OFF", "a staging key reads staging");
    let mut elsewhere = ctx.clone();
    elsewhere["environment"] = json!("staging");
    assert_eq!(evaluate_with(&app, client, elsewhere).await.expect(422).body["field"], "environment");

    let none = app.call(Method::POST, "/api/v1/evaluate", Some(ctx.clone()), &[("authorization", "")]).await;
    none.expect(401);
    evaluate_with(&app, "pnn_cli_0000000000000000000000000000000000000000000000000000000000000000", ctx.clone())
        .await
        .expect(401);
    let ofrep = app
        .call(
            Method::POST,
            "/ofrep/v1/evaluate/flags/beta",
            Some(json!({ "context": { "targetingKey": "u1" } })),
            &[("authorization", &format!("Bearer {client}"))],
        )
        .await
        .expect(200);
    assert_eq!(ofrep.body["key"], "beta");
    assert_eq!(ofrep.body["value"], true, "on, serving its default");
    // SDK keys are no admin credentials.
    app.call(Method::GET, "/api/v1/flags", None, &[("authorization", &format!("Bearer {client}"))]).await.expect(403);
}

async fn rotation_overlaps_then_only_the_new_key_works(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    let old = key(&app, "production", "server").await;
    let (old_key, id) = (old["key"].as_str().unwrap().to_owned(), old["id"].as_i64().unwrap());
    let until = pennon_server::api::common::rfc3339(pennon_server::store::now_millis() + 1_500);
    let rotated = app
        .post(&format!("/api/v1/environments/production/keys/{id}/rotate"), json!({ "old_key_expires_at": until }))
        .await
        .expect(201);
    let new_key = rotated.body["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old_key);
    let ctx = json!({ "flag": "beta", "context": { "key": "u1" } });
    evaluate_with(&app, &old_key, ctx.clone()).await.expect(200);
    evaluate_with(&app, &new_key, ctx.clone()).await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    evaluate_with(&app, &old_key, ctx.clone()).await.expect(401);
    evaluate_with(&app, &new_key, ctx.clone()).await.expect(200);

    let new_id = rotated.body["id"].as_i64().unwrap();
    app.delete(&format!("/api/v1/environments/production/keys/{new_id}")).await.expect(204);
    evaluate_with(&app, &new_key, ctx).await.expect(401);
    app.delete(&format!("/api/v1/environments/production/keys/{new_id}")).await.expect(404);
}

async fn keys_are_listed_without_secrets(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    let made = key(&app, "production", "client").await;
    let secret = made["key"].as_str().unwrap();
    let listed = app.get("/api/v1/environments/production/keys").await.expect(200);
    assert!(!listed.body.to_string().contains(&secret[12..]), "the secret is never listed");
    assert_eq!(listed.body["items"][0]["prefix"], &secret[..12]);
    app.get("/api/v1/environments/nowhere/keys").await.expect(404);
    let bad = app.post("/api/v1/environments/production/keys", json!({ "kind": "root", "name": "x" })).await;
    assert_eq!(bad.expect(400).body["field"], "kind");
}
