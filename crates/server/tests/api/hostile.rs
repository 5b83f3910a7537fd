//! Hostile input: whatever a request sends, the answer is a 4xx problem (never a 5xx or a dropped
//! connection) and nothing stored changes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp};

both!(
    cursors_that_are_not_ours_are_refused,
    arrays_where_objects_belong_are_refused,
    control_characters_in_text_are_refused,
    control_characters_in_queries_and_paths_are_refused,
    evaluation_checks_the_caller_before_the_body,
    evaluation_contexts_are_bounded,
);

/// Asserts a 4xx `application/problem+json` answer.
#[track_caller]
fn problem(reply: &crate::helpers::Reply, status: u16) {
    assert_eq!(reply.status.as_u16(), status, "body: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"), "body: {}", reply.body);
}

/// Sends a raw body with a JSON content type.
async fn raw(app: &TestApp, method: Method, path: &str, body: &str, headers: &[(&str, &str)]) -> crate::helpers::Reply {
    let mut req = app.client.request(method, format!("{}{path}", app.base)).header("content-type", "application/json");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
        req = req.bearer_auth(&app.admin_token);
    }
    for (name, value) in headers.iter().filter(|(_, v)| !v.is_empty()) {
        req = req.header(*name, *value);
    }
    let res = req.body(body.to_owned()).send().await.expect("an answer, not a dropped connection");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    crate::helpers::Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

async fn cursors_that_are_not_ours_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for list in ["/api/v1/flags", "/api/v1/segments", "/api/v1/audit", "/api/v1/environments"] {
        for cursor in ["%F0%9F%98%80", "%C3%BCx", "a%F0%9F%98%80b", "zz", "0", "%00%00", "6162%FF"] {
            let reply = app.get(&format!("{list}?cursor={cursor}")).await;
            if reply.status.as_u16() != 200 {
                problem(&reply, 400);
            }
        }
    }
}

async fn arrays_where_objects_belong_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/segments", json!({ "key": "staff", "included": ["alice"] })).await.expect(201);
    let before = app.get("/api/v1/segments/staff").await.expect(200).body;

    problem(&raw(&app, Method::PUT, "/api/v1/segments/staff", "[]", &[]).await, 400);
    problem(&raw(&app, Method::POST, "/api/v1/flags", r#"["positional", "boolean"]"#, &[]).await, 400);
    problem(&raw(&app, Method::POST, "/api/v1/flags", "7", &[]).await, 400);
    let login = r#"["admin@pennon.test", "correct horse battery staple"]"#;
    problem(&raw(&app, Method::POST, "/api/v1/auth/login", login, &[("authorization", "")]).await, 400);

    assert_eq!(app.get("/api/v1/segments/staff").await.expect(200).body, before);
    assert_eq!(app.get("/api/v1/flags").await.expect(200).body["items"], json!([]));
}

async fn control_characters_in_text_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let nul = "x\u{0}y";
    let login = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({ "email": "x\u{0}@example.com", "password": "whatever-it-is" })),
            &[("authorization", "")],
        )
        .await;
    assert!(login.status.is_client_error(), "login: {} {}", login.status, login.body);

    let cases = [
        ("/api/v1/flags", json!({ "key": "f1", "kind": "boolean", "name": nul }), "name"),
        ("/api/v1/flags", json!({ "key": "f1", "kind": "boolean", "description": nul }), "description"),
        ("/api/v1/flags", json!({ "key": "f1", "kind": "boolean", "tags": ["ok", "t\u{1}"] }), "tags[1]"),
        ("/api/v1/environments", json!({ "key": "staging", "name": "a\u{7}b" }), "name"),
        ("/api/v1/tokens", json!({ "name": nul, "role": "viewer" }), "name"),
        ("/api/v1/environments/production/keys", json!({ "kind": "server", "name": nul }), "name"),
        (
            "/api/v1/users",
            json!({ "email": "a\u{0}@example.com", "password": "a-long-enough-one", "role": "viewer" }),
            "email",
        ),
    ];
    for (path, body, field) in cases {
        let reply = app.post(path, body.clone()).await;
        problem(&reply, 422);
        assert_eq!(reply.body["field"], json!(field), "{path} {body}: {}", reply.body);
    }
    let segment = app.post("/api/v1/segments", json!({ "key": "s1", "name": nul })).await;
    problem(&segment, 422);
    assert_eq!(app.get("/api/v1/segments").await.expect(200).body["items"], json!([]));
    // A description may hold line breaks.
    app.post("/api/v1/flags", json!({ "key": "f2", "kind": "boolean", "description": "one\ntwo\r\n\tthree" }))
        .await
        .expect(201);
    assert_eq!(app.get("/api/v1/flags").await.expect(200).body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/environments").await.expect(200).body["items"].as_array().unwrap().len(), 1);
}

