use serde_json::json;

use crate::both;
use crate::helpers::{Db, TestApp};

both!(
    create_list_get_rename_delete,
    bad_input_changes_nothing,
    stale_versions_are_refused,
    oversized_bodies_are_refused
);

async fn create_list_get_rename_delete(db: Db) {
    let app = TestApp::spawn(db).await;
    let created = app.post("/api/v1/environments", json!({ "key": "staging", "name": "Staging" })).await.expect(201);
    assert_eq!(created.body["key"], "staging");
    assert_eq!(created.body["version"], 1);
    assert_eq!(created.header("etag"), Some("\"1\""));
    app.post("/api/v1/environments", json!({ "key": "production", "production": true })).await.expect(201);

    let list = app.get("/api/v1/environments").await.expect(200);
    let keys: Vec<_> = list.body["items"].as_array().unwrap().iter().map(|e| e["key"].clone()).collect();
    assert_eq!(keys, vec![json!("staging"), json!("production")], "in the order they were made");

    let renamed = app.patch("/api/v1/environments/staging", json!({ "name": "Pre-production", "version": 1 })).await;
    assert_eq!(renamed.expect(200).body["name"], "Pre-production");
    assert_eq!(app.get("/api/v1/environments/staging").await.expect(200).body["version"], 2);

    app.delete("/api/v1/environments/staging").await.expect(204);
    app.get("/api/v1/environments/staging").await.expect(404);
    app.post("/api/v1/environments", json!({ "key": "production" })).await.expect(409);
}

async fn bad_input_changes_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let bad_key = app.post("/api/v1/environments", json!({ "key": "Not A Slug" })).await.expect(400);
    assert_eq!(bad_key.body["field"], "key");
    assert_eq!(bad_key.header("content-type"), Some("application/problem+json"));
    let unknown = app.post("/api/v1/environments", json!({ "key": "a", "colour": "red" })).await.expect(400);
    assert_eq!(unknown.body["field"], "colour");
    let wrong_type = app.post("/api/v1/environments", json!({ "key": "a", "production": "yes" })).await.expect(400);
    assert_eq!(wrong_type.body["field"], "production");
    let not_json = app
        .call(reqwest::Method::POST, "/api/v1/environments", None, &[("content-type", "application/json")])
        .await
        .expect(400);
    assert_eq!(not_json.body["status"], 400);
    assert_eq!(app.get("/api/v1/environments").await.expect(200).body["items"], json!([]));
    assert_eq!(app.state().store.count_audit("environment.").await.unwrap(), 0);
}

async fn stale_versions_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("qa").await;
    app.patch("/api/v1/environments/qa", json!({ "name": "QA" })).await.expect(200);
    let stale = app
        .call(reqwest::Method::PATCH, "/api/v1/environments/qa", Some(json!({ "name": "Q" })), &[("if-match", "\"1\"")])
        .await
        .expect(409);
    assert_eq!(stale.body["current_version"], 2);
    assert_eq!(app.get("/api/v1/environments/qa").await.body["name"], "QA");
}

/// A body over the limit (1 MiB by default) is refused with a problem body before anything reads it whole,
/// on an admin write and on an evaluation alike; nothing is stored.
async fn oversized_bodies_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let padding = "x".repeat(1024 * 1024);
    let write = app.post("/api/v1/environments", json!({ "key": "big", "name": padding })).await.expect(413);
    assert_eq!(write.body["status"], 413, "{}", write.body);
    assert_eq!(write.header("content-type"), Some("application/problem+json"));
    app.get("/api/v1/environments/big").await.expect(404);
    assert_eq!(app.state().store.count_audit("environment.").await.unwrap(), 0);

    app.environment("production").await;
    let context = json!({ "key": "user-1", "attributes": { "padding": padding } });
    let evaluation = json!({ "environment": "production", "context": context });
    let evaluate = app.post("/api/v1/evaluate", evaluation).await.expect(413);
    assert_eq!(evaluate.body["status"], 413, "{}", evaluate.body);

    let near = json!({ "key": "near", "name": "x".repeat(1000 * 1000) });
    app.post("/api/v1/environments", near).await.expect(400);
}
