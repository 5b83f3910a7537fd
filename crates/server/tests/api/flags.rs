//! `/flags`: definitions, listing, changes, archive and delete.

use pennon_engine::Context;
use pennon_server::store::AuditFilter;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp};

both!(
    create_and_get,
    create_refuses_bad_input,
    list_filters_and_pages,
    update_definition,
    update_refuses_removing_used_variants,
    archive_unarchive_delete,
);

/// The evaluation of `flag` for `ctx` by the environment's compiled snapshot, as JSON.
pub fn evaluated(app: &TestApp, env: &str, flag: &str, ctx: &Context) -> Value {
    let snapshot = app.state().snapshots.get(env).expect("the environment has a snapshot");
    serde_json::to_value(snapshot.compiled.evaluate(flag, ctx)).expect("evaluations serialise")
}

/// The audit log's actions about `flag`, newest first.
pub async fn audit_actions(app: &TestApp, flag: &str) -> Vec<String> {
    let filter = AuditFilter { flag: Some(flag.to_owned()), limit: 500, ..AuditFilter::default() };
    app.state().store.list_audit(&filter).await.unwrap().into_iter().map(|e| e.action).collect()
}

/// Creates a string flag with the variants `blue` and `green`.
pub async fn colour_flag(app: &TestApp, key: &str) -> Value {
    let variants = json!([{ "key": "blue", "value": "#00f" }, { "key": "green", "value": "#0f0" }]);
    app.post("/api/v1/flags", json!({ "key": key, "kind": "string", "variants": variants })).await.expect(201).body
}

async fn create_and_get(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.environment("staging").await;

    let created = app
        .post(
            "/api/v1/flags",
            json!({ "key": "new-checkout", "name": "New checkout", "kind": "boolean", "tags": ["checkout", "checkout"] }),
        )
        .await
        .expect(201);
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.header("location"), Some("/api/v1/flags/new-checkout"));
    let body = &created.body;
    assert_eq!(body["key"], "new-checkout");
    assert_eq!(body["name"], "New checkout");
    assert_eq!(body["kind"], "boolean");
    assert_eq!(body["tags"], json!(["checkout"]));
    assert_eq!(body["variants"], json!([{ "key": "on", "value": true }, { "key": "off", "value": false }]));
    assert_eq!(body["archived"], false);
    assert_eq!(body["version"], 1);
    let salt = body["salt"].as_str().unwrap();
    assert!(salt.len() == 16 && salt.bytes().all(|b| b.is_ascii_hexdigit()), "salt {salt}");
    let other = app.post("/api/v1/flags", json!({ "key": "other", "kind": "boolean" })).await.expect(201);
    assert_ne!(other.body["salt"], body["salt"], "every flag gets its own salt");
    assert_eq!(other.body["name"], "other", "the name defaults to the key");

    let got = app.get("/api/v1/flags/new-checkout").await.expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.body["salt"], salt);
    let envs = got.body["environments"].as_object().unwrap();
    assert_eq!(envs.keys().collect::<Vec<_>>(), ["production", "staging"]);
    let production = &envs["production"];
    assert_eq!(production["flag"], "new-checkout");
    assert_eq!(production["environment"], "production");
    assert_eq!(production["version"], 1);
    assert_eq!(production["enabled"], false);
    assert_eq!(production["off_variant"], "off");
    assert_eq!(production["default"], json!({ "variant": "on" }), "a boolean flag turned on serves on");

    // Evaluation sees the new flag as soon as the answer is out: off.
    let eval = evaluated(&app, "production", "new-checkout", &Context::new("user-1"));
    assert_eq!(eval["variant"], "off");
    assert_eq!(eval["reason"]["kind"], "OFF");

    // Turned on, with nothing else changed, it serves on to everyone.
    app.post("/api/v1/flags/new-checkout/environments/production/toggle", json!({ "enabled": true })).await.expect(200);
    let eval = evaluated(&app, "production", "new-checkout", &Context::new("user-1"));
    assert_eq!((&eval["variant"], &eval["value"]), (&json!("on"), &json!(true)));
    assert_eq!(eval["reason"]["kind"], "FALLTHROUGH");

    // A string flag starts off serving its first variant; a later environment gets the flag too.
    colour_flag(&app, "button-colour").await;
    app.environment("qa").await;
    let got = app.get("/api/v1/flags/button-colour").await.expect(200);
    assert_eq!(got.body["environments"]["qa"]["off_variant"], "blue");
    assert_eq!(got.body["environments"]["qa"]["default"], json!({ "variant": "blue" }));
    assert_eq!(evaluated(&app, "qa", "button-colour", &Context::new("u"))["value"], "#00f");

    let taken = app.post("/api/v1/flags", json!({ "key": "new-checkout", "kind": "boolean" })).await.expect(409);
    assert_eq!(taken.header("content-type"), Some("application/problem+json"));
    app.get("/api/v1/flags/missing").await.expect(404);
    assert_eq!(app.state().store.count_audit("flag.create").await.unwrap(), 3);
}

