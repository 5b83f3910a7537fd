//! The OpenAPI document: generated from the code, committed at `openapi/openapi.json`, served at
//! `/openapi.json` and rendered at `/api-docs`.

use std::path::Path;

use serde_json::Value;

use crate::helpers::{Db, TestApp};

const REGENERATE: &str = "run `cargo run -p pennon-server -- openapi > openapi/openapi.json` from the repository root";

fn generated() -> String {
    pennon_server::http::router::openapi().to_pretty_json().expect("the document serializes")
}

#[test]
fn committed_document_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}; {REGENERATE}", path.display()));
    let generated = generated();
    if committed.trim_end() == generated.trim_end() {
        return;
    }
    let (line, committed_line, generated_line) = first_difference(&committed, &generated);
    panic!(
        "openapi/openapi.json is out of date with the code; {REGENERATE}\n\
         first difference at line {line}:\n  committed: {committed_line}\n  generated: {generated_line}"
    );
}

/// The first line (1-based) where two texts differ, and that line of each.
fn first_difference<'a>(a: &'a str, b: &'a str) -> (usize, &'a str, &'a str) {
    let (mut left, mut right) = (a.lines(), b.lines());
    let mut line = 1;
    loop {
        match (left.next(), right.next()) {
            (None, None) => return (line, "", ""),
            (l, r) if l != r => return (line, l.unwrap_or("<end of file>"), r.unwrap_or("<end of file>")),
            _ => line += 1,
        }
    }
}

/// Every `$ref` names a schema the document holds: a dangling one leaves clients and schemathesis guessing
/// (a query parameter's enum went missing this way).
#[test]
fn every_reference_resolves() {
    fn walk(value: &Value, doc: &Value, at: &str, dangling: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let pointer = target.strip_prefix('#').unwrap_or(target);
                    if doc.pointer(pointer).is_none() {
                        dangling.push(format!("{at}: {target}"));
                    }
                }
                for (key, inner) in map {
                    walk(inner, doc, &format!("{at}/{key}"), dangling);
                }
            }
            Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(inner, doc, &format!("{at}/{i}"), dangling);
                }
            }
            _ => {}
        }
    }
    let doc: Value = serde_json::from_str(&generated()).expect("JSON");
    let mut dangling = Vec::new();
    walk(&doc, &doc, "", &mut dangling);
    assert!(dangling.is_empty(), "references to nothing:\n{}", dangling.join("\n"));
}

#[test]
fn every_operations_endpoint_is_documented() {
    let doc: Value = serde_json::from_str(&generated()).expect("JSON");
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/api-docs"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} is missing from the OpenAPI document");
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            assert!(
                operation["tags"].as_array().is_some_and(|tags| !tags.is_empty()),
                "{method} {path} has no tag, so the API reference cannot group it"
            );
        }
    }
}

#[tokio::test]
async fn served_document_and_reference_page() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let served = app.get("/openapi.json").await.expect(200);
    assert_eq!(served.header("content-type"), Some("application/json"));
    let generated: Value = serde_json::from_str(&generated()).expect("JSON");
    assert_eq!(served.body, generated);

    let page = app.get("/api-docs").await.expect(200);
    assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")));
    let html = page.body.as_str().expect("an HTML page");
    assert!(html.contains("/openapi.json"), "the page loads the document");
    for external in ["http://", "https://", "//cdn", "<link"] {
        assert!(!html.contains(external), "the page must work offline, found {external:?}");
    }
}
