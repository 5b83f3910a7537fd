use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp};

both!(
    create_list_get_rename_delete,
    bad_input_changes_nothing,
    stale_versions_are_refused,
    oversized_bodies_are_refused,
    ordered_by_position_then_key,
    bad_positions_change_nothing
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

fn keys(list: &Value) -> Vec<&str> {
    list["items"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect()
}

/// Environments are listed by their position, then by key: a new one goes after the last, an admin moves one
/// with `position` on create or update, and each move is an audited, versioned change.
async fn ordered_by_position_then_key(db: Db) {
    let app = TestApp::spawn(db).await;
    for key in ["production", "staging", "development"] {
        app.environment(key).await;
    }
    let list = app.get("/api/v1/environments").await.expect(200).body;
    assert_eq!(keys(&list), ["production", "staging", "development"], "a new one goes after the last");
    let positions: Vec<_> = list["items"].as_array().unwrap().iter().map(|e| e["position"].clone()).collect();
    assert_eq!(positions, [json!(0), json!(1), json!(2)]);

    let moved = app.patch("/api/v1/environments/production", json!({ "position": 5, "version": 1 })).await.expect(200);
    assert_eq!(moved.body["position"], 5);
    assert_eq!(moved.body["version"], 2);
    app.patch("/api/v1/environments/development", json!({ "position": 0 })).await.expect(200);
    app.patch("/api/v1/environments/staging", json!({ "position": 0 })).await.expect(200);
    let list = app.get("/api/v1/environments").await.expect(200).body;
    assert_eq!(keys(&list), ["development", "staging", "production"], "by position, ties by key");

    let created = app.post("/api/v1/environments", json!({ "key": "qa", "position": 1 })).await.expect(201);
    assert_eq!(created.body["position"], 1);
    let list = app.get("/api/v1/environments").await.expect(200).body;
    assert_eq!(keys(&list), ["development", "staging", "qa", "production"]);
    let sandbox = app.post("/api/v1/environments", json!({ "key": "sandbox" })).await.expect(201);
    assert_eq!(sandbox.body["position"], 6, "after the last one");

    let audit = app.get("/api/v1/audit?environment=production").await.expect(200).body;
    let update = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "environment.update").unwrap();
    assert_eq!(update["before"]["position"], 0);
    assert_eq!(update["after"]["position"], 5);
    assert_eq!(update["version"], 2);
}

async fn bad_positions_change_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for bad in [json!(-1), json!("first"), json!(1.5), json!(u64::from(u32::MAX) + 1)] {
        let refused = app.patch("/api/v1/environments/production", json!({ "position": bad })).await.expect(400);
        assert_eq!(refused.body["field"], "position", "{bad}: {}", refused.body);
        let refused = app.post("/api/v1/environments", json!({ "key": "qa", "position": bad })).await.expect(400);
        assert_eq!(refused.body["field"], "position", "{bad}: {}", refused.body);
    }
    let production = app.get("/api/v1/environments/production").await.expect(200).body;
    assert_eq!((production["position"].clone(), production["version"].clone()), (json!(0), json!(1)));
    app.get("/api/v1/environments/qa").await.expect(404);
    assert_eq!(app.state().store.count_audit("environment.").await.unwrap(), 1);
}
