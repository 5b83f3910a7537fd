//! Every route × every kind of credential → the expected 401 / 403 / allowed.
//!
//! The route table is the OpenAPI document generated from the code: each operation declares the least role
//! (`bearer`/`session_cookie` scopes) or SDK key kind (`sdk_key` scope) it needs, or an empty requirement for
//! public routes. A route that declares nothing fails this test, so a new route cannot be forgotten.

use std::collections::BTreeMap;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use pennon_server::app::config::ServeConfig;
use pennon_server::auth::{AUDIENCE, Claims, ISSUER};
use pennon_server::store::{Role, now_millis};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Db, TestApp, TestDatabase};

const SECRET: &str = "matrix-secret-matrix-secret-matrix-secret";
const PUBLIC: [&str; 5] = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/api-docs"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cred {
    Nothing,
    Invalid,
    Role(Role),
    ServerKey,
    ClientKey,
}

#[derive(Debug, Default)]
struct Need {
    role: Option<Role>,
    server_key: bool,
    client_key: bool,
    public: bool,
}

fn need(op: &Value, path: &str) -> Need {
    let Some(requirements) = op.get("security").and_then(Value::as_array) else {
        assert!(PUBLIC.contains(&path), "{path} declares no security requirement in OpenAPI");
        return Need { public: true, ..Need::default() };
    };
    let mut need = Need::default();
    for req in requirements {
        let req = req.as_object().unwrap();
        if req.is_empty() {
            need.public = true;
        }
        for (scheme, scopes) in req {
            let scope = scopes.get(0).and_then(Value::as_str).unwrap_or_default();
            match scheme.as_str() {
                "session_cookie" if scope.is_empty() => {}
                "bearer" | "session_cookie" => {
                    need.role = Some(Role::parse(scope).unwrap_or_else(|| panic!("{path}: {scheme} names no role")));
                }
                "sdk_key" => {
                    need.server_key = true;
                    need.client_key |= scope == "client";
                }
                other => panic!("{path}: unknown security scheme {other}"),
            }
        }
    }
    need
}

fn allowed(need: &Need, cred: Cred) -> Result<(), u16> {
    if need.public {
        return Ok(());
    }
    match cred {
        Cred::Nothing | Cred::Invalid => Err(401),
        Cred::Role(r) => match need.role {
            Some(q) if r >= q => Ok(()),
            Some(_) => Err(403),
            None => Err(401),
        },
        Cred::ServerKey if need.server_key => Ok(()),
        Cred::ClientKey if need.client_key => Ok(()),
        Cred::ServerKey | Cred::ClientKey => Err(if need.role.is_some() || need.server_key { 403 } else { 401 }),
    }
}

fn jwt(claims: &Claims, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

async fn credentials(app: &TestApp) -> Vec<(String, Cred, String)> {
    let mut creds = vec![("nothing".to_owned(), Cred::Nothing, String::new())];
    let now = now_millis() / 1000;
    let claims = |exp: i64| Claims {
        sub: "1".into(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now - 10,
        nbf: now - 10,
        exp,
        role: Role::Admin,
        email: "admin@pennon.test".into(),
        sid: "a-session-never-issued".into(),
    };
    let valid = claims(now + 600);
    creds.push(("expired JWT".into(), Cred::Invalid, jwt(&claims(now - 3600), SECRET)));
    creds.push(("JWT of another secret".into(), Cred::Invalid, jwt(&valid, "another-secret-another-secret-another")));
    creds.push((
        "JWT for another audience".into(),
        Cred::Invalid,
        jwt(&Claims { aud: "x".into(), ..valid.clone() }, SECRET),
    ));
    creds.push((
        "JWT of another issuer".into(),
        Cred::Invalid,
        jwt(&Claims { iss: "x".into(), ..valid.clone() }, SECRET),
    ));
    let unsigned = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"JWT"}"#),
        base64url(serde_json::to_string(&valid).unwrap().as_bytes())
    );
    creds.push(("JWT with alg none".into(), Cred::Invalid, unsigned));
    for (role, name) in [(Role::Viewer, "viewer"), (Role::Editor, "editor"), (Role::Admin, "admin")] {
        let email = format!("{name}@matrix.test");
        app.post("/api/v1/users", json!({ "email": email, "password": "matrix-password", "role": name }))
            .await
            .expect(201);
        creds.push((format!("{name} session"), Cred::Role(role), app.login(&email, "matrix-password").await));
        let token = app.post("/api/v1/tokens", json!({ "name": name, "role": name })).await.expect(201);
        creds.push((format!("{name} API token"), Cred::Role(role), token.body["token"].as_str().unwrap().to_owned()));
    }
    let leaver = app
        .post("/api/v1/users", json!({ "email": "gone@matrix.test", "password": "matrix-password", "role": "admin" }));
    let leaver = leaver.await.expect(201).body["id"].as_i64().unwrap();
    let gone = app.login("gone@matrix.test", "matrix-password").await;
    app.patch(&format!("/api/v1/users/{leaver}"), json!({ "disabled": true })).await.expect(200);
    creds.push(("disabled user's session".into(), Cred::Invalid, gone));
    let revoked = app.post("/api/v1/tokens", json!({ "name": "revoked", "role": "admin" })).await.expect(201);
    app.delete(&format!("/api/v1/tokens/{}", revoked.body["id"])).await.expect(204);
    creds.push(("revoked API token".into(), Cred::Invalid, revoked.body["token"].as_str().unwrap().to_owned()));
    for (env, kind, cred) in [
        ("production", "server", Cred::ServerKey),
        ("production", "client", Cred::ClientKey),
        ("staging", "server", Cred::ServerKey),
    ] {
        let key = app.post(&format!("/api/v1/environments/{env}/keys"), json!({ "kind": kind, "name": "m" })).await;
        creds.push((format!("{env} {kind} key"), cred, key.expect(201).body["key"].as_str().unwrap().to_owned()));
    }
    creds
}

