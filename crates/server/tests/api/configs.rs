//! `/flags/{flag}/environments/{env}`: reading and replacing a config, and the small edits.

use pennon_engine::Context;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::flags::{colour_flag, evaluated};
use crate::helpers::{Db, TestApp};

both!(get_and_replace, replace_refuses_bad_input, toggle, default_split_and_rollout, targets_and_prerequisites);

const CONFIG: &str = "/api/v1/flags/checkout/environments/production";

/// An app with `production` and `staging` and the boolean flag `checkout`.
async fn app_with_flag(db: Db) -> TestApp {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app
}

fn paths(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap().to_owned()).collect()
}

async fn get_and_replace(db: Db) {
    let app = app_with_flag(db).await;
    let got = app.get(CONFIG).await.expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.body["flag"], "checkout");
    assert_eq!(got.body["environment"], "production");
    assert_eq!(got.body["version"], 1);
    assert_eq!(got.body["updated_by"], "user:admin@pennon.test");
    assert!(got.body["updated_at"].as_str().unwrap().ends_with('Z'));

    let config = json!({
        "version": 1, "enabled": true, "off_variant": "off",
        "targets": [{ "variant": "off", "keys": ["blocked-user"] }],
        "rules": [{ "id": "pro", "description": "paying customers",
            "conditions": [{ "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] }],
            "serve": { "variant": "on" } }],
        "default": { "variant": "off" }
    });
    let replaced = app.put(CONFIG, config).await.expect(200);
    assert_eq!(replaced.header("etag"), Some("\"2\""));
    assert_eq!(replaced.body["version"], 2);
    assert_eq!(replaced.body["rules"][0]["id"], "pro");
    assert_eq!(replaced.body["prerequisites"], json!([]));

    let pro = Context::new("user-1").with("plan", "pro");
    let eval = evaluated(&app, "production", "checkout", &pro);
    assert_eq!(eval["variant"], "on");
    assert_eq!(eval["version"], 2);
    assert_eq!(eval["reason"], json!({ "kind": "RULE_MATCH", "rule_id": "pro", "rule_index": 0 }));
    let blocked = evaluated(&app, "production", "checkout", &Context::new("blocked-user").with("plan", "pro"));
    assert_eq!(blocked["reason"]["kind"], "TARGET_MATCH");
    assert_eq!(evaluated(&app, "production", "checkout", &Context::new("user-2"))["reason"]["kind"], "FALLTHROUGH");
    assert_eq!(evaluated(&app, "staging", "checkout", &pro)["reason"]["kind"], "OFF", "other environments keep theirs");

    // What GET answers can be changed and sent back as it is, with If-Match.
    let mut round_trip = app.get(CONFIG).await.expect(200).body;
    round_trip["enabled"] = json!(false);
    round_trip.as_object_mut().unwrap().remove("version");
    let back = app.call(Method::PUT, CONFIG, Some(round_trip.clone()), &[("if-match", "\"2\"")]).await.expect(200);
    assert_eq!(back.body["enabled"], false);
    assert_eq!(back.body["rules"], replaced.body["rules"]);
    assert_eq!(evaluated(&app, "production", "checkout", &pro)["reason"]["kind"], "OFF");

    // Stale versions are refused, whichever way they are named.
    let stale = app.call(Method::PUT, CONFIG, Some(round_trip.clone()), &[("if-match", "\"2\"")]).await.expect(409);
    assert_eq!(stale.body["current_version"], 3);
    assert_eq!(stale.header("content-type"), Some("application/problem+json"));
    round_trip["version"] = json!(1);
    assert_eq!(app.put(CONFIG, round_trip.clone()).await.expect(409).body["current_version"], 3);
    let disagree = app.call(Method::PUT, CONFIG, Some(round_trip), &[("if-match", "3")]).await.expect(422);
    assert_eq!(disagree.body["field"], "version");

    let history = app.get(&format!("{CONFIG}/history")).await.expect(200);
    let actions: Vec<_> = history.body["items"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect();
    assert_eq!(actions, [json!("config.replace"), json!("config.replace"), json!("flag.create")]);
    assert_eq!(app.state().store.count_audit("config.replace").await.unwrap(), 2);
}

async fn replace_refuses_bad_input(db: Db) {
    let app = app_with_flag(db).await;
    let valid = json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } });
    app.put("/api/v1/flags/missing/environments/production", valid.clone()).await.expect(404);
    let no_env = app.put("/api/v1/flags/checkout/environments/nowhere", valid.clone()).await.expect(404);
    assert!(no_env.body["detail"].as_str().unwrap().contains("environment"), "{}", no_env.body);
    app.get("/api/v1/flags/checkout/environments/nowhere").await.expect(404);
    app.get("/api/v1/flags/missing/environments/production").await.expect(404);

    let mut other_flag = valid.clone();
    other_flag["flag"] = json!("another");
    assert_eq!(app.put(CONFIG, other_flag).await.expect(422).body["field"], "flag");
    let mut other_env = valid.clone();
    other_env["environment"] = json!("staging");
    assert_eq!(app.put(CONFIG, other_env).await.expect(422).body["field"], "environment");
    let mut unknown = valid.clone();
    unknown["colour"] = json!("red");
    assert_eq!(app.put(CONFIG, unknown).await.expect(400).body["field"], "colour");
    let mut wrong_type = valid.clone();
    wrong_type["enabled"] = json!("yes");
    assert_eq!(app.put(CONFIG, wrong_type).await.expect(400).body["field"], "enabled");
    let mut bad_serve = valid.clone();
    bad_serve["default"] = json!({ "everyone": "on" });
    assert_eq!(app.put(CONFIG, bad_serve).await.expect(400).body["field"], "default");
    let no_default = json!({ "enabled": true, "off_variant": "off" });
    assert!(app.put(CONFIG, no_default).await.expect(400).body["detail"].as_str().unwrap().contains("default"));
    app.call(Method::PUT, CONFIG, Some(valid.clone()), &[("if-match", "seven")]).await.expect(400);

    // Every validation problem at once, each with its path.
    let invalid = json!({
        "enabled": true, "off_variant": "maybe",
        "targets": [{ "variant": "on", "keys": ["u1"] }, { "variant": "off", "keys": ["u1"] }],
        "rules": [
            { "id": "a", "serve": { "variant": "on" } },
            { "id": "a", "conditions": [{ "attribute": "app_version", "operator": "semver_gt", "values": ["two"] }],
              "segments": ["nobody"], "serve": { "variant": "on" } },
            { "id": "c", "serve": { "split": { "weights": [{ "variant": "on", "weight": 10 }] } } }
        ],
        "default": { "variant": "on" },
        "prerequisites": [{ "flag": "ghost", "variant": "on" }]
    });
    let refused = app.put(CONFIG, invalid).await.expect(422);
    assert_eq!(
        paths(&refused.body),
        [
            "off_variant",
            "targets[1].keys[0]",
            "rules[1].id",
            "rules[1].conditions[0].values[0]",
            "rules[1].segments[0]",
            "rules[2].serve.split.weights",
            "prerequisites[0].flag"
        ]
    );
    assert_eq!(refused.body["field"], "off_variant");
    assert_eq!(refused.body["type"], "/problems/validation-failed");

    let reserved = json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" },
        "rules": [{ "id": "reorder", "serve": { "variant": "on" } }] });
    assert_eq!(paths(&app.put(CONFIG, reserved).await.expect(422).body), ["rules[0].id"]);

    // Nothing was written.
    let got = app.get(CONFIG).await.expect(200);
    assert_eq!(got.body["version"], 1);
    assert_eq!(app.state().store.count_audit("config.").await.unwrap(), 0);
    app.put(CONFIG, valid).await.expect(200);
}