async fn control_characters_in_queries_and_paths_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for path in [
        "/api/v1/flags?q=a%00b",
        "/api/v1/flags?tag=a%00b",
        "/api/v1/audit?actor=a%00b",
        "/api/v1/audit?flag=a%00b",
        "/api/v1/audit?environment=a%00b",
    ] {
        let reply = app.get(path).await;
        problem(&reply, 400);
    }
    for path in ["/api/v1/flags/a%00b", "/api/v1/environments/a%00b", "/api/v1/segments/a%00b"] {
        let reply = app.get(path).await;
        assert!(matches!(reply.status.as_u16(), 400 | 404), "{path}: {} {}", reply.status, reply.body);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{path}");
    }
}

async fn evaluation_checks_the_caller_before_the_body(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    // No credential and a body that is not even JSON: the caller is refused first (OFREP answers in its
    // own error format).
    for path in ["/api/v1/evaluate", "/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/f"] {
        for credential in ["", "Bearer pnn_srv_nope", "Bearer not-a-token"] {
            let reply = raw(&app, Method::POST, path, "{not json", &[("authorization", credential)]).await;
            assert_eq!(reply.status.as_u16(), 401, "{path} {credential:?}: {}", reply.body);
            if path == "/api/v1/evaluate" {
                problem(&reply, 401);
            }
        }
    }
}

async fn evaluation_contexts_are_bounded(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let key = app
        .post("/api/v1/environments/production/keys", json!({ "kind": "server", "name": "svc" }))
        .await
        .expect(201)
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {key}");
    let attributes: serde_json::Map<String, Value> = (0..257).map(|i| (format!("a{i}"), json!(i))).collect();
    let body = json!({ "environment": "production", "context": { "key": "u", "attributes": attributes } });
    let reply = raw(&app, Method::POST, "/api/v1/evaluate", &body.to_string(), &[("authorization", &bearer)]).await;
    problem(&reply, 422);
    assert!(reply.body.to_string().contains("256"), "the answer names the limit: {}", reply.body);
    let mut deep = String::new();
    for _ in 0..200 {
        deep.push_str("{\"a\":");
    }
    deep.push('1');
    for _ in 0..200 {
        deep.push('}');
    }
    let body = format!(r#"{{"environment": "production", "context": {{"key": "u", "attributes": {{"x": {deep}}}}}}}"#);
    let reply = raw(&app, Method::POST, "/api/v1/evaluate", &body, &[("authorization", &bearer)]).await;
    assert!(reply.status.is_client_error(), "{} {}", reply.status, reply.body);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    // Within the limits it evaluates.
    let attributes: serde_json::Map<String, Value> = (0..256).map(|i| (format!("a{i}"), json!(i))).collect();
    let body = json!({ "environment": "production", "context": { "key": "u", "attributes": attributes } });
    raw(&app, Method::POST, "/api/v1/evaluate", &body.to_string(), &[("authorization", &bearer)]).await.expect(200);
}