async fn create_refuses_bad_input(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let post = |body: Value| app.post("/api/v1/flags", body);

    let bad_key = post(json!({ "key": "New Checkout", "kind": "boolean" })).await.expect(400);
    assert_eq!(bad_key.body["field"], "key");
    let unknown = post(json!({ "key": "a", "kind": "boolean", "salt": "mine" })).await.expect(400);
    assert_eq!(unknown.body["field"], "salt");
    let wrong_type = post(json!({ "key": "a", "kind": "bool" })).await.expect(400);
    assert_eq!(wrong_type.body["field"], "kind");
    let tags_type = post(json!({ "key": "a", "kind": "boolean", "tags": "x" })).await.expect(400);
    assert_eq!(tags_type.body["field"], "tags");
    let missing = post(json!({ "key": "a" })).await.expect(400);
    assert!(missing.body["detail"].as_str().unwrap().contains("kind"), "{}", missing.body);
    post(json!({ "key": "a", "kind": "boolean", "name": " " })).await.expect(400);

    let no_variants = post(json!({ "key": "a", "kind": "string" })).await.expect(422);
    assert_eq!(no_variants.body["errors"][0]["path"], "variants");
    let not_boolean = post(json!({ "key": "a", "kind": "boolean", "variants": [{ "key": "yes", "value": true }] }));
    assert_eq!(not_boolean.await.expect(422).body["errors"][0]["path"], "variants");
    let many = post(json!({ "key": "a", "kind": "number", "tags": [""],
        "variants": [{ "key": "one", "value": 1 }, { "key": "one", "value": "two" }, { "key": "Three", "value": 3 }] }))
    .await
    .expect(422);
    let paths: Vec<_> = many.body["errors"].as_array().unwrap().iter().map(|e| e["path"].clone()).collect();
    assert_eq!(
        paths,
        [json!("variants[1].key"), json!("variants[1].value"), json!("variants[2].key"), json!("tags[0]")]
    );
    assert_eq!(many.body["status"], 422);

    // Boolean flags may spell out their two variants.
    let explicit = json!([{ "key": "off", "value": false }, { "key": "on", "value": true }]);
    post(json!({ "key": "explicit", "kind": "boolean", "variants": explicit })).await.expect(201);

    let list = app.get("/api/v1/flags").await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "only the valid flag exists");
    assert_eq!(app.state().store.count_audit("flag.").await.unwrap(), 1);
}