async fn toggle(db: Db) {
    let app = app_with_flag(db).await;
    let toggle = format!("{CONFIG}/toggle");
    let ctx = Context::new("user-1");
    app.put(&format!("{CONFIG}/default"), json!({ "variant": "on" })).await.expect(200);

    let on = app.call(Method::POST, &toggle, None, &[]).await.expect(200);
    assert_eq!(on.body["enabled"], true);
    assert_eq!(on.header("etag"), Some("\"3\""));
    assert_eq!(evaluated(&app, "production", "checkout", &ctx)["variant"], "on");
    let off = app.call(Method::POST, &toggle, None, &[("if-match", "\"3\"")]).await.expect(200);
    assert_eq!(off.body["enabled"], false);
    assert_eq!(evaluated(&app, "production", "checkout", &ctx)["reason"]["kind"], "OFF");

    for _ in 0..2 {
        let set = app.post(&toggle, json!({ "enabled": true })).await.expect(200);
        assert_eq!(set.body["enabled"], true, "an explicit value sets, not flips");
    }
    let stale = app.post(&toggle, json!({ "enabled": false, "version": 3 })).await.expect(409);
    assert_eq!(stale.body["current_version"], 6);
    let stale = app.call(Method::POST, &toggle, None, &[("if-match", "5")]).await.expect(409);
    assert_eq!(stale.body["current_version"], 6);
    assert_eq!(app.post(&toggle, json!({ "enabled": "yes" })).await.expect(400).body["field"], "enabled");
    assert_eq!(app.post(&toggle, json!({ "on": true })).await.expect(400).body["field"], "on");
    let text = app.call(Method::POST, &toggle, None, &[("content-type", "text/plain")]).await;
    assert_eq!(text.expect(200).body["enabled"], false, "an empty body of any type flips");
    let reqwest_text = app
        .client
        .post(format!("{}{toggle}", app.base))
        .bearer_auth(&app.admin_token)
        .body("enabled")
        .send()
        .await
        .unwrap();
    assert_eq!(reqwest_text.status(), 415);
    app.post("/api/v1/flags/checkout/environments/nowhere/toggle", json!({})).await.expect(404);
    app.post("/api/v1/flags/missing/environments/production/toggle", json!({})).await.expect(404);

    let got = app.get(CONFIG).await.expect(200);
    assert_eq!(got.body["version"], 7);
    assert_eq!(got.body["enabled"], false);
    assert_eq!(app.state().store.count_audit("config.toggle").await.unwrap(), 5);
}

