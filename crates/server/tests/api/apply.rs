//! Flags as code: export, apply with a plan first, and the round trip between two servers.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::flag_setup::configure;
use crate::helpers::{Db, Reply, TestApp};

both!(
    export_apply_export_is_identical_and_evaluates_the_same,
    a_dry_run_plans_exactly_what_is_applied,
    a_change_between_plan_and_apply_is_refused,
    invalid_documents_name_the_path_and_change_nothing,
    who_may_export_and_apply,
    yaml_states_what_json_states
);

/// Two environments, two segments and four flags (one of each kind) with targets, rules on many operators,
/// segments, splits and a prerequisite.
pub async fn populate(app: &TestApp) {
    app.post("/api/v1/environments", json!({ "key": "staging", "name": "Staging" })).await.expect(201);
    let production = json!({ "key": "production", "name": "Production", "production": true,
        "allowed_origins": ["https://shop.example.com"] });
    app.post("/api/v1/environments", production).await.expect(201);
    let staff = json!({ "key": "staff", "description": "employees",
        "conditions": [{ "attribute": "email", "operator": "ends_with", "values": ["@example.com"] }],
        "included": ["user-1"], "excluded": ["user-2"] });
    app.post("/api/v1/segments", staff).await.expect(201);
    app.post("/api/v1/segments", json!({ "key": "beta", "included": ["user-3", "user-4"] })).await.expect(201);

    app.post(
        "/api/v1/flags",
        json!({ "key": "new-checkout", "kind": "boolean", "tags": ["checkout", "web"],
        "description": "the new checkout" }),
    )
    .await
    .expect(201);
    let strings = json!([{ "key": "blue", "value": "#00f" }, { "key": "green", "value": "#0f0", "name": "Green" },
        { "key": "red", "value": "#f00" }]);
    app.post("/api/v1/flags", json!({ "key": "button-color", "kind": "string", "variants": strings }))
        .await
        .expect(201);
    let numbers = json!([{ "key": "few", "value": 5 }, { "key": "many", "value": 50.5 }]);
    app.post("/api/v1/flags", json!({ "key": "max-items", "kind": "number", "variants": numbers })).await.expect(201);
    let layouts = json!([{ "key": "classic", "value": { "columns": 1 } },
        { "key": "grid", "value": { "columns": 3, "dense": true } }]);
    app.post("/api/v1/flags", json!({ "key": "layout", "kind": "json", "variants": layouts })).await.expect(201);

    let split = |a: &str, b: &str, bucket_by: &str| {
        json!({ "split": { "bucket_by": bucket_by,
            "weights": [{ "variant": a, "weight": 30000 }, { "variant": b, "weight": 70000 }] } })
    };
    let checkout = json!({ "enabled": true, "off_variant": "off",
        "targets": [{ "variant": "on", "keys": ["user-7", "user-8"] }],
        "rules": [
            { "id": "pro", "description": "paying customers on recent apps", "conditions": [
                { "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] },
                { "attribute": "app_version", "operator": "semver_gte", "values": ["2.3.0"] },
                { "attribute": "email", "operator": "ends_with", "values": ["@test.com"], "negate": true }],
              "serve": { "variant": "on" } },
            { "id": "staff", "conditions": [], "segments": ["staff"], "serve": { "variant": "on" } }],
        "default": split("on", "off", "key") });
    configure(app, "new-checkout", "production", checkout).await;
    let staging = json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } });
    configure(app, "new-checkout", "staging", staging).await;
    let color = json!({ "enabled": true, "off_variant": "blue",
        "rules": [
            { "id": "german", "conditions": [{ "attribute": "country", "operator": "eq", "values": ["DE"] },
                { "attribute": "email", "operator": "matches", "values": ["^[a-m]"] }], "serve": { "variant": "green" } },
            { "id": "beta", "conditions": [{ "attribute": "name", "operator": "starts_with", "values": ["a"] }],
              "segments": ["beta"], "serve": { "variant": "red" } }],
        "default": split("blue", "red", "device"),
        "prerequisites": [{ "flag": "new-checkout", "variant": "on" }] });
    configure(app, "button-color", "production", color).await;
    let items = json!({ "enabled": true, "off_variant": "few",
        "rules": [{ "id": "big", "conditions": [{ "attribute": "age", "operator": "gte", "values": [30] },
            { "attribute": "age", "operator": "lt", "values": [60] }], "serve": { "variant": "many" } },
            { "id": "contains", "conditions": [{ "attribute": "country", "operator": "contains", "values": ["A"] }],
              "serve": { "variant": "many" } }],
        "default": { "variant": "few" } });
    configure(app, "max-items", "production", items).await;
    let layout = json!({ "enabled": true, "off_variant": "classic",
        "rules": [{ "id": "new-accounts", "conditions": [
            { "attribute": "signed_up", "operator": "after", "values": ["2024-01-01T00:00:00Z"] },
            { "attribute": "beta", "operator": "exists", "values": [] }], "serve": { "variant": "grid" } }],
        "default": { "variant": "classic" } });
    configure(app, "layout", "production", layout).await;
}