async fn list_filters_and_pages(db: Db) {
    let app = TestApp::spawn(db).await;
    for (key, name, tags) in [
        ("checkout-v2", "New checkout", json!(["checkout", "web"])),
        ("search-ranking", "Search ranking", json!(["search"])),
        ("dark-mode", "Dark mode", json!(["web"])),
        ("pay-later", "Pay later in CHECKOUT", json!(["payments"])),
        ("a-flag", "A", json!([])),
        ("b-flag", "B", json!([])),
        ("c-flag", "C", json!([])),
    ] {
        app.post("/api/v1/flags", json!({ "key": key, "name": name, "kind": "boolean", "tags": tags }))
            .await
            .expect(201);
    }
    let keys = |body: &Value| -> Vec<String> {
        body["items"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap().to_owned()).collect()
    };

    let all = app.get("/api/v1/flags").await.expect(200);
    assert_eq!(
        keys(&all.body),
        ["a-flag", "b-flag", "c-flag", "checkout-v2", "dark-mode", "pay-later", "search-ranking"]
    );
    assert!(all.body.get("next_cursor").is_none());
    assert_eq!(keys(&app.get("/api/v1/flags?tag=web").await.expect(200).body), ["checkout-v2", "dark-mode"]);
    assert_eq!(keys(&app.get("/api/v1/flags?q=checkout").await.expect(200).body), ["checkout-v2", "pay-later"]);
    assert_eq!(keys(&app.get("/api/v1/flags?q=Checkout&tag=web").await.expect(200).body), ["checkout-v2"]);
    assert!(keys(&app.get("/api/v1/flags?tag=nothing").await.expect(200).body).is_empty());

    // Pages of three: every flag once, in order, and no cursor on the last page.
    let mut seen = Vec::new();
    let mut path = "/api/v1/flags?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&path).await.expect(200);
        pages += 1;
        seen.extend(keys(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/flags?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, keys(&all.body));
    let first = app.get("/api/v1/flags?limit=2&tag=web").await.expect(200);
    assert_eq!(keys(&first.body), ["checkout-v2", "dark-mode"]);
    assert!(first.body.get("next_cursor").is_none(), "an exactly full last page has no cursor");

    app.post("/api/v1/flags/b-flag/archive", json!({})).await.expect(200);
    assert!(!keys(&app.get("/api/v1/flags").await.body).contains(&"b-flag".to_owned()));
    assert_eq!(keys(&app.get("/api/v1/flags?archived=true").await.expect(200).body), ["b-flag"]);

    assert_eq!(app.get("/api/v1/flags?limit=0").await.expect(400).body["field"], "limit");
    assert_eq!(app.get("/api/v1/flags?limit=501").await.expect(400).body["field"], "limit");
    assert_eq!(app.get("/api/v1/flags?cursor=zz").await.expect(400).body["field"], "cursor");
    app.get("/api/v1/flags?archived=maybe").await.expect(400);
    app.get("/api/v1/flags?colour=red").await.expect(400);
}

async fn update_definition(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    colour_flag(&app, "button").await;

    let patch =
        json!({ "name": "Button colour", "description": "Which colour converts", "tags": ["ui"], "version": 1 });
    let updated = app.patch("/api/v1/flags/button", patch).await.expect(200);
    assert_eq!(updated.header("etag"), Some("\"2\""));
    assert_eq!(updated.body["name"], "Button colour");
    assert_eq!(updated.body["description"], "Which colour converts");
    assert_eq!(updated.body["tags"], json!(["ui"]));
    assert_eq!(updated.body["kind"], "string", "untouched fields stay");
    assert_eq!(app.get("/api/v1/flags?tag=ui").await.body["items"][0]["key"], "button");

    // A new value for a variant reaches evaluation at once.
    let variants = json!([{ "key": "blue", "value": "#0000ff", "name": "Blue" }, { "key": "green", "value": "#0f0" }]);
    let updated = app
        .call(Method::PATCH, "/api/v1/flags/button", Some(json!({ "variants": variants })), &[("if-match", "\"2\"")])
        .await
        .expect(200);
    assert_eq!(updated.body["version"], 3);
    assert_eq!(evaluated(&app, "production", "button", &Context::new("u"))["value"], "#0000ff");

    let stale = app.patch("/api/v1/flags/button", json!({ "name": "x", "version": 2 })).await.expect(409);
    assert_eq!(stale.body["current_version"], 3);
    let disagree = app
        .call(Method::PATCH, "/api/v1/flags/button", Some(json!({ "name": "x", "version": 3 })), &[("if-match", "2")])
        .await
        .expect(422);
    assert_eq!(disagree.body["field"], "version");
    assert_eq!(app.patch("/api/v1/flags/button", json!({ "kind": "number" })).await.expect(400).body["field"], "kind");
    assert_eq!(app.patch("/api/v1/flags/button", json!({ "tags": [1] })).await.expect(400).body["field"], "tags[0]");
    let wrong_kind = app.patch("/api/v1/flags/button", json!({ "variants": [{ "key": "blue", "value": 7 }] }));
    let wrong_kind = wrong_kind.await.expect(422);
    assert_eq!(wrong_kind.body["errors"][0]["path"], "variants[0].value");
    app.patch("/api/v1/flags/missing", json!({ "name": "x" })).await.expect(404);

    app.post("/api/v1/flags", json!({ "key": "switch", "kind": "boolean" })).await.expect(201);
    let only_on = json!({ "variants": [{ "key": "on", "value": true }] });
    assert_eq!(app.patch("/api/v1/flags/switch", only_on).await.expect(422).body["errors"][0]["path"], "variants");

    let got = app.get("/api/v1/flags/button").await.expect(200);
    assert_eq!(got.body["name"], "Button colour");
    assert_eq!(got.body["version"], 3);
    assert_eq!(app.state().store.count_audit("flag.update").await.unwrap(), 2);
}

async fn update_refuses_removing_used_variants(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    colour_flag(&app, "button").await;
    let split = json!({ "split": { "weights": [{ "variant": "blue", "weight": 50000 }, { "variant": "green", "weight": 50000 }] } });
    app.post("/api/v1/flags/button/environments/staging/rules", json!({ "id": "beta", "serve": split }))
        .await
        .expect(200);

    let blue_only = json!({ "variants": [{ "key": "blue", "value": "#00f" }] });
    let refused = app.patch("/api/v1/flags/button", blue_only.clone()).await.expect(422);
    let paths: Vec<_> = refused.body["errors"].as_array().unwrap().iter().map(|e| e["path"].clone()).collect();
    assert_eq!(paths, [json!("environments.staging.rules[0].serve.split.weights[1].variant")]);

    // Once no config uses it, the variant can go; a new one can come.
    app.delete("/api/v1/flags/button/environments/staging/rules/beta").await.expect(200);
    let red = json!({ "variants": [{ "key": "blue", "value": "#00f" }, { "key": "red", "value": "#f00" }] });
    app.patch("/api/v1/flags/button", red).await.expect(200);

    // Another flag's prerequisite on a variant keeps it too.
    app.post("/api/v1/flags", json!({ "key": "banner", "kind": "boolean" })).await.expect(201);
    let prerequisite = json!({ "prerequisites": [{ "flag": "button", "variant": "red" }] });
    app.put("/api/v1/flags/banner/environments/production/prerequisites", prerequisite).await.expect(200);
    let refused = app.patch("/api/v1/flags/button", blue_only).await.expect(422);
    assert_eq!(refused.body["errors"][0]["path"], "variants");
    assert!(refused.body["errors"][0]["message"].as_str().unwrap().contains("banner"), "{}", refused.body);
    let got = app.get("/api/v1/flags/button").await.expect(200);
    assert_eq!(got.body["variants"].as_array().unwrap().len(), 2);
}

async fn archive_unarchive_delete(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "old", "kind": "boolean" })).await.expect(201);
    app.post("/api/v1/flags/old/environments/production/toggle", json!({})).await.expect(200);
    app.put("/api/v1/flags/old/environments/production/default", json!({ "variant": "on" })).await.expect(200);
    let ctx = Context::new("user-1");
    assert_eq!(evaluated(&app, "production", "old", &ctx)["variant"], "on");

    let live = app.delete("/api/v1/flags/old").await.expect(409);
    assert!(live.body["detail"].as_str().unwrap().contains("archived"), "{}", live.body);

    let archived = app.post("/api/v1/flags/old/archive", json!(null)).await.expect(200);
    assert_eq!(archived.body["archived"], true);
    assert_eq!(archived.body["version"], 2);
    let eval = evaluated(&app, "production", "old", &ctx);
    assert_eq!(
        eval["reason"],
        json!({ "kind": "ERROR", "error": "FLAG_NOT_FOUND" }),
        "archived flags leave the snapshot"
    );
    app.post("/api/v1/flags/old/archive", json!(null)).await.expect(409);
    let frozen = app.post("/api/v1/flags/old/environments/production/toggle", json!({})).await.expect(409);
    assert!(frozen.body["detail"].as_str().unwrap().contains("archived"));
    assert_eq!(app.get("/api/v1/flags/old").await.expect(200).body["archived"], true);

    let back = app.post("/api/v1/flags/old/unarchive", json!(null)).await.expect(200);
    assert_eq!(back.body["archived"], false);
    assert_eq!(evaluated(&app, "production", "old", &ctx)["variant"], "on", "it returns with its config");
    app.post("/api/v1/flags/old/unarchive", json!(null)).await.expect(409);

    // A flag another flag depends on cannot be deleted.
    app.post("/api/v1/flags", json!({ "key": "child", "kind": "boolean" })).await.expect(201);
    let prerequisite = json!({ "prerequisites": [{ "flag": "old", "variant": "on" }] });
    app.put("/api/v1/flags/child/environments/production/prerequisites", prerequisite).await.expect(200);
    app.post("/api/v1/flags/old/archive", json!(null)).await.expect(200);
    let needed = app.delete("/api/v1/flags/old").await.expect(409);
    assert!(needed.body["detail"].as_str().unwrap().contains("child"), "{}", needed.body);
    app.put("/api/v1/flags/child/environments/production/prerequisites", json!({ "prerequisites": [] }))
        .await
        .expect(200);

    app.delete("/api/v1/flags/old").await.expect(204);
    app.get("/api/v1/flags/old").await.expect(404);
    app.get("/api/v1/flags/old/environments/production").await.expect(404);
    app.delete("/api/v1/flags/old").await.expect(404);
    app.post("/api/v1/flags/missing/archive", json!(null)).await.expect(404);
    // The key is free again, with a fresh config and history.
    app.post("/api/v1/flags", json!({ "key": "old", "kind": "boolean" })).await.expect(201);
    let history = app.get("/api/v1/flags/old/environments/production/history").await.expect(200);
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);
    for action in ["flag.archive", "flag.unarchive", "flag.delete"] {
        assert!(app.state().store.count_audit(action).await.unwrap() >= 1, "{action} is audited");
    }
}
