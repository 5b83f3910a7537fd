//! The rules `openapi/openapi.json` states are the ones the server enforces: lengths in characters, the same
//! limits on every resource, integers in either spelling, and OFREP reasons from its specification only.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp};

both!(
    lengths_count_characters_and_hold_everywhere,
    integers_may_be_written_with_a_zero_fraction,
    ofrep_answers_only_the_reasons_of_its_specification,
    a_method_a_path_does_not_take_is_a_problem,
);

async fn lengths_count_characters_and_hold_everywhere(db: Db) {
    let app = TestApp::spawn(db).await;
    // 200 characters of two bytes each: within the documented maxLength of 200.
    let name = "é".repeat(200);
    app.post("/api/v1/environments", json!({ "key": "staging", "name": name })).await.expect(201);
    app.post("/api/v1/tokens", json!({ "name": name, "role": "viewer" })).await.expect(201);
    app.post("/api/v1/flags", json!({ "key": "f", "kind": "boolean", "tags": ["ü".repeat(128)] })).await.expect(201);
    let too_long = app.post("/api/v1/environments", json!({ "key": "qa", "name": "é".repeat(201) })).await;
    assert_eq!(too_long.expect(400).body["field"], "name");
    // A segment's description is held to 2000 characters, as a flag's is.
    let description = "d".repeat(2001);
    let segment = app.post("/api/v1/segments", json!({ "key": "s", "description": description })).await;
    assert_eq!(segment.expect(400).body["field"], "description");
    assert_eq!(app.get("/api/v1/segments").await.expect(200).body["items"], json!([]));
}

async fn integers_may_be_written_with_a_zero_fraction(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "f", "kind": "boolean" })).await.expect(201);
    let toggle = "/api/v1/flags/f/environments/production/toggle";
    let on = app.post(toggle, json!({ "enabled": true, "version": 1.0 })).await.expect(200);
    assert_eq!(on.body["enabled"], true);
    let half = app.post(toggle, json!({ "enabled": false, "version": 2.5 })).await.expect(400);
    assert_eq!(half.body["field"], "version");
    let split = json!({ "split": { "weights": [{ "variant": "on", "weight": 50000.0 }, { "variant": "off", "weight": 5e4 }] } });
    app.put("/api/v1/flags/f/environments/production/default", split).await.expect(200);
}

async fn ofrep_answers_only_the_reasons_of_its_specification(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for key in ["base", "child", "ruled", "fixed", "dark"] {
        app.post("/api/v1/flags", json!({ "key": key, "kind": "boolean" })).await.expect(201);
    }
    let config = |flag: &str| format!("/api/v1/flags/{flag}/environments/production");
    for flag in ["child", "ruled", "fixed"] {
        app.post(&format!("{}/toggle", config(flag)), json!({ "enabled": true })).await.expect(200);
    }
    // `child` needs `base` on; `base` is off, so the prerequisite fails.
    let prerequisites = json!({ "prerequisites": [{ "flag": "base", "variant": "on" }] });
    app.put(&format!("{}/prerequisites", config("child")), prerequisites).await.expect(200);
    let rule = json!({ "id": "pro", "conditions": [{ "attribute": "plan", "operator": "eq", "values": ["pro"] }],
        "serve": { "variant": "off" } });
    app.post(&format!("{}/rules", config("ruled")), rule).await.expect(200);

    let body = json!({ "context": { "targetingKey": "u1", "plan": "free" } });
    let headers = [("x-pennon-environment", "production")];
    let bulk = app.call(Method::POST, "/ofrep/v1/evaluate/flags", Some(body), &headers).await.expect(200);
    let reasons: Vec<(Value, Value, Value)> = bulk.body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["key"].clone(), f["reason"].clone(), f["metadata"]["pennonReason"].clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (json!("base"), json!("DISABLED"), json!("OFF")),
            (json!("child"), json!("DISABLED"), json!("PREREQUISITE_FAILED")),
            (json!("dark"), json!("DISABLED"), json!("OFF")),
            (json!("fixed"), json!("STATIC"), json!("FALLTHROUGH")),
            (json!("ruled"), json!("TARGETING_MATCH"), json!("FALLTHROUGH")),
        ]
    );
}

async fn a_method_a_path_does_not_take_is_a_problem(db: Db) {
    let app = TestApp::spawn(db).await;
    let reply = app.call(Method::PUT, "/api/v1/environments", Some(json!({})), &[]).await;
    assert_eq!(reply.status.as_u16(), 405);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    assert_eq!(reply.body["status"], 405);
}
