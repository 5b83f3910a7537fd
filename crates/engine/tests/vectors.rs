//! Runs the language-neutral test vectors in `tests/vectors` through the engine.
//!
//! - `tests/vectors/evaluation/*.json`: `{ "description", "snapshot", "cases": [{ "name", "flag", "context",
//!   "expected": { "variant", "value", "reason", "version"? } }] }`. Each snapshot is compiled once and every
//!   case evaluated; variant, value and reason (and version, when given) must equal the expectation exactly.
//! - `tests/vectors/bucketing.json`: `{ "source", "formula", "vectors": [{ "salt", "value", "bucket", "hash"? }] }`,
//!   produced by an independent MurmurHash3 implementation.
//!
//! Every failing case is reported, by file and name, in one panic message. Minimum counts keep the suites from
//! shrinking unnoticed.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use pennon_engine::{CompiledSnapshot, Context, ContextRef, Snapshot, bucket, murmur3_x86_32};
use serde_json::{Value, json};

/// The evaluation suite may grow, never shrink below this.
const MIN_EVALUATION_CASES: usize = 150;
/// The bucketing suite may grow, never shrink below this.
const MIN_BUCKETING_VECTORS: usize = 200;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("vectors")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn evaluation_files() -> Vec<PathBuf> {
    let dir = vectors_dir().join("evaluation");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
}

/// Evaluates one case; `Err` describes every way the outcome differs from the expectation.
fn run_case(snapshot: &CompiledSnapshot, case: &Value) -> Result<(), String> {
    let flag = case["flag"].as_str().ok_or("the case has no \"flag\" string")?;
    let context: Context = serde_json::from_value(case["context"].clone())
        .map_err(|e| format!("the context does not deserialise: {e}"))?;
    let expected = case["expected"].as_object().ok_or("the case has no \"expected\" object")?;
    if let Some(unknown) = expected.keys().find(|k| !["variant", "value", "reason", "version"].contains(&k.as_str())) {
        return Err(format!("unknown expectation \"{unknown}\""));
    }

    let eval = snapshot.evaluate(flag, &context);
    // A borrowed context (its values of their own kinds, as a reader of request bodies makes them) evaluates
    // as the owned one.
    let borrowed = ContextRef::from(&context);
    if snapshot.evaluate(flag, &borrowed) != eval || snapshot.evaluate_all(&borrowed) != snapshot.evaluate_all(&context)
    {
        return Err("a ContextRef of the context evaluates differently".into());
    }
    let actual = json!({
        "variant": eval.variant,
        "value": eval.value,
        "reason": eval.reason,
        "version": eval.version,
    });
    let mut differences = Vec::new();
    if eval.flag != flag {
        differences.push(format!("flag: expected {flag:?}, got {:?}", eval.flag));
    }
    for field in ["variant", "value", "reason", "version"] {
        match expected.get(field) {
            // `version` is optional; the others are required.
            None if field != "version" => differences.push(format!("{field}: missing from \"expected\"")),
            Some(want) if *want != actual[field] => {
                differences.push(format!("{field}: expected {want}, got {}", actual[field]));
            }
            _ => {}
        }
    }
    if differences.is_empty() { Ok(()) } else { Err(differences.join("; ")) }
}

#[test]
fn evaluation_vectors() {
    let files = evaluation_files();
    let mut total = 0;
    let mut failures = Vec::new();
    for path in &files {
        let file = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let doc = read_json(path);
        if doc["description"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{file}: no \"description\""));
        }
        let snapshot: Snapshot = match serde_json::from_value(doc["snapshot"].clone()) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{file}: the snapshot does not deserialise: {e}"));
                continue;
            }
        };
        let compiled = CompiledSnapshot::compile(&snapshot);
        let Some(cases) = doc["cases"].as_array() else {
            failures.push(format!("{file}: no \"cases\" array"));
            continue;
        };
        let mut names = HashSet::new();
        for (i, case) in cases.iter().enumerate() {
            total += 1;
            let name = case["name"].as_str().map_or_else(|| format!("case #{i}"), str::to_owned);
            if !names.insert(name.clone()) {
                failures.push(format!("{file} / {name}: duplicate case name"));
            }
            if let Err(why) = run_case(&compiled, case) {
                failures.push(format!("{file} / {name}: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} evaluation vectors failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    assert!(
        total >= MIN_EVALUATION_CASES,
        "only {total} evaluation cases in {} files; expected at least {MIN_EVALUATION_CASES}",
        files.len()
    );
}

#[test]
fn bucketing_vectors() {
    let doc = read_json(&vectors_dir().join("bucketing.json"));
    assert!(doc["source"].as_str().is_some_and(|s| !s.is_empty()), "bucketing.json must name its source");
    let vectors = doc["vectors"].as_array().expect("bucketing.json has a \"vectors\" array");
    let mut failures = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        let (Some(salt), Some(value), Some(want)) = (v["salt"].as_str(), v["value"].as_str(), v["bucket"].as_u64())
        else {
            failures.push(format!("vector #{i}: needs string \"salt\", string \"value\" and integer \"bucket\""));
            continue;
        };
        let got = bucket(salt, value);
        if u64::from(got) != want {
            failures.push(format!("vector #{i} ({salt:?}, {value:?}): expected bucket {want}, got {got}"));
        }
        if let Some(hash) = v["hash"].as_u64() {
            let joined = format!("{salt}:{value}");
            let got = murmur3_x86_32(joined.as_bytes(), 0);
            if u64::from(got) != hash {
                failures.push(format!("vector #{i} ({salt:?}, {value:?}): expected hash {hash}, got {got}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bucketing vectors failed:\n  {}",
        failures.len(),
        vectors.len(),
        failures.join("\n  ")
    );
    assert!(
        vectors.len() >= MIN_BUCKETING_VECTORS,
        "only {} bucketing vectors; expected at least {MIN_BUCKETING_VECTORS}",
        vectors.len()
    );
}
