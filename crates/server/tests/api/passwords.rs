//! Password rules: length, common passwords, the account's own email, control characters.

use serde_json::json;

use crate::both;
use crate::helpers::{Db, TestApp};

both!(weak_passwords_are_refused_with_the_rule);

async fn weak_passwords_are_refused_with_the_rule(db: Db) {
    let app = TestApp::spawn(db).await;
    let weak = [
        "password12",
        "qwertyuiop",
        "          ",
        "ada.lovelace",
        "my ada.lovelace pass",
        "ADA.LOVELACE-2024",
        "tab\there-and-long",
        "bell\u{7}and-long-enough",
        "short",
    ];
    for password in weak {
        let body = json!({ "email": "ada.lovelace@pennon.test", "password": password, "role": "viewer" });
        let reply = app.post("/api/v1/users", body).await.expect(422);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
        assert_eq!(reply.body["field"], "password", "{password:?}: {}", reply.body);
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(detail.contains("common") && detail.contains("email"), "the rule is stated: {detail}");
    }
    app.get("/api/v1/users").await.expect(200).body["items"].as_array().unwrap().iter().for_each(|u| {
        assert_ne!(u["email"], "ada.lovelace@pennon.test", "nothing was created");
    });
    let good = json!({ "email": "ada.lovelace@pennon.test", "password": "engine analytical 1843", "role": "viewer" });
    let id = app.post("/api/v1/users", good).await.expect(201).body["id"].as_i64().unwrap();
    let reset = app.patch(&format!("/api/v1/users/{id}"), json!({ "password": "password12" })).await.expect(422);
    assert_eq!(reset.body["field"], "password");
}