/// The export as sent: its text, its content type and its revision.
pub async fn export(app: &TestApp, query: &str) -> (String, String, String) {
    let res = app.client.get(format!("{}/api/v1/export{query}", app.base)).bearer_auth(&app.admin_token).send().await;
    let res = res.expect("sent");
    assert_eq!(res.status(), 200);
    let header = |name: &str| res.headers()[name].to_str().unwrap().to_owned();
    let (kind, revision) = (header("content-type"), header("pennon-revision"));
    (res.text().await.expect("read"), kind, revision)
}

/// Sends a document (text) as `content_type`.
pub async fn apply_text(app: &TestApp, query: &str, text: &str, content_type: &str, token: Option<&str>) -> Reply {
    let mut req = app
        .client
        .post(format!("{}/api/v1/apply{query}", app.base))
        .bearer_auth(token.unwrap_or(&app.admin_token))
        .header("content-type", content_type)
        .body(text.to_owned());
    req = req.header("accept", "application/json");
    let res = req.send().await.expect("sent");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("read");
    Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

pub async fn apply(app: &TestApp, query: &str, document: &Value) -> Reply {
    apply_text(app, query, &document.to_string(), "application/json", None).await
}

pub fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("a JSON document")
}

/// A context from a seed: varied plans, versions, countries, emails, ages and times.
fn context(i: usize) -> Value {
    let plans = ["free", "pro", "enterprise"];
    let countries = ["DE", "FR", "US", "AT", "CA"];
    let (plan, country, name) = (plans[i % 3], countries[i % 5], ["alice", "bob"][i % 2]);
    let email = format!(
        "{}{i}@{}",
        ["anna", "zoe", "mike"][i % 3],
        if i.is_multiple_of(4) { "example.com" } else { "test.com" }
    );
    let mut attributes = json!({ "plan": plan, "country": country,
        "app_version": format!("2.{}.{}", i % 5, i % 3), "email": email,
        "age": i % 90, "device": format!("device-{}", i / 3), "name": name,
        "signed_up": format!("202{}-06-01T00:00:00Z", i % 6) });
    if i.is_multiple_of(7) {
        attributes["beta"] = json!(true);
    }
    json!({ "key": format!("user-{i}"), "attributes": attributes })
}

fn without_versions(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            map.remove("version");
            map.remove("revision");
            for value in map.values_mut() {
                *value = without_versions(value.take());
            }
        }
        Value::Array(items) => {
            for value in items {
                *value = without_versions(value.take());
            }
        }
        _ => {}
    }
    v
}

