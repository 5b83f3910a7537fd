//! Hostile input for every operation of `openapi/openapi.json`, read when the test runs, so that a new
//! endpoint is covered without editing this file: every JSON body gets oversized, deeply nested,
//! array-for-object, invalid UTF-8, NUL-bearing, huge-number and duplicate-key bodies, and every path and
//! query parameter gets hostile values. Each answer is a 4xx problem (OFREP's in its own shape), never a 5xx
//! or a dropped connection, and nothing stored changes: the lists read before and after are equal.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp};

both!(every_operation_refuses_hostile_input);

/// Values for one path or query parameter, already percent-encoded where they need to be.
const HOSTILE_VALUES: &[&str] = &[
    "%00",
    "a%00b",
    "%F0%9F%98%80",
    "%FF%FE",
    "%C0%AF",
    "%E2%80%AE",
    "..%2F..%2Fetc%2Fpasswd",
    "-1",
    "99999999999999999999999",
    "1e999",
    "%27%3B%20DROP%20TABLE%20flags%3B--",
    "%25%30%30",
    "%5C",
];

fn document() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the document is JSON")
}

/// What exists after [`setup`], by path parameter name.
fn existing(name: &str) -> &'static str {
    match name {
        "flag" | "key" => "f1",
        "metric" => "m1",
        "env" => "production",
        "segment" => "s1",
        "rule_id" => "r1",
        "id" => "1",
        // Any JSON fires a trigger, so a real one would change the flag: an unknown secret (404) stands in.
        "secret" => "pnn_trg_unknown",
        other => panic!("no value for the path parameter {other}: add one to `existing`"),
    }
}

struct Setup {
    server_key: String,
}

async fn setup(app: &TestApp) -> Setup {
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "f1", "kind": "boolean", "tags": ["t"] })).await.expect(201);
    app.post("/api/v1/segments", json!({ "key": "s1", "included": ["alice"] })).await.expect(201);
    let rule = json!({ "id": "r1", "conditions": [], "segments": ["s1"], "serve": { "variant": "on" } });
    app.post("/api/v1/flags/f1/environments/production/rules", rule).await.expect(200);
    app.post("/api/v1/tokens", json!({ "name": "robot", "role": "viewer" })).await.expect(201);
    let key = app.post("/api/v1/environments/production/keys", json!({ "kind": "server", "name": "svc" })).await;
    Setup { server_key: key.expect(201).body["key"].as_str().unwrap().to_owned() }
}

/// Everything stored that the API lists, read as an admin.
async fn export(app: &TestApp) -> Vec<(String, u16, Value)> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/environments",
        "/api/v1/flags?limit=500",
        "/api/v1/segments?limit=500",
        "/api/v1/audit?limit=500",
        "/api/v1/tokens",
        "/api/v1/users",
        "/api/v1/environments/production/keys",
        "/api/v1/flags/f1/environments/production",
        "/api/v1/flags/f1/environments/production/history?limit=500",
        "/api/v1/flags/f1/environments/production/guards",
        "/api/v1/flags/f1/environments/production/rollout-plan",
    ] {
        let reply = app.get(path).await;
        out.push((path.to_owned(), reply.status.as_u16(), reply.body));
    }
    out
}

/// One operation of the document.
struct Operation {
    method: Method,
    path: String,
    json_body: Option<Value>,
    parameters: Vec<(String, String)>,
    sdk_key_only: bool,
    public: bool,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else { continue };
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            let json_body = (!schema.is_null()).then(|| resolve(doc, schema).clone());
            let parameters = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path" || p["in"] == "query")
                .map(|p| (p["in"].as_str().unwrap().to_owned(), p["name"].as_str().unwrap().to_owned()))
                .collect();
            let requirements = op["security"].as_array().cloned().unwrap_or_default();
            let public = requirements.is_empty()
                || requirements.iter().any(|r| r.as_object().is_some_and(serde_json::Map::is_empty));
            let sdk_key_only = !requirements.is_empty() && requirements.iter().all(|r| r.get("sdk_key").is_some());
            out.push(Operation { method, path: path.clone(), json_body, parameters, sdk_key_only, public });
        }
    }
    out
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

