//! A restart keeps environments, flags, configs and their history, and evaluates exactly as before.

use pennon_engine::Context;
use serde_json::{Value, json};

use crate::both;
use crate::flags::colour_flag;
use crate::helpers::{Db, TestApp};

both!(restart_keeps_everything);

/// Everything the API shows about the flags, and how each environment evaluates them for a few contexts.
async fn observe(app: &TestApp) -> (Value, Vec<Value>) {
    let mut shown = vec![
        app.get("/api/v1/environments").await.expect(200).body,
        app.get("/api/v1/flags").await.expect(200).body,
        app.get("/api/v1/flags?archived=true").await.expect(200).body,
    ];
    for flag in ["checkout", "colour", "retired"] {
        shown.push(app.get(&format!("/api/v1/flags/{flag}")).await.expect(200).body);
        for env in ["production", "staging"] {
            let config = format!("/api/v1/flags/{flag}/environments/{env}");
            shown.push(app.get(&config).await.expect(200).body);
            shown.push(app.get(&format!("{config}/history")).await.expect(200).body);
        }
    }
    let mut evaluations = Vec::new();
    for env in ["production", "staging"] {
        let snapshot = app.state().snapshots.get(env).expect("snapshot");
        evaluations.push(json!({ "environment": env, "revision": snapshot.revision() }));
        for i in 0..50 {
            let plan = if i % 3 == 0 { "pro" } else { "free" };
            let ctx = Context::new(format!("user-{i}")).with("plan", plan);
            evaluations.push(serde_json::to_value(snapshot.compiled.evaluate_all(&ctx)).unwrap());
        }
    }
    (Value::Array(shown), evaluations)
}

async fn restart_keeps_everything(db: Db) {
    let mut app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean", "tags": ["web"] })).await.expect(201);
    colour_flag(&app, "colour").await;
    app.post("/api/v1/flags", json!({ "key": "retired", "kind": "boolean" })).await.expect(201);

    let checkout = "/api/v1/flags/checkout/environments/production";
    app.post(&format!("{checkout}/toggle"), json!({})).await.expect(200);
    let pro = json!({ "id": "pro", "conditions": [{ "attribute": "plan", "operator": "eq", "values": ["pro"] }],
        "serve": { "variant": "on" } });
    app.post(&format!("{checkout}/rules"), pro).await.expect(200);
    app.put(&format!("{checkout}/default"), json!({ "rollout": { "variant": "on", "percent": 30 } })).await.expect(200);
    app.put(&format!("{checkout}/targets"), json!({ "targets": [{ "variant": "off", "keys": ["user-3"] }] }))
        .await
        .expect(200);
    app.post("/api/v1/flags/checkout/promote", json!({ "from": "production", "to": "staging" })).await.expect(200);
    app.post("/api/v1/flags/checkout/environments/staging/toggle", json!({ "enabled": false })).await.expect(200);
    let colour = "/api/v1/flags/colour/environments/production";
    app.post(&format!("{colour}/toggle"), json!({})).await.expect(200);
    let split = json!({ "split": { "weights": [{ "variant": "blue", "weight": 50000 }, { "variant": "green", "weight": 50000 }] } });
    app.put(&format!("{colour}/default"), split).await.expect(200);
    app.post(&format!("{colour}/revert"), json!({ "version": 2 })).await.expect(200);
    app.post("/api/v1/flags/retired/archive", json!({})).await.expect(200);

    let before = observe(&app).await;
    let audit_before = app.state().store.count_audit("").await.unwrap();
    app.restart().await;
    let after = observe(&app).await;
    assert_eq!(after.0, before.0, "the API shows the same after a restart");
    assert_eq!(after.1, before.1, "evaluation gives the same after a restart");
    assert_eq!(app.state().store.count_audit("").await.unwrap(), audit_before);

    // Work continues where it stopped.
    let next = app.post(&format!("{checkout}/toggle"), json!({ "version": 5 })).await.expect(200);
    assert_eq!(next.body["version"], 6);
    let ctx = Context::new("user-0").with("plan", "pro");
    let snapshot = app.state().snapshots.get("production").unwrap();
    assert_eq!(snapshot.compiled.evaluate("checkout", &ctx).reason.kind(), "OFF");
}