async fn export_apply_export_is_identical_and_evaluates_the_same(db: Db) {
    let source = TestApp::spawn(db).await;
    populate(&source).await;
    crate::apply_rollouts::populate_rollouts(&source).await;
    let (json_text, kind, _) = export(&source, "").await;
    assert_eq!(kind, "application/json");
    let (yaml_text, kind, _) = export(&source, "?format=yaml").await;
    assert_eq!(kind, "application/yaml");
    assert!(yaml_text.starts_with("version: 1\n"), "{yaml_text}");

    let target = TestApp::spawn(db).await;
    let applied = apply_text(&target, "", &yaml_text, "application/yaml", None).await.expect(200);
    assert_eq!(applied.body["applied"], true);
    // Environments, segments, metrics, flags, configs, the plan and the guards.
    assert_eq!(applied.body["summary"]["create"], 2 + 2 + 2 + 4 + 8 + 1 + 2, "{}", applied.body);
    assert_eq!(export(&target, "").await.0, json_text, "export -> apply -> export differs");
    assert_eq!(export(&target, "?format=yaml").await.0, yaml_text);
    let again = apply_text(&target, "?dry_run=true", &json_text, "application/json", None).await.expect(200);
    assert_eq!(again.body["summary"], json!({ "create": 0, "update": 0, "delete": 0, "unchanged": 21 }));

    let document = parse(&json_text);
    let salts: Vec<&Value> = document["flags"].as_array().unwrap().iter().map(|f| &f["salt"]).collect();
    let target_doc = parse(&export(&target, "").await.0);
    let target_salts: Vec<&Value> = target_doc["flags"].as_array().unwrap().iter().map(|f| &f["salt"]).collect();
    assert_eq!(salts, target_salts);

    for i in 0..1000 {
        let body = json!({ "environment": "production", "context": context(i) });
        let a = source.post("/api/v1/evaluate", body.clone()).await.expect(200).body;
        let b = target.post("/api/v1/evaluate", body).await.expect(200).body;
        assert_eq!(without_versions(a), without_versions(b), "context {i}");
    }
    // And 10,000 contexts through the two servers' compiled snapshots (what the evaluation routes read),
    // comparing each flag's value, variant and reason.
    let (a, b) =
        (source.state().snapshots.get("production").unwrap(), target.state().snapshots.get("production").unwrap());
    for i in 0..10_000 {
        let ctx: pennon_engine::Context = serde_json::from_value(context(i)).expect("a context");
        let answers = |s: &pennon_server::delivery::env_snapshot::EnvSnapshot| -> Vec<String> {
            let all = s.compiled.evaluate_all(&ctx);
            all.iter().map(|e| format!("{} {:?} {:?} {:?}", e.flag, e.value, e.variant, e.reason)).collect()
        };
        assert_eq!(answers(&a), answers(&b), "context {i}");
    }

    let narrowed = parse(&export(&source, "?environment=staging&flag=new-checkout").await.0);
    assert_eq!(narrowed["environments"].as_array().unwrap().len(), 1);
    assert_eq!(narrowed["flags"].as_array().unwrap().len(), 1);
    assert_eq!(narrowed["flags"][0]["environments"].as_object().unwrap().keys().collect::<Vec<_>>(), ["staging"]);
    source.get("/api/v1/export?environment=nowhere").await.expect(404);
}

pub async fn audit_count(app: &TestApp) -> usize {
    let page = app.get("/api/v1/audit?limit=500").await.expect(200);
    page.body["items"].as_array().unwrap().iter().filter(|e| e["action"].as_str() != Some("session.create")).count()
}

async fn a_dry_run_plans_exactly_what_is_applied(db: Db) {
    let app = TestApp::spawn(db).await;
    populate(&app).await;
    let mut doc = parse(&export(&app, "").await.0);
    // Toggle one config, rename a segment, drop a flag (pruned), add a flag.
    let flags = doc["flags"].as_array_mut().unwrap();
    flags.retain(|f| f["key"] != "layout");
    let checkout = flags.iter_mut().find(|f| f["key"] == "new-checkout").unwrap();
    checkout["environments"]["staging"]["enabled"] = json!(false);
    flags.push(json!({ "key": "dark-mode", "kind": "boolean", "environments": {
        "production": { "enabled": true, "off_variant": "off", "default": { "variant": "on" } } } }));
    doc["segments"][0]["name"] = json!("Beta testers");

    let before_audit = audit_count(&app).await;
    let plan = apply(&app, "?dry_run=true&prune=true", &doc).await.expect(200);
    assert_eq!(plan.body["applied"], false);
    assert_eq!(plan.body["summary"], json!({ "create": 2, "update": 2, "delete": 1, "unchanged": 11 }));
    let changed: Vec<(String, String, String)> = plan.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["op"] != "unchanged")
        .map(|e| {
            (e["kind"].as_str().unwrap().into(), e["key"].as_str().unwrap().into(), e["op"].as_str().unwrap().into())
        })
        .collect();
    let expected = [
        ("segment", "beta", "update"),
        ("flag", "dark-mode", "create"),
        ("config", "new-checkout/staging", "update"),
        ("config", "dark-mode/production", "create"),
        ("flag", "layout", "delete"),
    ];
    let mut sorted = changed.clone();
    sorted.sort();
    let mut want: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into())).collect();
    want.sort();
    assert_eq!(sorted, want);
    let toggle = plan.body["entries"].as_array().unwrap().iter().find(|e| e["key"] == "new-checkout/staging").unwrap();
    assert_eq!(toggle["changes"], json!([{ "path": "enabled", "before": true, "after": false }]));
    assert_eq!(audit_count(&app).await, before_audit, "a dry run writes nothing");

    let revision = plan.body["revision"].as_str().unwrap();
    let applied = apply(&app, &format!("?prune=true&expected_revision={revision}"), &doc).await.expect(200);
    assert_eq!(applied.body["applied"], true);
    assert_eq!(applied.body["entries"], plan.body["entries"]);
    assert_ne!(applied.body["revision"], plan.body["revision"]);
    assert_eq!(audit_count(&app).await, before_audit + 5, "one audit row per changed object");
    app.get("/api/v1/flags/layout").await.expect(404);
    let staging = app.get("/api/v1/flags/new-checkout/environments/staging").await.expect(200);
    assert_eq!(staging.body["enabled"], false);
    let after = apply(&app, "?dry_run=true&prune=true", &doc).await.expect(200);
    assert_eq!(after.body["summary"]["unchanged"], 15);
}

