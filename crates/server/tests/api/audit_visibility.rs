//! Audit rows about users, tokens, SDK keys and sign-ins are for admins: others see them redacted, in the
//! API and on the admin stream.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Db, TestApp};
use crate::sse::SseReader;

both!(viewers_do_not_read_account_details, the_admin_stream_redacts_account_rows_for_viewers);

async fn viewers_do_not_read_account_details(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post(
        "/api/v1/users",
        json!({ "email": "secret.person@pennon.test", "password": "a-g00d-passw0rd", "role": "editor" }),
    )
    .await
    .expect(201);
    app.post("/api/v1/tokens", json!({ "name": "deploy-bot-token", "role": "editor" })).await.expect(201);
    app.post("/api/v1/environments/production/keys", json!({ "kind": "server", "name": "backend-key-name" }))
        .await
        .expect(201);
    let tried = json!({ "email": "guessed.name@pennon.test", "password": "not-the-password" });
    app.call(Method::POST, "/api/v1/auth/login", Some(tried), &[("authorization", "")]).await.expect(401);
    app.post("/api/v1/users", json!({ "email": "v@pennon.test", "password": "viewer-Pa55word", "role": "viewer" }))
        .await
        .expect(201);
    let viewer = format!("Bearer {}", app.login("v@pennon.test", "viewer-Pa55word").await);

    let secrets = ["secret.person", "deploy-bot-token", "backend-key-name", "guessed.name", "pnn_"];
    let admin_view = app.get("/api/v1/audit?limit=500").await.expect(200).body.to_string();
    for s in &secrets[..4] {
        assert!(admin_view.contains(s), "admins see {s}");
    }
    let seen = app.call(Method::GET, "/api/v1/audit?limit=500", None, &[("authorization", &viewer)]).await;
    let body = seen.expect(200).body;
    let text = body.to_string();
    for s in secrets {
        assert!(!text.contains(s), "a viewer does not see {s}: {text}");
    }
    let actions: Vec<_> = body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["user.create", "token.create", "key.create", "auth.login_failed"] {
        assert!(actions.contains(&action), "the row itself is listed: {actions:?}");
    }
}

/// Reads `audit` events until one with `action` arrives.
async fn audit_event(stream: &mut SseReader, action: &str) -> serde_json::Value {
    loop {
        let block = stream.next_event().await;
        if block.event.as_deref() == Some("audit") && block.json()["action"] == action {
            return block.json();
        }
    }
}

async fn the_admin_stream_redacts_account_rows_for_viewers(db: Db) {
    let app = TestApp::spawn(db).await;
    app.post("/api/v1/users", json!({ "email": "v@pennon.test", "password": "viewer-Pa55word", "role": "viewer" }))
        .await
        .expect(201);
    let viewer = format!("Bearer {}", app.login("v@pennon.test", "viewer-Pa55word").await);
    let admin = format!("Bearer {}", app.admin_token);
    let mut as_viewer = SseReader::open(&app, "/api/v1/admin/stream", &[("authorization", &viewer)]).await;
    let mut as_admin = SseReader::open(&app, "/api/v1/admin/stream", &[("authorization", &admin)]).await;
    // Both streams are open once their first frame (the retry hint) arrived.
    as_viewer.next().await;
    as_admin.next().await;
    app.post("/api/v1/tokens", json!({ "name": "deploy-bot-token", "role": "editor" })).await.expect(201);
    let full = audit_event(&mut as_admin, "token.create").await;
    assert!(full.to_string().contains("deploy-bot-token"), "{full}");
    let redacted = audit_event(&mut as_viewer, "token.create").await;
    assert!(!redacted.to_string().contains("deploy-bot-token"), "{redacted}");
    assert_eq!(redacted["actor"], "(redacted)");
}
