//! Managing webhooks: bad input refused naming the field and changing nothing, unknown hooks 404, and only
//! admins may touch them.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::Db;
use crate::webhooks::{app_with, deliveries, hook};

both!(invalid_hooks_are_refused_naming_the_field, only_admins_manage_hooks);

async fn invalid_hooks_are_refused_naming_the_field(db: Db) {
    let app = app_with(db, |c| c.webhook_max_filter_items = 3).await;
    let cases = [
        (json!({}), "url"),
        (json!({ "url": "ftp://example.com/x" }), "url"),
        (json!({ "url": "not a url" }), "url"),
        (json!({ "url": "http://example.com", "secret": "short" }), "secret"),
        (json!({ "url": "http://example.com", "environments": ["Not A Key"] }), "environments[0]"),
        (json!({ "url": "http://example.com", "flags": ["ok", "no spaces"] }), "flags[1]"),
        (json!({ "url": "http://example.com", "actions": ["*"] }), "actions[0]"),
        (json!({ "url": "http://example.com", "tags": ["a", "b", "c", "d"] }), "tags"),
        (json!({ "url": "http://example.com", "format": "teams" }), "format"),
        (json!({ "url": "http://example.com", "colour": "red" }), "colour"),
    ];
    for (body, field) in cases {
        let reply = app.post("/api/v1/webhooks", body.clone()).await;
        assert!(matches!(reply.status.as_u16(), 400 | 422), "{body}: {}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{body}");
        let named = reply.body["field"].as_str().unwrap_or_default();
        assert!(named.contains(field), "{body} should name {field}: {}", reply.body);
    }
    let listed = app.get("/api/v1/webhooks").await.expect(200).body;
    assert_eq!(listed["items"], json!([]));
    assert_eq!(app.state().store.count_audit("webhook.").await.unwrap(), 0);

    let h = hook(&app, json!({ "url": "http://127.0.0.1:9/x" })).await;
    let reply = app.patch(&format!("/api/v1/webhooks/{}", h["id"]), json!({ "url": "mailto:a@b.c" })).await;
    assert_eq!(reply.expect(422).body["field"], "url");
    app.get("/api/v1/webhooks/999999").await.expect(404);
    app.get("/api/v1/webhooks/999999/deliveries").await.expect(404);
    app.post("/api/v1/webhooks/999999/test", json!({})).await.expect(404);
    let bad_status = app.get(&format!("/api/v1/webhooks/{}/deliveries?status=lost", h["id"])).await;
    assert_eq!(bad_status.status.as_u16(), 400, "{}", bad_status.body);
    app.delete(&format!("/api/v1/webhooks/{}", h["id"])).await.expect(204);
    app.get(&format!("/api/v1/webhooks/{}", h["id"])).await.expect(404);
    assert_eq!(app.state().store.count_audit("webhook.").await.unwrap(), 2);
}

async fn only_admins_manage_hooks(db: Db) {
    let app = app_with(db, |_| {}).await;
    let h = hook(&app, json!({ "url": "http://127.0.0.1:9/x" })).await;
    let id = h["id"].as_i64().unwrap();
    for role in ["viewer", "editor"] {
        let email = format!("{role}@hooks.test");
        app.post("/api/v1/users", json!({ "email": email, "password": "hooks-password-1", "role": role }))
            .await
            .expect(201);
        let token = app.login(&email, "hooks-password-1").await;
        let auth = format!("Bearer {token}");
        let headers = [("authorization", auth.as_str())];
        let calls = [
            (Method::GET, "/api/v1/webhooks".to_owned(), None),
            (Method::POST, "/api/v1/webhooks".to_owned(), Some(json!({ "url": "http://127.0.0.1:9/y" }))),
            (Method::GET, format!("/api/v1/webhooks/{id}"), None),
            (Method::PATCH, format!("/api/v1/webhooks/{id}"), Some(json!({ "enabled": false }))),
            (Method::DELETE, format!("/api/v1/webhooks/{id}"), None),
            (Method::GET, format!("/api/v1/webhooks/{id}/deliveries"), None),
            (Method::POST, format!("/api/v1/webhooks/{id}/test"), Some(json!({}))),
        ];
        for (method, path, body) in calls {
            let reply = app.call(method.clone(), &path, body, &headers).await;
            assert_eq!(reply.status.as_u16(), 403, "{role} {method} {path}: {}", reply.body);
        }
    }
    let unauthenticated = app.call(Method::GET, "/api/v1/webhooks", None, &[("authorization", "")]).await;
    assert_eq!(unauthenticated.status.as_u16(), 401);
    let still = app.get(&format!("/api/v1/webhooks/{id}")).await.expect(200).body;
    assert_eq!(still["enabled"], true);
    assert!(deliveries(&app, &h).await.iter().all(|d| d["action"] != "webhook.test"));
}
