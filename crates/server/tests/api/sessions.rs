//! Sessions the server can end: logout, password and role changes, disabling, expiry.

use std::time::Duration;

use pennon_server::app::config::ServeConfig;
use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Db, Reply, TestApp, TestDatabase};

both!(
    logout_ends_the_token_and_the_cookie,
    a_password_change_ends_the_other_sessions,
    a_role_change_ends_the_sessions,
    expired_sessions_are_refused_within_seconds,
);

const NONE: [(&str, &str); 1] = [("authorization", "")];

/// Signs in and returns the token and the cookie (`pennon_session=...`).
async fn sign_in(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let body = json!({ "email": email, "password": password });
    let reply = app.call(Method::POST, "/api/v1/auth/login", Some(body), &NONE).await.expect(200);
    let cookie = reply.header("set-cookie").expect("a cookie").split(';').next().unwrap().to_owned();
    (reply.body["token"].as_str().unwrap().to_owned(), cookie)
}

async fn me_by_token(app: &TestApp, token: &str) -> Reply {
    app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", &format!("Bearer {token}"))]).await
}

async fn me_by_cookie(app: &TestApp, cookie: &str) -> Reply {
    app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", ""), ("cookie", cookie)]).await
}

async fn logout_ends_the_token_and_the_cookie(db: Db) {
    let app = TestApp::spawn(db).await;
    let (token, cookie) = sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    me_by_token(&app, &token).await.expect(200);
    me_by_cookie(&app, &cookie).await.expect(200);
    let auth = format!("Bearer {token}");
    app.call(Method::POST, "/api/v1/auth/logout", None, &[("authorization", &auth)]).await.expect(204);
    me_by_token(&app, &token).await.expect(401);
    me_by_cookie(&app, &cookie).await.expect(401);

    // Signing out with the cookie (as the dashboard does) ends that session too.
    let (token, cookie) = sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let headers = [("authorization", ""), ("cookie", cookie.as_str()), ("content-type", "application/json")];
    app.call(Method::POST, "/api/v1/auth/logout", Some(json!({})), &headers).await.expect(204);
    me_by_cookie(&app, &cookie).await.expect(401);
    me_by_token(&app, &token).await.expect(401);
    // Other sessions of the same user go on.
    me_by_token(&app, &app.admin_token).await.expect(200);
    let audit = app.get("/api/v1/audit?actor=user:admin@pennon.test").await.expect(200);
    assert!(audit.body.to_string().contains("session.revoke"), "{}", audit.body);
}

async fn a_password_change_ends_the_other_sessions(db: Db) {
    let app = TestApp::spawn(db).await;
    let created = app
        .post("/api/v1/users", json!({ "email": "ed@pennon.test", "password": "first-Pa55word!", "role": "editor" }))
        .await
        .expect(201);
    let id = created.body["id"].as_i64().unwrap();
    let (laptop, _) = sign_in(&app, "ed@pennon.test", "first-Pa55word!").await;
    let (phone, phone_cookie) = sign_in(&app, "ed@pennon.test", "first-Pa55word!").await;
    me_by_token(&app, &laptop).await.expect(200);
    app.patch(&format!("/api/v1/users/{id}"), json!({ "password": "second-Pa55word!" })).await.expect(200);
    me_by_token(&app, &laptop).await.expect(401);
    me_by_token(&app, &phone).await.expect(401);
    me_by_cookie(&app, &phone_cookie).await.expect(401);
    sign_in(&app, "ed@pennon.test", "second-Pa55word!").await;

    // An admin changing their own password keeps the session that made the change.
    let (other, _) = sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app.patch("/api/v1/users/1", json!({ "password": "a new Owner pa55phrase" })).await.expect(200);
    me_by_token(&app, &app.admin_token).await.expect(200);
    me_by_token(&app, &other).await.expect(401);
}

async fn a_role_change_ends_the_sessions(db: Db) {
    let app = TestApp::spawn(db).await;
    let created = app
        .post("/api/v1/users", json!({ "email": "ed@pennon.test", "password": "first-Pa55word!", "role": "editor" }))
        .await
        .expect(201);
    let id = created.body["id"].as_i64().unwrap();
    let (token, cookie) = sign_in(&app, "ed@pennon.test", "first-Pa55word!").await;
    app.patch(&format!("/api/v1/users/{id}"), json!({ "role": "viewer" })).await.expect(200);
    me_by_token(&app, &token).await.expect(401);
    me_by_cookie(&app, &cookie).await.expect(401);
    let (token, _) = sign_in(&app, "ed@pennon.test", "first-Pa55word!").await;
    assert_eq!(me_by_token(&app, &token).await.expect(200).body["role"], "viewer");
}

async fn expired_sessions_are_refused_within_seconds(db: Db) {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.session_ttl = Duration::from_secs(2);
    let app = TestApp::spawn_with(database, config).await;
    let (token, _) = sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    me_by_token(&app, &token).await.expect(200);
    // Past its expiry and the few seconds of leeway allowed for clocks.
    tokio::time::sleep(Duration::from_secs(6)).await;
    me_by_token(&app, &token).await.expect(401);
}
