use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::flag_setup::{boolean_flag, configure, half_split, half_split_variant, pro_rule};
use crate::helpers::{Db, TestApp};

both!(
    one_flag_answers_the_engines_evaluation,
    splits_report_their_bucket,
    unknown_flags_are_errors_not_failures,
    every_flag_at_once,
    the_environment_comes_from_body_or_header,
    bad_requests_name_the_field,
    evaluations_are_counted
);

/// `production` with `new-checkout`: on for the `pro` plan, off for everyone else.
async fn checkout(app: &TestApp) -> Value {
    app.environment("production").await;
    boolean_flag(app, "new-checkout").await;
    let config =
        json!({ "enabled": true, "off_variant": "off", "rules": [pro_rule()], "default": { "variant": "off" } });
    configure(app, "new-checkout", "production", config).await
}

async fn evaluate(app: &TestApp, body: Value) -> Value {
    app.post("/api/v1/evaluate", body).await.expect(200).body
}

async fn one_flag_answers_the_engines_evaluation(db: Db) {
    let app = TestApp::spawn(db).await;
    let version = checkout(&app).await["version"].clone();
    let pro = json!({ "environment": "production", "flag": "new-checkout",
        "context": { "key": "user-42", "attributes": { "plan": "pro", "country": "DE" } } });
    assert_eq!(
        evaluate(&app, pro).await,
        json!({ "flag": "new-checkout", "value": true, "variant": "on", "version": version,
            "reason": { "kind": "RULE_MATCH", "rule_id": "pro", "rule_index": 0 } })
    );
    let free = json!({ "environment": "production", "flag": "new-checkout",
        "context": { "key": "user-43", "attributes": { "plan": "free" } } });
    assert_eq!(
        evaluate(&app, free).await,
        json!({ "flag": "new-checkout", "value": false, "variant": "off", "version": version,
            "reason": { "kind": "FALLTHROUGH" } })
    );
    let anonymous = json!({ "environment": "production", "flag": "new-checkout", "context": {} });
    assert_eq!(evaluate(&app, anonymous).await["reason"], json!({ "kind": "FALLTHROUGH" }));

    let targeted = json!({ "enabled": true, "off_variant": "off", "targets": [{ "variant": "on", "keys": ["user-7"] }],
        "default": { "variant": "off" } });
    configure(&app, "new-checkout", "production", targeted).await;
    let user7 = json!({ "environment": "production", "flag": "new-checkout", "context": { "key": "user-7" } });
    assert_eq!(evaluate(&app, user7).await["reason"], json!({ "kind": "TARGET_MATCH" }));
    let disabled = json!({ "enabled": false, "off_variant": "off", "default": { "variant": "on" } });
    configure(&app, "new-checkout", "production", disabled).await;
    let anyone = json!({ "environment": "production", "flag": "new-checkout", "context": { "key": "user-7" } });
    let off = evaluate(&app, anyone).await;
    assert_eq!((off["value"].clone(), off["reason"].clone()), (json!(false), json!({ "kind": "OFF" })));
}

async fn splits_report_their_bucket(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let salt = boolean_flag(&app, "ramp").await;
    let by_team = json!({ "id": "teams", "conditions": [{ "attribute": "team", "operator": "exists" }],
        "serve": half_split("team") });
    let config = json!({ "enabled": true, "off_variant": "off", "rules": [by_team], "default": half_split("key") });
    configure(&app, "ramp", "production", config).await;

    for key in ["user-1", "user-2", "user-3", "user-4", "user-5"] {
        let body = json!({ "environment": "production", "flag": "ramp", "context": { "key": key } });
        let got = evaluate(&app, body).await;
        let bucket = pennon_engine::bucket(&salt, key);
        assert_eq!(got["reason"], json!({ "kind": "FALLTHROUGH", "bucket": bucket }), "{key}");
        assert_eq!(got["variant"], half_split_variant(bucket), "{key}");
        assert_eq!(got["value"], half_split_variant(bucket) == "on", "{key}");
    }
    let body = json!({ "environment": "production", "flag": "ramp",
        "context": { "key": "user-1", "attributes": { "team": "payments" } } });
    let got = evaluate(&app, body).await;
    let bucket = pennon_engine::bucket(&salt, "payments");
    assert_eq!(got["reason"], json!({ "kind": "RULE_MATCH", "rule_id": "teams", "rule_index": 0, "bucket": bucket }));
    assert_eq!(got["variant"], half_split_variant(bucket));

    let keyless = json!({ "environment": "production", "flag": "ramp", "context": {} });
    let got = evaluate(&app, keyless).await;
    assert_eq!(got["reason"], json!({ "kind": "ERROR", "error": "MISSING_BUCKET_BY" }));
    assert_eq!((got["variant"].clone(), got["value"].clone()), (json!("off"), json!(false)));
}

async fn unknown_flags_are_errors_not_failures(db: Db) {
    let app = TestApp::spawn(db).await;
    checkout(&app).await;
    let body = json!({ "environment": "production", "flag": "nope", "context": { "key": "user-1" } });
    assert_eq!(
        evaluate(&app, body).await,
        json!({ "flag": "nope", "value": null, "variant": null, "version": 0,
            "reason": { "kind": "ERROR", "error": "FLAG_NOT_FOUND" } })
    );
}

