use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::flag_setup::{boolean_flag, configure, half_split, half_split_variant, pro_rule};
use crate::helpers::{Db, Reply, TestApp};

both!(
    single_flag_shapes_and_reasons,
    single_flag_failures,
    the_environment_is_the_credential,
    bulk_answers_every_flag,
    bulk_etags_give_not_modified,
    bulk_failures
);

const FLAG: &str = "/ofrep/v1/evaluate/flags";

async fn ofrep(app: &TestApp, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("x-pennon-environment", "production")];
    all.extend_from_slice(headers);
    app.call(Method::POST, path, body, &all).await
}

/// `production` with `targeted` (on for plan `pro`), `fixed` (on, no targeting), `dark` (disabled) and
/// `ramp` (50/50 by key); returns `ramp`'s salt.
async fn flags(app: &TestApp) -> String {
    app.environment("production").await;
    for key in ["targeted", "fixed", "dark"] {
        boolean_flag(app, key).await;
    }
    let salt = boolean_flag(app, "ramp").await;
    let targeted =
        json!({ "enabled": true, "off_variant": "off", "rules": [pro_rule()], "default": { "variant": "off" } });
    configure(app, "targeted", "production", targeted).await;
    configure(
        app,
        "fixed",
        "production",
        json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } }),
    )
    .await;
    configure(
        app,
        "ramp",
        "production",
        json!({ "enabled": true, "off_variant": "off", "default": half_split("key") }),
    )
    .await;
    salt
}

fn context(key: &str, plan: &str) -> Value {
    json!({ "context": { "targetingKey": key, "plan": plan } })
}

async fn single_flag_shapes_and_reasons(db: Db) {
    let app = TestApp::spawn(db).await;
    let salt = flags(&app).await;
    let version = |name: &str| {
        let app = &app;
        let path = format!("/api/v1/flags/{name}/environments/production");
        async move { app.get(&path).await.expect(200).body["version"].clone() }
    };

    let hit = ofrep(&app, &format!("{FLAG}/targeted"), Some(context("user-1", "pro")), &[]).await.expect(200);
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert_eq!(
        hit.body,
        json!({ "key": "targeted", "value": true, "reason": "TARGETING_MATCH", "variant": "on",
            "metadata": { "version": version("targeted").await, "pennonReason": "RULE_MATCH", "ruleId": "pro",
                "ruleIndex": 0 } })
    );
    let miss = ofrep(&app, &format!("{FLAG}/targeted"), Some(context("user-1", "free")), &[]).await.expect(200);
    assert_eq!((miss.body["reason"].clone(), miss.body["value"].clone()), (json!("TARGETING_MATCH"), json!(false)));
    assert_eq!(miss.body["metadata"]["pennonReason"], "FALLTHROUGH", "no rule matched: the default served");

    let fixed = ofrep(&app, &format!("{FLAG}/fixed"), Some(json!({ "context": {} })), &[]).await.expect(200);
    assert_eq!(fixed.body["reason"], "STATIC");
    assert_eq!(fixed.body["value"], true);
    let dark = ofrep(&app, &format!("{FLAG}/dark"), None, &[]).await.expect(200);
    assert_eq!(
        dark.body,
        json!({ "key": "dark", "value": false, "reason": "DISABLED", "variant": "off",
            "metadata": { "version": 1, "pennonReason": "OFF" } })
    );

    let split = ofrep(&app, &format!("{FLAG}/ramp"), Some(context("user-9", "free")), &[]).await.expect(200);
    let bucket = pennon_engine::bucket(&salt, "user-9");
    assert_eq!(split.body["reason"], "SPLIT");
    assert_eq!(split.body["variant"], half_split_variant(bucket));
    assert_eq!(split.body["metadata"]["bucket"], bucket);
    assert_eq!(split.body["metadata"]["pennonReason"], "FALLTHROUGH");
}

