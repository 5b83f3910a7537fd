//! Sign-in, sessions, API tokens and users.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Db, TestApp};

both!(
    login_sets_a_strict_cookie_and_me_answers,
    wrong_email_and_wrong_password_look_alike,
    repeated_failures_are_limited,
    roles_are_enforced_and_refusals_audited,
    disabled_users_lose_their_sessions,
    api_tokens_are_shown_once_and_revocable,
    the_last_admin_stays,
);

const NONE: [(&str, &str); 1] = [("authorization", "")];

async fn login_sets_a_strict_cookie_and_me_answers(db: Db) {
    let app = TestApp::spawn(db).await;
    let body = json!({ "email": "ADMIN@pennon.test", "password": ADMIN_PASSWORD });
    let reply = app.call(Method::POST, "/api/v1/auth/login", Some(body), &NONE).await.expect(200);
    let cookie = reply.header("set-cookie").expect("a session cookie").to_owned();
    assert!(cookie.starts_with("pennon_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert_eq!(reply.body["user"]["role"], "admin");

    let me = app.get("/api/v1/auth/me").await.expect(200);
    let expires_at = me.body["expires_at"].as_str().expect("the session's expiry").to_owned();
    assert_eq!(
        me.body,
        json!({ "kind": "user", "id": 1, "name": ADMIN_EMAIL, "role": "admin", "expires_at": expires_at })
    );
    let bearer = format!("Bearer {}", reply.body["token"].as_str().unwrap());
    let this_session = app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", &bearer)]).await;
    assert_eq!(this_session.expect(200).body["expires_at"], reply.body["expires_at"], "the session's own expiry");
    let left =
        pennon_server::api::common::parse_time("expires_at", &expires_at).unwrap() - pennon_server::store::now_millis();
    assert!((3_000_000..=3_600_000).contains(&left), "an hour's session by default, {left} ms left");
    let session = cookie.split(';').next().unwrap();
    let by_cookie = app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", ""), ("cookie", session)]).await;
    assert_eq!(by_cookie.expect(200).body["name"], ADMIN_EMAIL);

    let out = app.call(Method::POST, "/api/v1/auth/logout", None, &NONE).await.expect(204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    app.call(Method::GET, "/api/v1/auth/me", None, &NONE).await.expect(401);
}

async fn wrong_email_and_wrong_password_look_alike(db: Db) {
    let app = TestApp::spawn(db).await;
    let wrong_password = json!({ "email": ADMIN_EMAIL, "password": "not the password" });
    let a = app.call(Method::POST, "/api/v1/auth/login", Some(wrong_password), &NONE).await.expect(401);
    let wrong_email = json!({ "email": "nobody@pennon.test", "password": ADMIN_PASSWORD });
    let b = app.call(Method::POST, "/api/v1/auth/login", Some(wrong_email), &NONE).await.expect(401);
    assert_eq!(a.body, b.body);
    assert!(a.header("set-cookie").is_none());
    let audit = app.get("/api/v1/audit?actor=user:nobody@pennon.test").await.expect(200);
    assert_eq!(audit.body["items"][0]["action"], "auth.login_failed");
}

async fn repeated_failures_are_limited(db: Db) {
    let app = TestApp::spawn(db).await;
    let wrong = json!({ "email": ADMIN_EMAIL, "password": "guess-guess-guess" });
    // The first failures cost nothing (PENNON_LOGIN_FREE_FAILURES, 3 by default) ...
    for _ in 0..3 {
        app.call(Method::POST, "/api/v1/auth/login", Some(wrong.clone()), &NONE).await.expect(401);
    }
    // ... then this address waits before it may try this account again, even with the right password.
    let right = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
    let limited = app.call(Method::POST, "/api/v1/auth/login", Some(right), &NONE).await.expect(429);
    assert!(limited.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() > 0));
    // Other accounts are not locked out by it, even from the same address.
    app.post("/api/v1/users", json!({ "email": "v@pennon.test", "password": "viewer-password", "role": "viewer" }))
        .await
        .expect(201);
    app.login("v@pennon.test", "viewer-password").await;
}

async fn user_with_role(app: &TestApp, email: &str, role: &str) -> (i64, String) {
    let created = app
        .post("/api/v1/users", json!({ "email": email, "password": "a-good-password", "role": role }))
        .await
        .expect(201);
    (created.body["id"].as_i64().unwrap(), app.login(email, "a-good-password").await)
}

async fn as_user(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> crate::helpers::Reply {
    app.call(method, path, body, &[("authorization", &format!("Bearer {token}"))]).await
}

async fn roles_are_enforced_and_refusals_audited(db: Db) {
    let app = TestApp::spawn(db).await;
    let (_, viewer) = user_with_role(&app, "viewer@pennon.test", "viewer").await;
    let (_, editor) = user_with_role(&app, "editor@pennon.test", "editor").await;
    let env = || Some(json!({ "key": "qa" }));
    let flag = || Some(json!({ "key": "f", "kind": "boolean" }));
    as_user(&app, &viewer, Method::GET, "/api/v1/environments", None).await.expect(200);
    as_user(&app, &viewer, Method::POST, "/api/v1/environments", env()).await.expect(403);
    as_user(&app, &editor, Method::POST, "/api/v1/environments", env()).await.expect(403);
    as_user(&app, &viewer, Method::POST, "/api/v1/flags", flag()).await.expect(403);
    as_user(&app, &editor, Method::POST, "/api/v1/flags", flag()).await.expect(201);
    as_user(&app, &editor, Method::GET, "/api/v1/users", None).await.expect(403);
    let denied = app.get("/api/v1/audit?actor=user:viewer@pennon.test").await.expect(200);
    let actions: Vec<_> = denied.body["items"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect();
    assert_eq!(actions, vec![json!("auth.denied"), json!("auth.denied"), json!("session.create")]);
    assert_eq!(app.get("/api/v1/environments").await.body["items"], json!([]), "nothing was created");
}

async fn disabled_users_lose_their_sessions(db: Db) {
    let app = TestApp::spawn(db).await;
    let (id, token) = user_with_role(&app, "leaver@pennon.test", "editor").await;
    let auth = format!("Bearer {token}");
    app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", &auth)]).await.expect(200);
    app.patch(&format!("/api/v1/users/{id}"), json!({ "disabled": true })).await.expect(200);
    app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", &auth)]).await.expect(401);
    let again = json!({ "email": "leaver@pennon.test", "password": "a-good-password" });
    app.call(Method::POST, "/api/v1/auth/login", Some(again), &NONE).await.expect(401);
}

async fn api_tokens_are_shown_once_and_revocable(db: Db) {
    let app = TestApp::spawn(db).await;
    let created = app.post("/api/v1/tokens", json!({ "name": "ci", "role": "editor" })).await.expect(201);
    let secret = created.body["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pnn_api_") && secret.len() == 8 + 64, "{secret}");
    let listed = app.get("/api/v1/tokens").await.expect(200);
    assert!(!listed.body.to_string().contains(&secret[8..]), "the secret is never listed");
    assert_eq!(listed.body["items"][0]["prefix"], &secret[..12]);

    let auth = format!("Bearer {secret}");
    let me = app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", &auth)]).await.expect(200);
    assert_eq!(me.body["kind"], "token");
    assert_eq!(me.body["role"], "editor");
    assert_eq!(me.body["expires_at"], Value::Null, "a token without expiry");
    let made =
        as_user(&app, &secret, Method::POST, "/api/v1/flags", Some(json!({ "key": "by-ci", "kind": "boolean" })));
    assert_eq!(made.await.expect(201).body["key"], "by-ci");
    let audit = app.get("/api/v1/audit?flag=by-ci").await.expect(200);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(audit.body["items"][0]["actor"], format!("token:ci#{id}"));

    app.delete(&format!("/api/v1/tokens/{id}")).await.expect(204);
    app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", &auth)]).await.expect(401);
    app.delete(&format!("/api/v1/tokens/{id}")).await.expect(404);

    let soon = pennon_server::api::common::rfc3339(pennon_server::store::now_millis() + 1_000);
    let short = app.post("/api/v1/tokens", json!({ "name": "brief", "role": "viewer", "expires_at": soon })).await;
    let short = format!("Bearer {}", short.expect(201).body["token"].as_str().unwrap());
    let me = app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", &short)]).await.expect(200);
    assert_eq!(me.body["expires_at"], soon);
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    app.call(Method::GET, "/api/v1/auth/me", None, &[("authorization", &short)]).await.expect(401);
    let past = json!({ "name": "old", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z" });
    assert_eq!(app.post("/api/v1/tokens", past).await.expect(422).body["field"], "expires_at");
}

async fn the_last_admin_stays(db: Db) {
    let app = TestApp::spawn(db).await;
    app.patch("/api/v1/users/1", json!({ "role": "editor" })).await.expect(409);
    app.patch("/api/v1/users/1", json!({ "disabled": true })).await.expect(409);
    let bad = app.post("/api/v1/users", json!({ "email": "x", "password": "a-good-password", "role": "admin" })).await;
    assert_eq!(bad.expect(400).body["field"], "email");
    let short = app.post("/api/v1/users", json!({ "email": "x@y.z", "password": "short", "role": "admin" })).await;
    assert_eq!(short.expect(422).body["field"], "password");
    user_with_role(&app, "second@pennon.test", "admin").await;
    app.patch("/api/v1/users/1", json!({ "role": "viewer" })).await.expect(200);
    // The role change ended the session that made it.
    app.get("/api/v1/users").await.expect(401);
    let viewer = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let auth = format!("Bearer {viewer}");
    app.call(Method::GET, "/api/v1/users", None, &[("authorization", &auth)]).await.expect(403);
}