fn concrete(method: &str, path: &str) -> String {
    let destructive = method == "delete" || path.ends_with("/archive") || path.ends_with("/unarchive");
    let mut params = BTreeMap::from([
        ("{env}", if destructive && path == "/api/v1/environments/{env}" { "doomed" } else { "production" }),
        ("{flag}", if destructive && !path.contains("/rules") { "doomed" } else { "matrix" }),
        ("{segment}", if destructive { "doomed" } else { "seg" }),
        ("{rule_id}", "r1"),
        ("{key}", "matrix"),
        ("{id}", "999999"),
        ("{guard}", "g"),
        ("{metric}", "m"),
        ("{secret}", "pnn_trg_unknown"),
    ]);
    if path.starts_with("/api/v1/users/") {
        params.insert("{id}", "1");
    }
    let mut concrete = path.to_owned();
    for (param, value) in params {
        concrete = concrete.replace(param, value);
    }
    assert!(!concrete.contains('{'), "no value for a parameter of {path}");
    concrete
}

async fn setup(app: &TestApp) {
    for env in ["production", "staging", "doomed"] {
        app.environment(env).await;
    }
    for flag in ["matrix", "doomed"] {
        app.post("/api/v1/flags", json!({ "key": flag, "kind": "boolean" })).await.expect(201);
    }
    for segment in ["seg", "doomed"] {
        app.post("/api/v1/segments", json!({ "key": segment, "included": ["u1"] })).await.expect(201);
    }
    let rule = json!({ "id": "r1", "conditions": [], "segments": ["seg"], "serve": { "variant": "on" } });
    app.post("/api/v1/flags/matrix/environments/production/rules", rule).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_every_credential() {
    let database = TestDatabase::new(Db::Sqlite).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.jwt_secret = Some(SECRET.into());
    let app = TestApp::spawn_with(database, config).await;
    setup(&app).await;
    let creds = credentials(&app).await;
    let doc = serde_json::to_value(pennon_server::http::router::openapi()).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    // Signing out ends the session the matrix goes on using (`sessions.rs` tests it).
    for (path, item) in doc["paths"].as_object().unwrap().iter().filter(|(path, _)| *path != "/api/v1/auth/logout") {
        for (method, op) in item.as_object().unwrap() {
            let need = need(op, path);
            let url = concrete(method, path);
            let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = matches!(method.as_str(), "post" | "put" | "patch").then(|| json!({}));
            for (name, cred, secret) in &creds {
                // Only the status is read: streams never end.
                let mut request = app.client.request(verb.clone(), format!("{}{url}", app.base));
                if matches!(cred, Cred::Role(_)) {
                    // Admin credentials name the environment they evaluate in; SDK keys bring their own.
                    request = request.header("x-pennon-environment", "production");
                }
                if !secret.is_empty() {
                    request = request.bearer_auth(secret);
                }
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let status = request.send().await.expect("request sent").status().as_u16();
                checked += 1;
                match allowed(&need, *cred) {
                    Ok(()) if status == 401 || status == 403 => {
                        failures.push(format!("{method} {url} with {name}: {status}, expected access"));
                    }
                    Err(expected) if status != expected => {
                        failures.push(format!("{method} {url} with {name}: {status}, expected {expected}"));
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} combinations checked");
    assert!(failures.is_empty(), "{} of {checked} combinations wrong:\n{}", failures.len(), failures.join("\n"));
}

/// Paths that try to walk around the router never reach a protected handler without a credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_do_not_bypass_authentication() {
    let app = TestApp::spawn(Db::Sqlite).await;
    app.environment("production").await;
    let addr = app.server.as_ref().unwrap().addr;
    for path in [
        "/api/v1/health/../flags",
        "/api/v1/%2e%2e/api/v1/flags",
        "/api/v1/flags/%2e%2e",
        "/healthz/../api/v1/flags",
        "/api/v1//flags",
        "/api/v1/./flags",
        "/API/V1/FLAGS",
        "/api/v1/flags%00",
    ] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status: u16 = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!(matches!(status, 400 | 401 | 404), "{path} answered {status}");
    }
}