async fn single_flag_failures(db: Db) {
    let app = TestApp::spawn(db).await;
    flags(&app).await;
    let unknown = ofrep(&app, &format!("{FLAG}/nope"), Some(context("u", "pro")), &[]).await.expect(404);
    assert_eq!(unknown.body["key"], "nope");
    assert_eq!(unknown.body["errorCode"], "FLAG_NOT_FOUND");
    assert!(unknown.body["errorDetails"].is_string());

    let keyless = ofrep(&app, &format!("{FLAG}/ramp"), Some(json!({ "context": { "plan": "pro" } })), &[]).await;
    let keyless = keyless.expect(400);
    assert_eq!(
        (keyless.body["key"].as_str(), keyless.body["errorCode"].as_str()),
        (Some("ramp"), Some("TARGETING_KEY_MISSING"))
    );
    let empty_key = json!({ "context": { "targetingKey": "" } });
    assert_eq!(
        ofrep(&app, &format!("{FLAG}/ramp"), Some(empty_key), &[]).await.expect(400).body["errorCode"],
        "TARGETING_KEY_MISSING"
    );

    for (body, code) in [
        (json!({ "context": "user-1" }), "INVALID_CONTEXT"),
        (json!({ "context": { "targetingKey": 12 } }), "INVALID_CONTEXT"),
        (json!(["context"]), "PARSE_ERROR"),
    ] {
        let refused = ofrep(&app, &format!("{FLAG}/fixed"), Some(body.clone()), &[]).await.expect(400);
        assert_eq!(refused.body["errorCode"], code, "{body}");
        assert_eq!(refused.body["key"], "fixed");
    }
    let garbage = app
        .client
        .post(format!("{}{FLAG}/fixed", app.base))
        .bearer_auth(&app.admin_token)
        .header("x-pennon-environment", "production")
        .header("content-type", "application/json")
        .body("{\"context\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(garbage.json::<Value>().await.unwrap()["errorCode"], "PARSE_ERROR");
}

async fn the_environment_is_the_credential(db: Db) {
    let app = TestApp::spawn(db).await;
    flags(&app).await;
    let without = app.call(Method::POST, &format!("{FLAG}/fixed"), Some(json!({ "context": {} })), &[]).await;
    let without = without.expect(401);
    assert!(without.body["errorDetails"].as_str().unwrap().contains("x-pennon-environment"));
    let unknown = app
        .call(Method::POST, FLAG, Some(json!({ "context": {} })), &[("x-pennon-environment", "qa")])
        .await
        .expect(401);
    assert!(unknown.body["errorDetails"].as_str().unwrap().contains("qa"));
    app.call(Method::POST, &format!("/api/v1{FLAG}/fixed"), Some(json!({})), &[]).await.expect(404);
}

async fn bulk_answers_every_flag(db: Db) {
    let app = TestApp::spawn(db).await;
    let salt = flags(&app).await;
    let bulk = ofrep(&app, FLAG, Some(context("user-3", "pro")), &[]).await.expect(200);
    assert!(bulk.header("etag").is_some());
    let flags = bulk.body["flags"].as_array().unwrap();
    let by_key = |key: &str| flags.iter().find(|f| f["key"] == key).unwrap_or_else(|| panic!("{key} missing")).clone();
    assert_eq!(flags.len(), 4);
    assert_eq!(by_key("targeted")["reason"], "TARGETING_MATCH");
    assert_eq!(by_key("fixed")["reason"], "STATIC");
    assert_eq!(by_key("dark")["reason"], "DISABLED");
    let bucket = pennon_engine::bucket(&salt, "user-3");
    assert_eq!(by_key("ramp")["variant"], half_split_variant(bucket));
    assert_eq!(by_key("ramp")["metadata"]["bucket"], bucket);

    let anonymous = ofrep(&app, FLAG, None, &[]).await.expect(200);
    assert_eq!(anonymous.body["flags"].as_array().unwrap().len(), 4);
}

async fn bulk_etags_give_not_modified(db: Db) {
    let app = TestApp::spawn(db).await;
    flags(&app).await;
    let first = ofrep(&app, FLAG, Some(context("user-3", "pro")), &[]).await.expect(200);
    let etag = first.header("etag").unwrap().to_owned();
    let again = ofrep(&app, FLAG, Some(context("user-3", "pro")), &[]).await.expect(200);
    assert_eq!(again.header("etag"), Some(etag.as_str()), "the same answer has the same tag");

    let same = ofrep(&app, FLAG, Some(context("user-3", "pro")), &[("if-none-match", &etag)]).await.expect(304);
    assert_eq!(same.body, Value::Null);
    assert_eq!(same.header("etag"), Some(etag.as_str()));
    let listed = format!("\"0-0\", W/{etag}");
    ofrep(&app, FLAG, Some(context("user-3", "pro")), &[("if-none-match", &listed)]).await.expect(304);

    let other_context = ofrep(&app, FLAG, Some(context("user-3", "free")), &[("if-none-match", &etag)]).await;
    assert_ne!(other_context.expect(200).header("etag"), Some(etag.as_str()));

    let on = json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } });
    configure(&app, "dark", "production", on).await;
    let changed = ofrep(&app, FLAG, Some(context("user-3", "pro")), &[("if-none-match", &etag)]).await.expect(200);
    let new_etag = changed.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    ofrep(&app, FLAG, Some(context("user-3", "pro")), &[("if-none-match", &new_etag)]).await.expect(304);
}

async fn bulk_failures(db: Db) {
    let app = TestApp::spawn(db).await;
    flags(&app).await;
    let keyless = ofrep(&app, FLAG, Some(json!({ "context": { "plan": "pro" } })), &[]).await.expect(200);
    let ramp = keyless.body["flags"].as_array().unwrap().iter().find(|f| f["key"] == "ramp").unwrap().clone();
    assert_eq!(ramp["errorCode"], "TARGETING_KEY_MISSING");
    assert!(ramp.get("value").is_none());

    let bad = ofrep(&app, FLAG, Some(json!({ "context": [1, 2] })), &[]).await.expect(400);
    assert_eq!(bad.body["errorCode"], "INVALID_CONTEXT");
    assert!(bad.body.get("key").is_none());
    let not_object = ofrep(&app, FLAG, Some(json!("context")), &[]).await.expect(400);
    assert_eq!(not_object.body["errorCode"], "PARSE_ERROR");
}