async fn every_flag_at_once(db: Db) {
    let app = TestApp::spawn(db).await;
    checkout(&app).await;
    boolean_flag(&app, "another").await;
    let revision = app.get("/api/v1/environments/production").await.expect(200).body["revision"].clone();
    let body = json!({ "environment": "production", "context": { "key": "u", "attributes": { "plan": "pro" } } });
    let all = evaluate(&app, body).await;
    assert_eq!(all["environment"], "production");
    assert_eq!(all["revision"], revision);
    let evaluations = all["evaluations"].as_array().unwrap();
    let flags: Vec<&str> = evaluations.iter().map(|e| e["flag"].as_str().unwrap()).collect();
    assert_eq!(flags, ["another", "new-checkout"]);
    assert_eq!(evaluations[0]["reason"], json!({ "kind": "OFF" }));
    assert_eq!(evaluations[1]["reason"]["kind"], "RULE_MATCH");
    assert_eq!(evaluations[1]["value"], true);

    app.environment("staging").await;
    let staging = evaluate(&app, json!({ "environment": "staging", "context": { "key": "u" } })).await;
    let reasons: Vec<&Value> = staging["evaluations"].as_array().unwrap().iter().map(|e| &e["reason"]).collect();
    assert_eq!(reasons, [&json!({ "kind": "OFF" }), &json!({ "kind": "OFF" })], "new environments start off");
}

async fn the_environment_comes_from_body_or_header(db: Db) {
    let app = TestApp::spawn(db).await;
    checkout(&app).await;
    app.environment("staging").await;
    let context = json!({ "key": "u", "attributes": { "plan": "pro" } });
    let call = |body: Value, header: Option<&'static str>| {
        let app = &app;
        async move {
            let headers: Vec<(&str, &str)> = header.map(|h| ("x-pennon-environment", h)).into_iter().collect();
            app.call(Method::POST, "/api/v1/evaluate", Some(body), &headers).await
        }
    };
    let by_header = call(json!({ "flag": "new-checkout", "context": context }), Some("production")).await.expect(200);
    assert_eq!(by_header.body["variant"], "on");
    let both = json!({ "environment": "production", "flag": "new-checkout", "context": context });
    call(both, Some("production")).await.expect(200);
    let staging = call(json!({ "environment": "staging", "flag": "new-checkout", "context": context }), None).await;
    assert_eq!(staging.expect(200).body["reason"]["kind"], "OFF");

    let conflict = json!({ "environment": "staging", "flag": "new-checkout", "context": context });
    assert_eq!(call(conflict, Some("production")).await.expect(422).body["field"], "environment");
    let missing = call(json!({ "flag": "new-checkout", "context": context }), None).await.expect(400);
    assert_eq!(missing.body["field"], "environment");
    let unknown = call(json!({ "environment": "qa", "context": context }), None).await.expect(404);
    assert_eq!(unknown.header("content-type"), Some("application/problem+json"));
    assert!(unknown.body["detail"].as_str().unwrap().contains("qa"));
    call(json!({ "context": context }), Some("qa")).await.expect(404);
}

async fn bad_requests_name_the_field(db: Db) {
    let app = TestApp::spawn(db).await;
    checkout(&app).await;
    for (body, field) in [
        (json!({ "environment": "production" }), "context"),
        (json!({ "environment": "production", "context": { "key": 42 } }), "context.key"),
        (json!({ "environment": "production", "context": { "key": "u", "attributes": [1] } }), "context.attributes"),
        (json!({ "environment": "production", "context": { "key": "u", "plan": "pro" } }), "context.plan"),
        (json!({ "environment": "production", "context": {}, "flags": ["a"] }), "flags"),
        (json!({ "environment": 7, "context": {} }), "environment"),
    ] {
        let refused = app.post("/api/v1/evaluate", body.clone()).await.expect(400);
        assert_eq!(refused.body["field"], field, "{body}: {}", refused.body);
        assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    }
    let text = app.call(Method::POST, "/api/v1/evaluate", None, &[("content-type", "text/plain")]).await;
    text.expect(415);
}

async fn evaluations_are_counted(db: Db) {
    let app = TestApp::spawn(db).await;
    checkout(&app).await;
    let pro = json!({ "environment": "production", "flag": "new-checkout",
        "context": { "key": "u", "attributes": { "plan": "pro" } } });
    evaluate(&app, pro.clone()).await;
    evaluate(&app, pro).await;
    evaluate(&app, json!({ "environment": "production", "flag": "made-up-1", "context": {} })).await;
    evaluate(&app, json!({ "environment": "production", "flag": "made-up-2", "context": {} })).await;
    let metrics = app.get("/metrics").await.expect(200).body;
    let metrics = metrics.as_str().unwrap();
    let line = |flag: &str, reason: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("pennon_evaluations_total")
                    && l.contains(&format!("flag=\"{flag}\""))
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    assert_eq!(line("new-checkout", "RULE_MATCH").as_deref(), Some("2"), "{metrics}");
    assert_eq!(line("_unknown", "ERROR").as_deref(), Some("2"), "{metrics}");
    assert!(!metrics.contains("made-up"), "caller-chosen keys are not labels");
}
