use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::flag_setup::{boolean_flag, configure};
use crate::helpers::{Db, TestApp};

both!(
    create_get_list_replace_delete,
    bad_segments_are_refused,
    stale_versions_are_refused,
    segments_in_use_cannot_be_deleted,
    changes_reach_evaluation_at_once,
    viewers_read_editors_write
);

async fn create_get_list_replace_delete(db: Db) {
    let app = TestApp::spawn(db).await;
    let body = json!({ "key": "internal-staff", "description": "employees",
        "conditions": [{ "attribute": "email", "operator": "ends_with", "values": ["@example.com"] }],
        "included": ["user-1"], "excluded": ["user-2"] });
    let created = app.post("/api/v1/segments", body).await.expect(201);
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["key"], "internal-staff");
    assert_eq!(created.body["name"], "internal-staff");
    assert_eq!(created.body["version"], 1);
    assert_eq!(created.body["conditions"][0]["operator"], "ends_with");
    assert_eq!(created.body["included"], json!(["user-1"]));
    assert!(created.body["created_at"].as_str().unwrap().ends_with('Z'));

    let got = app.get("/api/v1/segments/internal-staff").await.expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.body, created.body);

    let replaced = app
        .call(
            Method::PUT,
            "/api/v1/segments/internal-staff",
            Some(json!({ "key": "internal-staff", "name": "Staff", "included": ["user-3"] })),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(replaced.header("etag"), Some("\"2\""));
    assert_eq!(replaced.body["name"], "Staff");
    assert_eq!(replaced.body["conditions"], json!([]));
    assert_eq!(replaced.body["included"], json!(["user-3"]));
    assert_eq!(replaced.body["created_at"], created.body["created_at"]);

    for key in ["beta", "alpha"] {
        app.post("/api/v1/segments", json!({ "key": key })).await.expect(201);
    }
    let first = app.get("/api/v1/segments?limit=2").await.expect(200);
    let keys = |page: &serde_json::Value| {
        page["items"].as_array().unwrap().iter().map(|s| s["key"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(keys(&first.body), vec![json!("alpha"), json!("beta")]);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app.get(&format!("/api/v1/segments?limit=2&cursor={cursor}")).await.expect(200);
    assert_eq!(keys(&second.body), vec![json!("internal-staff")]);
    assert!(second.body.get("next_cursor").is_none());

    app.delete("/api/v1/segments/internal-staff").await.expect(204);
    app.get("/api/v1/segments/internal-staff").await.expect(404);
    app.delete("/api/v1/segments/internal-staff").await.expect(404);
    app.put("/api/v1/segments/internal-staff", json!({})).await.expect(404);
    assert_eq!(app.state().store.count_audit("segment.").await.unwrap(), 5);
}

async fn bad_segments_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let bad_key = app.post("/api/v1/segments", json!({ "key": "Staff!" })).await.expect(400);
    assert_eq!(bad_key.body["field"], "key");
    assert_eq!(bad_key.header("content-type"), Some("application/problem+json"));
    let unknown = app.post("/api/v1/segments", json!({ "key": "s", "rules": [] })).await.expect(400);
    assert_eq!(unknown.body["field"], "rules");
    let operator = json!({ "key": "s", "conditions": [{ "attribute": "a", "operator": "like", "values": ["x"] }] });
    assert_eq!(app.post("/api/v1/segments", operator).await.expect(400).body["field"], "conditions[0].operator");
    let regex = json!({ "key": "s", "conditions": [{ "attribute": "a", "operator": "matches", "values": ["("] }] });
    let invalid = app.post("/api/v1/segments", regex).await.expect(422);
    assert!(invalid.body["field"].as_str().unwrap().starts_with("conditions[0]"), "{}", invalid.body);
    let empty = app.post("/api/v1/segments", json!({ "key": "s", "excluded": ["a", ""] })).await.expect(422);
    assert_eq!(empty.body["field"], "excluded[1]");
    let name = app.post("/api/v1/segments", json!({ "key": "s", "name": " " })).await.expect(400);
    assert_eq!(name.body["field"], "name");

    app.post("/api/v1/segments", json!({ "key": "s" })).await.expect(201);
    app.post("/api/v1/segments", json!({ "key": "s" })).await.expect(409);
    let renamed = app.put("/api/v1/segments/s", json!({ "key": "t" })).await.expect(422);
    assert_eq!(renamed.body["field"], "key");
    assert_eq!(app.get("/api/v1/segments?cursor=zz").await.expect(400).body["field"], "cursor");
    assert_eq!(app.get("/api/v1/segments?limit=0").await.expect(400).body["field"], "limit");
    assert_eq!(app.get("/api/v1/segments/s").await.expect(200).body["version"], 1);
    assert_eq!(app.state().store.count_audit("segment.").await.unwrap(), 1);
}

async fn stale_versions_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    app.post("/api/v1/segments", json!({ "key": "s" })).await.expect(201);
    app.put("/api/v1/segments/s", json!({ "included": ["a"], "version": 1 })).await.expect(200);
    let stale = app.put("/api/v1/segments/s", json!({ "included": ["b"], "version": 1 })).await.expect(409);
    assert_eq!(stale.body["current_version"], 2);
    let stale = app
        .call(Method::PUT, "/api/v1/segments/s", Some(json!({ "included": ["b"] })), &[("if-match", "\"1\"")])
        .await
        .expect(409);
    assert_eq!(stale.body["current_version"], 2);
    let disagree = app
        .call(Method::PUT, "/api/v1/segments/s", Some(json!({ "version": 2 })), &[("if-match", "\"1\"")])
        .await
        .expect(422);
    assert_eq!(disagree.body["field"], "version");
    assert_eq!(app.get("/api/v1/segments/s").await.expect(200).body["included"], json!(["a"]));
}

async fn segments_in_use_cannot_be_deleted(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    app.post("/api/v1/segments", json!({ "key": "staff", "included": ["user-1"] })).await.expect(201);
    boolean_flag(&app, "new-checkout").await;
    let rule = json!({ "id": "staff", "segments": ["staff"], "serve": { "variant": "on" } });
    let config = json!({ "enabled": true, "off_variant": "off", "rules": [rule], "default": { "variant": "off" } });
    configure(&app, "new-checkout", "production", config).await;

    let refused = app.delete("/api/v1/segments/staff").await.expect(409);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("new-checkout") && detail.contains("production"), "{detail}");
    assert!(!detail.contains("staging"), "{detail}");
    app.get("/api/v1/segments/staff").await.expect(200);

    let off = json!({ "enabled": false, "off_variant": "off", "default": { "variant": "off" } });
    configure(&app, "new-checkout", "production", off).await;
    app.delete("/api/v1/segments/staff").await.expect(204);
}