async fn a_change_between_plan_and_apply_is_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    populate(&app).await;
    let (exported, _, revision) = export(&app, "").await;
    let mut doc = parse(&exported);
    doc["flags"][0]["environments"]["production"]["enabled"] = json!(false);
    let plan = apply(&app, "?dry_run=true", &doc).await.expect(200);
    assert_eq!(plan.body["revision"], revision.as_str());

    app.call(Method::POST, "/api/v1/flags/max-items/environments/staging/toggle", None, &[]).await.expect(200);
    let before_audit = audit_count(&app).await;
    let refused = apply(&app, &format!("?expected_revision={revision}"), &doc).await.expect(409);
    assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    assert_eq!(audit_count(&app).await, before_audit);
    let flag = doc["flags"][0]["key"].as_str().unwrap();
    let config = app.get(&format!("/api/v1/flags/{flag}/environments/production")).await.expect(200);
    assert_eq!(config.body["enabled"], true, "nothing applied");
}

async fn invalid_documents_name_the_path_and_change_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    populate(&app).await;
    let original = export(&app, "").await.0;
    let before_audit = audit_count(&app).await;
    let doc: Value = serde_json::from_str(&original).unwrap();

    let mut bad_operator = doc.clone();
    bad_operator["flags"][1]["environments"]["production"]["rules"][0]["conditions"][0]["operator"] = json!("near");
    let refused = apply(&app, "", &bad_operator).await.expect(400);
    assert_eq!(refused.body["field"], "flags[1].environments.production.rules[0].conditions[0].operator");

    // The first flag changes validly, the last one names a variant it does not have: nothing is applied.
    let mut bad_variant = doc.clone();
    bad_variant["flags"][0]["environments"]["production"]["enabled"] = json!(false);
    bad_variant["flags"][3]["environments"]["production"]["default"] = json!({ "variant": "purple" });
    let refused = apply(&app, "", &bad_variant).await.expect(422);
    let paths: Vec<&str> =
        refused.body["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.iter().any(|p| p.starts_with("flags[3].environments.production.default")), "{paths:?}");

    let mut bad_key = doc.clone();
    bad_key["segments"][1]["key"] = json!("Not A Slug");
    let refused = apply(&app, "", &bad_key).await.expect(422);
    assert_eq!(refused.body["errors"][0]["path"], "segments[1].key");

    let mut salt = doc.clone();
    salt["flags"][2]["salt"] = json!("another");
    let refused = apply(&app, "", &salt).await.expect(422);
    assert_eq!(refused.body["errors"][0]["path"], "flags[2].salt");

    apply(&app, "", &json!({ "version": 2 })).await.expect(422);
    apply_text(&app, "", "flags: [", "application/yaml", None).await.expect(400);
    apply_text(&app, "", "{}", "text/plain", None).await.expect(415);

    assert_eq!(export(&app, "").await.0, original);
    assert_eq!(audit_count(&app).await, before_audit);
}