/// The top-level field names a body schema documents (a few plausible ones when it documents none).
fn fields(schema: &Value) -> Vec<String> {
    let names: Vec<String> = schema["properties"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
    if names.is_empty() { vec!["key".into(), "name".into(), "context".into()] } else { names }
}

/// Bodies no operation may accept, each with a name for the failure message.
fn hostile_bodies(schema: &Value, max_body: usize) -> Vec<(&'static str, Vec<u8>)> {
    let names = fields(schema);
    let object_of = |value: &str| {
        let entries: Vec<String> = names.iter().map(|n| format!("{}: {value}", Value::String(n.clone()))).collect();
        format!("{{{}}}", entries.join(", ")).into_bytes()
    };
    let mut oversized = br#"{"x": ""#.to_vec();
    oversized.resize(max_body + 1024, b'a');
    oversized.extend_from_slice(br#""}"#);
    let depth = 100_000;
    let nested = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes();
    let first = Value::String(names[0].clone());
    vec![
        ("oversized", oversized),
        ("deeply nested", nested),
        ("array for object", b"[{}]".to_vec()),
        ("array of the fields", format!("[{}]", vec!["\"x\""; names.len()].join(", ")).into_bytes()),
        ("invalid UTF-8", [&br#"{"key": "a"#[..], &[0xff, 0xfe, 0xc0, 0xaf], &br#"", "name": "b"}"#[..]].concat()),
        ("NUL in every field", object_of("\"a\\u0000b\"")),
        ("huge float in every field", object_of("1e999")),
        ("huge integer in every field", object_of("123456789012345678901234567890")),
        ("duplicate keys", format!("{{{first}: {{}}, {first}: {{}}}}").into_bytes()),
    ]
}

fn concrete(path: &str, hostile: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closed parameter") + start;
        out.push_str(&rest[..start]);
        let name = &rest[start + 1..end];
        match hostile {
            Some((hostile_name, value)) if hostile_name == name => out.push_str(value),
            _ => out.push_str(existing(name)),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

struct Sent {
    status: u16,
    content_type: String,
    body: Value,
}

async fn send(app: &TestApp, setup: &Setup, op: &Operation, url: &str, body: Option<Vec<u8>>) -> Sent {
    let mut request = app.client.request(op.method.clone(), format!("{}{url}", app.base));
    if op.sdk_key_only {
        request = request.bearer_auth(&setup.server_key);
    } else if !op.public {
        request = request.bearer_auth(&app.admin_token).header("x-pennon-environment", "production");
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    let response =
        request.send().await.unwrap_or_else(|e| panic!("{} {url}: no answer, the connection dropped: {e}", op.method));
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let bytes = response.bytes().await.unwrap_or_else(|e| panic!("{} {url}: the answer broke off: {e}", op.method));
    Sent { status, content_type, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// Whether an answer is a refusal in the operation's own error shape.
fn is_refusal(op: &Operation, sent: &Sent) -> bool {
    let ofrep = op.path.starts_with("/ofrep/");
    (400..500).contains(&sent.status)
        && if ofrep {
            sent.content_type.starts_with("application/json") && sent.body["errorCode"].is_string()
        } else {
            sent.content_type == "application/problem+json" && sent.body["status"] == sent.status
        }
}

async fn every_operation_refuses_hostile_input(db: Db) {
    let app = TestApp::spawn(db).await;
    let setup = setup(&app).await;
    let before = export(&app).await;
    let doc = document();
    let operations = operations(&doc);
    assert!(operations.len() > 50, "only {} operations read from the document", operations.len());
    let mut failures = Vec::new();
    let mut sent_count = 0;

    for op in operations.iter().filter(|op| op.json_body.is_some()) {
        let url = concrete(&op.path, None);
        for (what, body) in hostile_bodies(op.json_body.as_ref().unwrap(), app.config.max_body_bytes) {
            let sent = send(&app, &setup, op, &url, Some(body)).await;
            sent_count += 1;
            if !is_refusal(op, &sent) {
                failures.push(format!(
                    "{} {url} with a {what} body: {} {} {}",
                    op.method, sent.status, sent.content_type, sent.body
                ));
            }
        }
    }

    for op in &operations {
        for (place, name) in &op.parameters {
            for value in HOSTILE_VALUES.iter().copied().chain([&*"a".repeat(10_000)]) {
                let url = match place.as_str() {
                    "path" => concrete(&op.path, Some((name, value))),
                    _ => format!("{}?{name}={value}", concrete(&op.path, None)),
                };
                let body = op.json_body.as_ref().map(|_| b"{}".to_vec());
                let sent = send(&app, &setup, op, &url, body).await;
                sent_count += 1;
                let fine = sent.status < 400 || is_refusal(op, &sent);
                if !fine || sent.status >= 500 {
                    failures.push(format!("{} {url}: {} {} {}", op.method, sent.status, sent.content_type, sent.body));
                }
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {sent_count} hostile requests were not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let after = export(&app).await;
    for ((path, status_before, body_before), (_, status_after, body_after)) in before.iter().zip(&after) {
        assert_eq!((status_before, body_before), (status_after, body_after), "{path} changed");
    }
}
