//! `/flags/{flag}/environments/{env}/rules`: add, replace, delete and reorder rules one edit at a time.

use pennon_engine::Context;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::flags::{audit_actions, evaluated};
use crate::helpers::{Db, TestApp};

both!(add_update_delete, reorder, rule_edits_refuse_bad_input);

const RULES: &str = "/api/v1/flags/checkout/environments/production/rules";

async fn app_with_flag(db: Db) -> TestApp {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app.post("/api/v1/flags/checkout/environments/production/toggle", json!({ "enabled": true })).await.expect(200);
    app
}

fn rule(id: &str, attribute: &str, value: &str) -> Value {
    json!({ "id": id, "conditions": [{ "attribute": attribute, "operator": "eq", "values": [value] }],
        "serve": { "variant": "on" } })
}

fn ids(config: &Value) -> Vec<String> {
    config["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

fn paths(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap().to_owned()).collect()
}

async fn add_update_delete(db: Db) {
    let app = app_with_flag(db).await;
    let german = Context::new("u1").with("country", "DE");

    let added = app.post(RULES, rule("germany", "country", "DE")).await.expect(200);
    assert_eq!(added.header("etag"), Some("\"3\""));
    let eval = evaluated(&app, "production", "checkout", &german);
    assert_eq!(eval["reason"], json!({ "kind": "RULE_MATCH", "rule_id": "germany", "rule_index": 0 }));

    let mut second = rule("pro", "plan", "pro");
    second["version"] = json!(3);
    second["description"] = json!("paying customers");
    assert_eq!(ids(&app.post(RULES, second).await.expect(200).body), ["germany", "pro"]);
    let mut first = rule("staff", "email", "boss@example.com");
    first["index"] = json!(0);
    let body = app.post(RULES, first).await.expect(200).body;
    assert_eq!(ids(&body), ["staff", "germany", "pro"]);
    assert_eq!(body["rules"][2]["description"], "paying customers");
    assert_eq!(evaluated(&app, "production", "checkout", &german)["reason"]["rule_index"], 1);

    // Replace in place: same position, new content; a new id may be given.
    let split = json!({ "split": { "bucket_by": "key",
        "weights": [{ "variant": "on", "weight": 50000 }, { "variant": "off", "weight": 50000 }] } });
    let replaced = app
        .call(
            Method::PUT,
            &format!("{RULES}/germany"),
            Some(json!({ "conditions": [{ "attribute": "country", "operator": "in", "values": ["DE", "AT"] }],
                "serve": split })),
            &[("if-match", "\"5\"")],
        )
        .await
        .expect(200);
    assert_eq!(ids(&replaced.body), ["staff", "germany", "pro"]);
    assert_eq!(replaced.body["rules"][1]["serve"], split);
    let austrian = Context::new("u1").with("country", "AT");
    let eval = evaluated(&app, "production", "checkout", &austrian);
    assert_eq!(eval["reason"]["rule_id"], "germany");
    assert!(eval["reason"]["bucket"].is_u64(), "a split reports its bucket: {eval}");
    let renamed = app.put(&format!("{RULES}/germany"), json!({ "id": "dach", "serve": { "variant": "off" } })).await;
    assert_eq!(ids(&renamed.expect(200).body), ["staff", "dach", "pro"]);
    let eval = evaluated(&app, "production", "checkout", &austrian);
    assert_eq!((&eval["reason"]["rule_id"], &eval["variant"]), (&json!("dach"), &json!("off")), "{eval}");

    let deleted = app.call(Method::DELETE, &format!("{RULES}/staff"), None, &[("if-match", "7")]).await.expect(200);
    assert_eq!(ids(&deleted.body), ["dach", "pro"]);
    assert_eq!(deleted.body["version"], 8);
    let with_body = app.call(Method::DELETE, &format!("{RULES}/dach"), Some(json!({ "version": 8 })), &[]).await;
    assert_eq!(ids(&with_body.expect(200).body), ["pro"]);
    let pro = Context::new("u2").with("plan", "pro");
    assert_eq!(evaluated(&app, "production", "checkout", &pro)["reason"]["rule_index"], 0);

    let actions = audit_actions(&app, "checkout").await;
    assert_eq!(
        actions,
        [
            "config.rule.delete",
            "config.rule.delete",
            "config.rule.update",
            "config.rule.update",
            "config.rule.add",
            "config.rule.add",
            "config.rule.add",
            "config.toggle",
            "flag.create"
        ]
    );
}

async fn reorder(db: Db) {
    let app = app_with_flag(db).await;
    for (id, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        app.post(RULES, rule(id, "tier", value)).await.expect(200);
    }
    let both_match = Context::new("u").with("tier", "2");
    app.post(RULES, rule("d", "key", "u")).await.expect(200);
    assert_eq!(evaluated(&app, "production", "checkout", &both_match)["reason"]["rule_id"], "b");

    let reorder = format!("{RULES}/reorder");
    let reordered = app.post(&reorder, json!({ "order": ["d", "c", "b", "a"], "version": 6 })).await.expect(200);
    assert_eq!(ids(&reordered.body), ["d", "c", "b", "a"]);
    assert_eq!(reordered.body["version"], 7);
    assert_eq!(evaluated(&app, "production", "checkout", &both_match)["reason"]["rule_id"], "d");

    let missing = app.post(&reorder, json!({ "order": ["a", "b", "c"] })).await.expect(422);
    assert_eq!(paths(&missing.body), ["order"]);
    assert!(missing.body["errors"][0]["message"].as_str().unwrap().contains("\"d\""));
    let wrong = app.post(&reorder, json!({ "order": ["a", "b", "c", "d", "a", "x"] })).await.expect(422);
    assert_eq!(paths(&wrong.body), ["order[4]", "order[5]"]);
    let stale = app.post(&reorder, json!({ "order": ["a", "b", "c", "d"], "version": 6 })).await.expect(409);
    assert_eq!(stale.body["current_version"], 7);
    app.post(&reorder, json!({ "order": "a,b" })).await.expect(400);
    let got = app.get("/api/v1/flags/checkout/environments/production").await.expect(200);
    assert_eq!(ids(&got.body), ["d", "c", "b", "a"]);
    assert_eq!(app.state().store.count_audit("config.rules.reorder").await.unwrap(), 1);
}

async fn rule_edits_refuse_bad_input(db: Db) {
    let app = app_with_flag(db).await;
    app.post(RULES, rule("a", "plan", "pro")).await.expect(200);

    let duplicate = app.post(RULES, rule("a", "plan", "free")).await.expect(422);
    assert_eq!(paths(&duplicate.body), ["rules[1].id"]);
    let mut at = rule("b", "plan", "free");
    at["index"] = json!(5);
    assert_eq!(paths(&app.post(RULES, at).await.expect(422).body), ["index"]);
    assert_eq!(paths(&app.post(RULES, rule("Bad Id", "plan", "x")).await.expect(422).body), ["rules[1].id"]);
    assert_eq!(paths(&app.post(RULES, rule("reorder", "plan", "x")).await.expect(422).body), ["rules[1].id"]);
    let bad = json!({ "id": "b", "conditions": [
            { "attribute": "version", "operator": "semver_gt", "values": ["1.x"] },
            { "attribute": "", "operator": "exists", "values": [1] },
            { "attribute": "email", "operator": "matches", "values": ["("] }],
        "segments": ["nobody"],
        "serve": { "split": { "weights": [{ "variant": "on", "weight": 99999 }] } } });
    assert_eq!(
        paths(&app.post(RULES, bad).await.expect(422).body),
        [
            "rules[1].conditions[0].values[0]",
            "rules[1].conditions[1].attribute",
            "rules[1].conditions[1].values",
            "rules[1].conditions[2].values[0]",
            "rules[1].segments[0]",
            "rules[1].serve.split.weights"
        ]
    );
    let wrong_operator = json!({ "id": "b", "conditions": [{ "attribute": "x", "operator": "like", "values": ["y"] }],
        "serve": { "variant": "on" } });
    assert_eq!(app.post(RULES, wrong_operator).await.expect(400).body["field"], "conditions[0].operator");
    let no_serve = app.post(RULES, json!({ "id": "b" })).await.expect(400);
    assert!(no_serve.body["detail"].as_str().unwrap().contains("serve"), "{}", no_serve.body);
    let mut extra = rule("b", "plan", "x");
    extra["priority"] = json!(1);
    assert_eq!(app.post(RULES, extra).await.expect(400).body["field"], "priority");

    app.put(&format!("{RULES}/nope"), json!({ "serve": { "variant": "on" } })).await.expect(404);
    app.delete(&format!("{RULES}/nope")).await.expect(404);
    let clash = app.post(RULES, rule("b", "plan", "x")).await.expect(200);
    assert_eq!(clash.body["version"], 4);
    let renamed_into = app.put(&format!("{RULES}/b"), json!({ "id": "a", "serve": { "variant": "on" } })).await;
    assert_eq!(paths(&renamed_into.expect(422).body), ["rules[1].id"]);
    let stale = app.call(Method::DELETE, &format!("{RULES}/a"), None, &[("if-match", "3")]).await.expect(409);
    assert_eq!(stale.body["current_version"], 4);
    let stale = app.put(&format!("{RULES}/a"), json!({ "serve": { "variant": "on" }, "version": 3 })).await;
    assert_eq!(stale.expect(409).body["current_version"], 4);
    app.post("/api/v1/flags/missing/environments/production/rules", rule("x", "a", "b")).await.expect(404);
    app.post("/api/v1/flags/checkout/environments/nowhere/rules", rule("x", "a", "b")).await.expect(404);

    let got = app.get("/api/v1/flags/checkout/environments/production").await.expect(200);
    assert_eq!(ids(&got.body), ["a", "b"]);
    assert_eq!(got.body["version"], 4);
}
