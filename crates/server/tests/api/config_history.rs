//! A config's history, reverting to an earlier version, and promoting a config to another environment.

use pennon_engine::Context;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::flags::{audit_actions, colour_flag, evaluated};
use crate::helpers::{Db, TestApp};

both!(history_pages_newest_first, revert, revert_is_validated_again, promote);

const CONFIG: &str = "/api/v1/flags/checkout/environments/production";

async fn app_with_flag(db: Db) -> TestApp {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app
}

fn versions(page: &Value) -> Vec<u64> {
    page["items"].as_array().unwrap().iter().map(|e| e["version"].as_u64().unwrap()).collect()
}

async fn history_pages_newest_first(db: Db) {
    let app = app_with_flag(db).await;
    for _ in 0..6 {
        app.post(&format!("{CONFIG}/toggle"), json!({})).await.expect(200);
    }
    let history = format!("{CONFIG}/history");

    let all = app.get(&history).await.expect(200);
    assert_eq!(versions(&all.body), [7, 6, 5, 4, 3, 2, 1]);
    let newest = &all.body["items"][0];
    assert_eq!(newest["action"], "config.toggle");
    assert_eq!(newest["actor"], "user:admin@pennon.test");
    assert!(newest["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(newest["config"]["version"], 7);
    assert_eq!(newest["config"]["enabled"], false);
    assert_eq!(all.body["items"][1]["config"]["enabled"], true);
    assert_eq!(all.body["items"][6]["action"], "flag.create");

    let mut seen = Vec::new();
    let mut path = format!("{history}?limit=3");
    loop {
        let page = app.get(&path).await.expect(200);
        assert!(versions(&page.body).len() <= 3);
        seen.extend(versions(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("{history}?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [7, 6, 5, 4, 3, 2, 1]);

    // Other environments have their own history; bad parameters and unknown configs are refused.
    assert_eq!(versions(&app.get("/api/v1/flags/checkout/environments/staging/history").await.expect(200).body), [1]);
    assert_eq!(app.get(&format!("{history}?cursor=xyz")).await.expect(400).body["field"], "cursor");
    assert_eq!(app.get(&format!("{history}?limit=0")).await.expect(400).body["field"], "limit");
    app.get(&format!("{history}?since=1")).await.expect(400);
    app.get("/api/v1/flags/missing/environments/production/history").await.expect(404);
    app.get("/api/v1/flags/checkout/environments/nowhere/history").await.expect(404);
}

async fn revert(db: Db) {
    let app = app_with_flag(db).await;
    let pro = json!({ "id": "pro", "conditions": [{ "attribute": "plan", "operator": "eq", "values": ["pro"] }],
        "serve": { "variant": "on" } });
    app.post(&format!("{CONFIG}/toggle"), json!({ "enabled": true })).await.expect(200); // v2
    app.post(&format!("{CONFIG}/rules"), pro).await.expect(200); // v3
    app.put(&format!("{CONFIG}/default"), json!({ "variant": "off" })).await.expect(200); // v4
    app.post(&format!("{CONFIG}/toggle"), json!({ "enabled": false })).await.expect(200); // v5
    let ctx = Context::new("u").with("plan", "pro");
    assert_eq!(evaluated(&app, "production", "checkout", &ctx)["reason"]["kind"], "OFF");

    let reverted = app.post(&format!("{CONFIG}/revert"), json!({ "version": 3, "base_version": 5 })).await.expect(200);
    assert_eq!(reverted.header("etag"), Some("\"6\""));
    let v3 = app.get(&format!("{CONFIG}/history?limit=4")).await.body["items"][3]["config"].clone();
    assert_eq!(v3["version"], 3);
    let mut content = reverted.body.clone();
    for read_only in ["version", "updated_at", "updated_by"] {
        content.as_object_mut().unwrap().remove(read_only);
    }
    let mut old = v3.clone();
    old.as_object_mut().unwrap().remove("version");
    assert_eq!(content, old, "version 6 has version 3's content");
    let eval = evaluated(&app, "production", "checkout", &ctx);
    assert_eq!((eval["reason"]["rule_id"].clone(), eval["version"].clone()), (json!("pro"), json!(6)));
    assert_eq!(evaluated(&app, "production", "checkout", &Context::new("x"))["variant"], "on", "version 3's default");

    let history = app.get(&format!("{CONFIG}/history?limit=1")).await.expect(200);
    assert_eq!(history.body["items"][0]["action"], "config.revert");
    assert_eq!(audit_actions(&app, "checkout").await[0], "config.revert");

    // Back to the very first version, with If-Match.
    let revert = format!("{CONFIG}/revert");
    let first = app.call(Method::POST, &revert, Some(json!({ "version": 1 })), &[("if-match", "6")]).await;
    let first = first.expect(200);
    assert_eq!((first.body["version"].clone(), first.body["enabled"].clone()), (json!(7), json!(false)));
    assert_eq!(first.body["rules"], json!([]));

    app.post(&revert, json!({ "version": 99 })).await.expect(404);
    assert_eq!(
        app.post(&revert, json!({ "version": 2, "base_version": 6 })).await.expect(409).body["current_version"],
        7
    );
    let disagree =
        app.call(Method::POST, &revert, Some(json!({ "version": 2, "base_version": 7 })), &[("if-match", "6")]);
    assert_eq!(disagree.await.expect(422).body["field"], "base_version");
    app.post(&revert, json!({})).await.expect(400);
    app.post(&revert, json!({ "version": -1 })).await.expect(400);
    app.post("/api/v1/flags/checkout/environments/nowhere/revert", json!({ "version": 1 })).await.expect(404);
    assert_eq!(app.state().store.count_audit("config.revert").await.unwrap(), 2);
}

async fn revert_is_validated_again(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    colour_flag(&app, "colour").await;
    let default = "/api/v1/flags/colour/environments/production/default";
    app.put(default, json!({ "variant": "green" })).await.expect(200); // v2
    app.put(default, json!({ "variant": "blue" })).await.expect(200); // v3
    let blue_only = json!({ "variants": [{ "key": "blue", "value": "#00f" }] });
    app.patch("/api/v1/flags/colour", blue_only).await.expect(200);

    let refused = app.post("/api/v1/flags/colour/environments/production/revert", json!({ "version": 2 }));
    let refused = refused.await.expect(422);
    assert_eq!(refused.body["errors"][0]["path"], "default.variant");
    assert_eq!(app.get("/api/v1/flags/colour/environments/production").await.body["version"], 3);
}

async fn promote(db: Db) {
    let app = app_with_flag(db).await;
    let staging = "/api/v1/flags/checkout/environments/staging";
    let config = json!({ "enabled": true, "off_variant": "off",
        "targets": [{ "variant": "on", "keys": ["qa-team"] }],
        "rules": [{ "id": "beta", "conditions": [{ "attribute": "beta", "operator": "eq", "values": [true] }],
            "serve": { "variant": "on" } }],
        "default": { "split": { "bucket_by": "key",
            "weights": [{ "variant": "on", "weight": 10000 }, { "variant": "off", "weight": 90000 }] } } });
    let staged = app.put(staging, config).await.expect(200).body;
    app.post(&format!("{CONFIG}/toggle"), json!({})).await.expect(200); // production v2

    let promoted =
        app.post("/api/v1/flags/checkout/promote", json!({ "from": "staging", "to": "production", "version": 2 }));
    let promoted = promoted.await.expect(200);
    assert_eq!(promoted.header("etag"), Some("\"3\""));
    assert_eq!(promoted.body["environment"], "production");
    for part in ["enabled", "off_variant", "targets", "rules", "default", "prerequisites"] {
        assert_eq!(promoted.body[part], staged[part], "{part} is copied");
    }
    let beta = Context::new("u").with("beta", true);
    assert_eq!(evaluated(&app, "production", "checkout", &beta)["reason"]["rule_id"], "beta");
    let actions = audit_actions(&app, "checkout").await;
    assert_eq!(actions[..3], ["config.promote", "config.toggle", "config.replace"]);
    assert_eq!(app.get(staging).await.body["version"], 2, "the source is untouched");

    let promote = "/api/v1/flags/checkout/promote";
    let same = app.post(promote, json!({ "from": "staging", "to": "staging" })).await.expect(422);
    assert_eq!(same.body["field"], "to");
    let stale = app.call(
        Method::POST,
        promote,
        Some(json!({ "from": "staging", "to": "production" })),
        &[("if-match", "\"2\"")],
    );
    assert_eq!(stale.await.expect(409).body["current_version"], 3);
    app.post(promote, json!({ "from": "nowhere", "to": "production" })).await.expect(404);
    app.post(promote, json!({ "from": "staging", "to": "nowhere" })).await.expect(404);
    app.post("/api/v1/flags/missing/promote", json!({ "from": "staging", "to": "production" })).await.expect(404);
    assert_eq!(app.post(promote, json!({ "from": "staging" })).await.expect(400).body["status"], 400);

    // A prerequisite is checked in the target environment: a cycle there refuses the copy.
    app.post("/api/v1/flags", json!({ "key": "payments", "kind": "boolean" })).await.expect(201);
    let needs = |flag: &str| json!({ "prerequisites": [{ "flag": flag, "variant": "on" }] });
    app.put(&format!("{staging}/prerequisites"), needs("payments")).await.expect(200);
    app.put("/api/v1/flags/payments/environments/production/prerequisites", needs("checkout")).await.expect(200);
    let cycle = app.post(promote, json!({ "from": "staging", "to": "production" })).await.expect(422);
    assert_eq!(cycle.body["errors"][0]["path"], "prerequisites[0].flag");
    assert_eq!(app.state().store.count_audit("config.promote").await.unwrap(), 1);
}