async fn who_may_export_and_apply(db: Db) {
    let app = TestApp::spawn(db).await;
    populate(&app).await;
    let token = |role: &'static str| {
        let app = &app;
        async move {
            let t = app.post("/api/v1/tokens", json!({ "name": role, "role": role })).await.expect(201);
            t.body["token"].as_str().unwrap().to_owned()
        }
    };
    let (viewer, editor) = (token("viewer").await, token("editor").await);
    let bearer = format!("Bearer {viewer}");
    let doc = app.call(Method::GET, "/api/v1/export", None, &[("authorization", &bearer)]).await.expect(200);
    let doc_text = doc.body.to_string();
    app.call(Method::GET, "/api/v1/export", None, &[("authorization", "")]).await.expect(401);
    apply_text(&app, "", &doc_text, "application/json", Some(&viewer)).await.expect(403);
    apply_text(&app, "", &doc_text, "application/json", Some("pnn_api_wrong")).await.expect(401);

    let mut changed: Value = serde_json::from_str(&doc_text).unwrap();
    changed["flags"][0]["description"] = json!("changed by the editor");
    apply_text(&app, "", &changed.to_string(), "application/json", Some(&editor)).await.expect(200);
    let audit = app.get("/api/v1/audit?flag=button-color&limit=1").await.expect(200);
    assert_eq!(audit.body["items"][0]["action"], "flag.update");
    assert!(audit.body["items"][0]["actor"].as_str().unwrap().starts_with("token:editor#"), "{}", audit.body);

    changed["environments"][0]["name"] = json!("Renamed");
    let refused = apply_text(&app, "", &changed.to_string(), "application/json", Some(&editor)).await.expect(422);
    assert_eq!(refused.body["errors"][0]["path"], "environments[0]");
    apply_text(&app, "", &changed.to_string(), "application/json", None).await.expect(200);
    assert_eq!(app.get("/api/v1/environments/staging").await.body["name"], "Renamed");

    // Where configs need approval, an editor's apply does not change them (an admin's does, as a bypass).
    app.patch("/api/v1/environments/staging", json!({ "approvals_required": 1 })).await.expect(200);
    let mut protected = app.get("/api/v1/export").await.expect(200).body;
    let config = "/api/v1/flags/button-color/environments/staging";
    let before = app.get(config).await.expect(200).body;
    let flag = protected["flags"].as_array_mut().unwrap().iter_mut().find(|f| f["key"] == "button-color").unwrap();
    let enabled = flag["environments"]["staging"]["enabled"].as_bool().unwrap();
    flag["environments"]["staging"]["enabled"] = json!(!enabled);
    let refused = apply_text(&app, "", &protected.to_string(), "application/json", Some(&editor)).await.expect(422);
    let path = refused.body["errors"][0]["path"].as_str().unwrap().to_owned();
    assert!(path.ends_with(".environments.staging"), "{}", refused.body);
    assert_eq!(app.get(config).await.expect(200).body["version"], before["version"], "nothing applied");
    apply_text(&app, "", &protected.to_string(), "application/json", None).await.expect(200);
    assert_eq!(app.get(config).await.expect(200).body["enabled"], json!(!enabled));
}

#[test]
fn committed_document_schema_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/document.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = serde_json::to_string_pretty(&pennon_server::api::document_schema()).unwrap();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/document.schema.json is out of date; run `cargo run -p pennon-server -- document-schema > \
         openapi/document.schema.json` from the repository root"
    );
    let schema: Value = serde_json::from_str(&generated).unwrap();
    for name in ["Document", "FlagDocument", "ConfigDocument", "CreateEnvironment", "CreateSegment", "Rule", "Serve"] {
        assert!(schema["$defs"][name].is_object(), "{name} missing");
    }
}

/// A YAML document is read in JSON's shapes, as the JSON Schema states them: a serve is a map
/// (`default: {variant: on}`), not a YAML tag; and the export writes YAML that way.
async fn yaml_states_what_json_states(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let yaml = "version: 1\nenvironments:\n- key: production\n  name: production\nflags:\n- key: checkout\n  kind: boolean\n  environments:\n    production:\n      enabled: true\n      off_variant: 'off'\n      default:\n        variant: 'on'\n";
    apply_text(&app, "", yaml, "application/yaml", None).await.expect(200);
    let config = app.get("/api/v1/flags/checkout/environments/production").await.expect(200).body;
    assert_eq!((config["enabled"].clone(), config["default"].clone()), (json!(true), json!({ "variant": "on" })));
    let (exported, _, _) = export(&app, "?format=yaml").await;
    assert!(exported.contains("variant: 'on'") || exported.contains("variant: on"), "{exported}");
    assert!(!exported.contains('!'), "no YAML tags: {exported}");
}