async fn default_split_and_rollout(db: Db) {
    let app = app_with_flag(db).await;
    let default = format!("{CONFIG}/default");
    let toggle = format!("{CONFIG}/toggle");
    app.post(&toggle, json!({ "enabled": true })).await.expect(200);
    let salt = app.get("/api/v1/flags/checkout").await.body["salt"].as_str().unwrap().to_owned();

    let rollout = app.put(&default, json!({ "rollout": { "variant": "on", "percent": 25 }, "version": 2 }));
    let rollout = rollout.await.expect(200);
    let split = json!({ "split": { "bucket_by": "key",
        "weights": [{ "variant": "on", "weight": 25000 }, { "variant": "off", "weight": 75000 }] } });
    assert_eq!(rollout.body["default"], split);
    let mut on = 0;
    for i in 0..400 {
        let key = format!("user-{i}");
        let eval = evaluated(&app, "production", "checkout", &Context::new(key.as_str()));
        let bucket = pennon_engine::bucket(&salt, &key);
        assert_eq!(eval["reason"], json!({ "kind": "FALLTHROUGH", "bucket": bucket }));
        assert_eq!(eval["variant"], if bucket < 25_000 { "on" } else { "off" });
        on += usize::from(eval["variant"] == "on");
    }
    assert!((60..140).contains(&on), "about a quarter of 400 contexts get on, got {on}");

    let fine = app.put(&default, json!({ "rollout": { "variant": "off", "percent": 0.125, "bucket_by": "org" } }));
    let fine = fine.await.expect(200);
    assert_eq!(
        fine.body["default"],
        json!({ "split": { "bucket_by": "org",
            "weights": [{ "variant": "off", "weight": 125 }, { "variant": "on", "weight": 99875 }] } })
    );
    let all = app.put(&default, json!({ "rollout": { "variant": "on", "percent": 100 } })).await.expect(200);
    assert_eq!(all.body["default"]["split"]["weights"][1], json!({ "variant": "off", "weight": 0 }));

    let weights = json!([{ "variant": "on", "weight": 50000 }, { "variant": "off", "weight": 50000 }]);
    let explicit = app.put(&default, json!({ "split": { "weights": weights } })).await.expect(200);
    assert_eq!(explicit.body["default"]["split"]["bucket_by"], "key");
    let variant = app.put(&default, json!({ "variant": "on" })).await.expect(200);
    assert_eq!(variant.body["default"], json!({ "variant": "on" }));
    assert_eq!(
        evaluated(&app, "production", "checkout", &Context::new("u"))["reason"],
        json!({ "kind": "FALLTHROUGH" })
    );

    let bad = |body: Value| app.put(&default, body);
    assert_eq!(
        bad(json!({ "variant": "on", "split": { "weights": weights } })).await.expect(422).body["field"],
        "default"
    );
    assert_eq!(bad(json!({})).await.expect(422).body["field"], "default");
    assert_eq!(bad(json!({ "rollout": { "variant": "on" } })).await.expect(400).body["field"], "rollout");
    assert_eq!(
        paths(&bad(json!({ "rollout": { "variant": "on", "percent": 101 } })).await.expect(422).body),
        ["rollout.percent"]
    );
    assert_eq!(
        paths(&bad(json!({ "rollout": { "variant": "maybe", "percent": 5 } })).await.expect(422).body),
        ["rollout.variant"]
    );
    assert_eq!(paths(&bad(json!({ "variant": "maybe" })).await.expect(422).body), ["default.variant"]);
    let short =
        json!({ "split": { "weights": [{ "variant": "on", "weight": 5 }, { "variant": "nope", "weight": 5 }] } });
    assert_eq!(
        paths(&bad(short).await.expect(422).body),
        ["default.split.weights[1].variant", "default.split.weights"]
    );
    colour_flag(&app, "colour").await;
    let not_boolean = app.put(
        "/api/v1/flags/colour/environments/production/default",
        json!({ "rollout": { "variant": "on", "percent": 5 } }),
    );
    assert_eq!(paths(&not_boolean.await.expect(422).body), ["rollout"]);
    let stale = bad(json!({ "variant": "off", "version": 1 })).await.expect(409);
    assert_eq!(stale.body["current_version"], 7);
    assert_eq!(app.state().store.count_audit("config.default").await.unwrap(), 5);
}

