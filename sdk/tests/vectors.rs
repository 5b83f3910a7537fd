//! The engine's evaluation test vectors (`crates/engine/tests/vectors/evaluation/*.json`), run through the SDK's
//! public API: each snapshot is served by a [`TestData`] client and by an offline client bootstrapped with it,
//! and every case is checked through `json_detail` (variant, value, reason, version) and through the typed call
//! that matches the flag's kind. A typed call of another kind must answer `TYPE_MISMATCH` with the caller's
//! default (or the engine's own error, when it has one).

use std::path::{Path, PathBuf};

use pennon_sdk::{Client, Context, ErrorCode, FlagKind, Reason, Snapshot, TestData};
use serde_json::{Value, json};

const MIN_CASES: usize = 150;

fn vector_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/engine/tests/vectors/evaluation");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Checks one case on one client; returns every difference.
fn check(client: &Client, kinds: &[(String, FlagKind)], case: &Value) -> Vec<String> {
    let flag = case["flag"].as_str().expect("case flag");
    let ctx: Context = serde_json::from_value(case["context"].clone()).expect("case context");
    let expected = &case["expected"];
    let mut problems = Vec::new();

    let detail = client.json_detail(flag, &ctx, Value::Null);
    let actual = json!({
        "variant": detail.variant,
        "value": detail.value,
        "reason": serde_json::to_value(&detail.reason).unwrap(),
        "version": detail.version,
    });
    for field in ["variant", "value", "reason", "version"] {
        if let Some(want) = expected.get(field)
            && *want != actual[field]
        {
            problems.push(format!("json_detail {field}: expected {want}, got {}", actual[field]));
        }
    }

    let want_value = &expected["value"];
    let kind = kinds.iter().find(|(k, _)| k == flag).map(|(_, kind)| *kind);
    // The typed call of the flag's own kind answers like json_detail, with its own default on error.
    let typed: Option<(Value, Reason)> = match kind {
        Some(FlagKind::Boolean) => {
            let d = client.bool_detail(flag, &ctx, false);
            let same = if want_value.is_null() { !d.value } else { Some(d.value) == want_value.as_bool() };
            Some((json!(same), d.reason))
        }
        Some(FlagKind::String) => {
            let d = client.string_detail(flag, &ctx, "<default>");
            let same = if want_value.is_null() {
                d.value == "<default>"
            } else {
                Some(d.value.as_str()) == want_value.as_str()
            };
            Some((json!(same), d.reason))
        }
        Some(FlagKind::Number) => {
            let d = client.number_detail(flag, &ctx, -0.5);
            let want = want_value.as_f64().unwrap_or(-0.5);
            Some((json!((d.value - want).abs() < 1e-9), d.reason))
        }
        Some(FlagKind::Json) | None => None,
    };
    if let Some((same, reason)) = typed {
        if same != json!(true) {
            problems.push(format!("typed call of kind {kind:?}: value differs from {want_value}"));
        }
        if serde_json::to_value(&reason).unwrap() != expected["reason"] {
            problems.push(format!("typed call reason: expected {}, got {reason:?}", expected["reason"]));
        }
    }

    // A call of another kind: TYPE_MISMATCH and the caller's default, unless the engine already had an error.
    if kind != Some(FlagKind::Json) {
        let other = if kind == Some(FlagKind::Boolean) {
            client.number_detail(flag, &ctx, 7.0).reason
        } else {
            client.bool_detail(flag, &ctx, true).reason
        };
        let want = if want_value.is_null() {
            serde_json::from_value::<ErrorCode>(expected["reason"]["error"].clone()).ok()
        } else {
            Some(ErrorCode::TypeMismatch)
        };
        if other.error() != want {
            problems.push(format!("call of another kind: expected error {want:?}, got {other:?}"));
        }
    }
    problems
}

#[tokio::test]
async fn evaluation_vectors_through_the_sdk() {
    let mut total = 0;
    let mut failures = Vec::new();
    for path in vector_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let snapshot: Snapshot = serde_json::from_value(doc["snapshot"].clone()).expect("vector snapshot");
        let kinds: Vec<(String, FlagKind)> =
            snapshot.flags.iter().map(|f| (f.definition.key.clone(), f.definition.kind)).collect();

        let data = TestData::new();
        data.put(snapshot.clone());
        let from_test_data = data.client();
        let bootstrapped =
            Client::builder("http://127.0.0.1:9", "unused").bootstrap(snapshot).offline(true).build().await.unwrap();

        for case in doc["cases"].as_array().expect("cases") {
            total += 1;
            let case_name = case["name"].as_str().unwrap_or("?");
            for (client, via) in [(&from_test_data, "test data"), (&bootstrapped, "bootstrap")] {
                for problem in check(client, &kinds, case) {
                    failures.push(format!("{name} / {case_name} ({via}): {problem}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} problems:\n  {}", failures.len(), failures.join("\n  "));
    assert!(total >= MIN_CASES, "only {total} cases; expected at least {MIN_CASES}");
}

/// The bucketing contract (`crates/engine/tests/vectors/bucketing.json`), through the SDK's public API: each
/// vector's salt is a flag's, its value a context key, and the bucket the SDK reports for the flag's split
/// must be the vector's.
#[tokio::test]
async fn bucketing_vectors_through_the_sdk() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/engine/tests/vectors/bucketing.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let vectors = doc["vectors"].as_array().expect("vectors");
    let flags: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({
                "definition": {"key": format!("f{i}"), "kind": "boolean", "salt": v["salt"],
                    "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}]},
                "config": {"flag": format!("f{i}"), "environment": "e", "version": 1, "enabled": true,
                    "off_variant": "off",
                    "default": {"split": {"weights": [{"variant": "on", "weight": 50000}, {"variant": "off", "weight": 50000}]}}}
            })
        })
        .collect();
    let snapshot: Snapshot =
        serde_json::from_value(json!({"environment": "e", "revision": 1, "flags": flags})).expect("snapshot");
    let data = TestData::new();
    data.put(snapshot);
    let client = data.client();
    let mut failures = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        let ctx = Context::new(v["value"].as_str().expect("value"));
        let detail = client.bool_detail(&format!("f{i}"), &ctx, false);
        let bucket = serde_json::to_value(&detail.reason).unwrap()["bucket"].clone();
        let want = &v["bucket"];
        if bucket != *want || detail.value != (want.as_u64().unwrap() < 50_000) {
            failures.push(format!("{v}: got bucket {bucket}, value {}", detail.value));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ:\n  {}",
        failures.len(),
        vectors.len(),
        failures.join("\n  ")
    );
    assert!(vectors.len() >= 200, "only {} bucketing vectors", vectors.len());
}
