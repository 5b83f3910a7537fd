//! Cross-site request forgery: a write carried by the session cookie alone must look like the dashboard's
//! own requests (JSON or its header, and its own origin); bearer credentials are not affected.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Db, TestApp};

both!(forged_cookie_writes_are_refused, the_dashboards_own_writes_pass);

const CONFIG: &str = "/api/v1/flags/checkout/environments/production";

async fn checkout_on(app: &TestApp) {
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app.put(CONFIG, json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } })).await.expect(200);
}

async fn session_cookie(app: &TestApp) -> String {
    let body = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
    let reply = app.call(Method::POST, "/api/v1/auth/login", Some(body), &[("authorization", "")]).await.expect(200);
    reply.header("set-cookie").unwrap().split(';').next().unwrap().to_owned()
}

async fn enabled(app: &TestApp) -> bool {
    app.get(CONFIG).await.expect(200).body["enabled"].as_bool().unwrap()
}

async fn forged_cookie_writes_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    checkout_on(&app).await;
    let cookie = session_cookie(&app).await;
    let toggle = format!("{}{CONFIG}/toggle", app.base);
    let forged = [
        vec![("content-type", "text/plain")],
        vec![("content-type", "application/json"), ("origin", "https://evil.example.com")],
        vec![("content-type", "text/plain"), ("origin", "https://evil.example.com")],
        vec![],
    ];
    for headers in forged {
        let mut req = app.client.post(&toggle).header("cookie", &cookie).body("{}");
        for (name, value) in &headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "{headers:?}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        assert!(enabled(&app).await, "the flag is unchanged after {headers:?}");
    }
    let archive = app.client.post(format!("{}/api/v1/flags/checkout/archive", app.base)).header("cookie", &cookie);
    assert_eq!(archive.header("content-type", "text/plain").send().await.unwrap().status(), 403);
    let delete = app.client.delete(format!("{}/api/v1/environments/production", app.base)).header("cookie", &cookie);
    assert_eq!(delete.header("origin", "https://evil.example.com").send().await.unwrap().status(), 403);
    app.get("/api/v1/environments/production").await.expect(200);
}

async fn the_dashboards_own_writes_pass(db: Db) {
    let app = TestApp::spawn(db).await;
    checkout_on(&app).await;
    let cookie = session_cookie(&app).await;
    let toggle = format!("{}{CONFIG}/toggle", app.base);
    let same_origin = app
        .client
        .post(&toggle)
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .header("origin", &app.base)
        .body("{}");
    assert_eq!(same_origin.send().await.unwrap().status(), 200);
    assert!(!enabled(&app).await);
    let by_header = app.client.post(&toggle).header("cookie", &cookie).header("x-pennon-csrf", "1");
    assert_eq!(by_header.send().await.unwrap().status(), 200);
    assert!(enabled(&app).await);
    // A bearer credential needs neither.
    let bearer = app.client.post(&toggle).bearer_auth(&app.admin_token).header("content-type", "text/plain");
    assert_eq!(bearer.header("origin", "https://elsewhere.example").send().await.unwrap().status(), 200);
    assert!(!enabled(&app).await);
    // Reads with the cookie alone are not affected.
    let read = app.client.get(format!("{}{CONFIG}", app.base)).header("cookie", &cookie);
    assert_eq!(read.header("origin", "https://evil.example.com").send().await.unwrap().status(), 200);
}