async fn targets_and_prerequisites(db: Db) {
    let app = app_with_flag(db).await;
    app.post(&format!("{CONFIG}/toggle"), json!({})).await.expect(200);
    let targets = format!("{CONFIG}/targets");

    let set = app.put(&targets, json!({ "targets": [{ "variant": "on", "keys": ["alice", "bob"] }], "version": 2 }));
    assert_eq!(set.await.expect(200).body["targets"][0]["keys"], json!(["alice", "bob"]));
    assert_eq!(evaluated(&app, "production", "checkout", &Context::new("bob"))["reason"]["kind"], "TARGET_MATCH");
    assert_eq!(evaluated(&app, "production", "checkout", &Context::new("bob"))["variant"], "on");
    assert_eq!(evaluated(&app, "production", "checkout", &Context::new("carol"))["reason"]["kind"], "FALLTHROUGH");

    let twice =
        json!({ "targets": [{ "variant": "on", "keys": ["alice"] }, { "variant": "off", "keys": ["", "alice"] }] });
    assert_eq!(paths(&app.put(&targets, twice).await.expect(422).body), ["targets[1].keys[0]", "targets[1].keys[1]"]);
    let unknown = json!({ "targets": [{ "variant": "maybe", "keys": ["x"] }] });
    assert_eq!(paths(&app.put(&targets, unknown).await.expect(422).body), ["targets[0].variant"]);
    assert_eq!(
        app.put(&targets, json!({ "targets": [{ "keys": ["x"] }] })).await.expect(400).body["field"],
        "targets[0]"
    );
    assert_eq!(app.put(&targets, json!({ "version": 3 })).await.expect(400).body["status"], 400);
    app.put(&targets, json!({ "targets": [], "version": 2 })).await.expect(409);
    let cleared = app.put(&targets, json!({ "targets": [] })).await.expect(200);
    assert_eq!(cleared.body["targets"], json!([]));

    // Prerequisites: `checkout` needs `payments` on; cycles are refused.
    app.post("/api/v1/flags", json!({ "key": "payments", "kind": "boolean" })).await.expect(201);
    let prerequisites = format!("{CONFIG}/prerequisites");
    let needs = json!({ "prerequisites": [{ "flag": "payments", "variant": "on" }] });
    app.put(&prerequisites, needs).await.expect(200);
    let eval = evaluated(&app, "production", "checkout", &Context::new("bob"));
    assert_eq!(eval["reason"], json!({ "kind": "PREREQUISITE_FAILED", "flag": "payments" }));
    app.post("/api/v1/flags/payments/environments/production/toggle", json!({})).await.expect(200);
    app.put("/api/v1/flags/payments/environments/production/default", json!({ "variant": "on" })).await.expect(200);
    assert_eq!(evaluated(&app, "production", "checkout", &Context::new("bob"))["reason"]["kind"], "FALLTHROUGH");

    let cycle = json!({ "prerequisites": [{ "flag": "checkout", "variant": "on" }] });
    let refused = app.put("/api/v1/flags/payments/environments/production/prerequisites", cycle.clone());
    let refused = refused.await.expect(422);
    assert_eq!(paths(&refused.body), ["prerequisites[0].flag"]);
    assert!(refused.body["errors"][0]["message"].as_str().unwrap().contains("cycle"), "{}", refused.body);
    // The same prerequisite is fine in staging, where checkout has none.
    app.put("/api/v1/flags/payments/environments/staging/prerequisites", cycle).await.expect(200);
    let bad = json!({ "prerequisites": [{ "flag": "ghost", "variant": "on" }, { "flag": "payments", "variant": "maybe" },
        { "flag": "checkout", "variant": "on" }] });
    assert_eq!(
        paths(&app.put(&prerequisites, bad).await.expect(422).body),
        ["prerequisites[0].flag", "prerequisites[1].variant", "prerequisites[2].flag"]
    );
    assert_eq!(app.state().store.count_audit("config.targets").await.unwrap(), 2);
    assert_eq!(app.state().store.count_audit("config.prerequisites").await.unwrap(), 2);
}