async fn changes_reach_evaluation_at_once(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/segments", json!({ "key": "staff", "included": ["user-1"] })).await.expect(201);
    boolean_flag(&app, "f").await;
    let rule = json!({ "id": "staff", "segments": ["staff"], "serve": { "variant": "on" } });
    let config = json!({ "enabled": true, "off_variant": "off", "rules": [rule], "default": { "variant": "off" } });
    configure(&app, "f", "production", config).await;
    let evaluate = |key: &'static str| {
        let body = json!({ "environment": "production", "flag": "f", "context": { "key": key } });
        let app = &app;
        async move { app.post("/api/v1/evaluate", body).await.expect(200).body["variant"].clone() }
    };
    assert_eq!(evaluate("user-1").await, "on");
    assert_eq!(evaluate("user-2").await, "off");
    app.put("/api/v1/segments/staff", json!({ "included": ["user-2"] })).await.expect(200);
    assert_eq!(evaluate("user-1").await, "off");
    assert_eq!(evaluate("user-2").await, "on");
    let revision = app.get("/api/v1/environments/production").await.expect(200).body["revision"].clone();
    assert_eq!(app.state().snapshots.get("production").unwrap().revision(), revision.as_u64().unwrap());
}

async fn viewers_read_editors_write(db: Db) {
    let app = TestApp::spawn(db).await;
    app.post("/api/v1/segments", json!({ "key": "s" })).await.expect(201);
    let nobody = [("authorization", "")];
    for path in ["/api/v1/segments", "/api/v1/segments/s", "/api/v1/audit"] {
        app.call(Method::GET, path, None, &nobody).await.expect(401);
    }
    let viewer = json!({ "email": "viewer@pennon.test", "password": "reader pass phrase 1", "role": "viewer" });
    app.post("/api/v1/users", viewer).await.expect(201);
    let token = app.login("viewer@pennon.test", "reader pass phrase 1").await;
    let bearer = format!("Bearer {token}");
    let as_viewer = [("authorization", bearer.as_str())];
    app.call(Method::GET, "/api/v1/segments/s", None, &as_viewer).await.expect(200);
    app.call(Method::GET, "/api/v1/audit", None, &as_viewer).await.expect(200);
    app.call(Method::POST, "/api/v1/segments", Some(json!({ "key": "t" })), &as_viewer).await.expect(403);
    app.call(Method::PUT, "/api/v1/segments/s", Some(json!({})), &as_viewer).await.expect(403);
    app.call(Method::DELETE, "/api/v1/segments/s", None, &as_viewer).await.expect(403);
    assert_eq!(app.get("/api/v1/segments/s").await.expect(200).body["version"], 1);
}
