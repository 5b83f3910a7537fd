//! Evaluation hot-path benchmarks: `cargo bench -p pennon-engine`.
//!
//! - `bucket/uuid_key`: one `bucket()` call on a 36-byte UUID-like key with a 16-character salt.
//! - `evaluate/3_rules_fallthrough`: one flag with three rules (five conditions, among them a `matches`
//!   regex and a `semver_gte`) and a 25/75 split default, for a context of five attributes that fails every
//!   rule on its last condition, so every condition is tried before the split buckets it.
//! - `evaluate_all/50_flags`: `evaluate_all` over fifty flags of that shape (each with its own salt).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pennon_engine::{CompiledSnapshot, Context, Snapshot, bucket};
use serde_json::{Value, json};

const KEY: &str = "3f2b8c1e-9d4a-4e7b-a5c6-0d1e2f3a4b5c";
const SALT: &str = "a7f3c9e1b5d20846";

/// The benchmark flag (`three_rules_flag.json`) and the attributes that fail each of its rules.
const FIXTURE: &str = include_str!("three_rules_flag.json");

/// A boolean flag with three rules and a percentage split default, under its own key and salt.
fn flag(index: usize) -> Value {
    let mut flag = serde_json::from_str::<Value>(FIXTURE).expect("the fixture is JSON")["flag"].take();
    let key = format!("flag-{index:02}");
    flag["definition"]["key"] = json!(key);
    flag["definition"]["salt"] = json!(format!("{SALT}{index:02}"));
    flag["config"]["flag"] = json!(key);
    flag
}

fn snapshot(flags: usize) -> CompiledSnapshot {
    let snapshot: Snapshot = serde_json::from_value(json!({
        "environment": "production", "revision": 1,
        "flags": (0..flags).map(flag).collect::<Vec<_>>()
    }))
    .expect("benchmark snapshot deserialises");
    CompiledSnapshot::compile(&snapshot)
}

/// Five attributes; every rule fails on its last condition, so the default split serves.
fn context() -> Context {
    let attributes = serde_json::from_str::<Value>(FIXTURE).expect("the fixture is JSON")["attributes"].take();
    Context { key: Some(KEY.to_owned()), attributes: serde_json::from_value(attributes).expect("attributes") }
}

fn benches(c: &mut Criterion) {
    c.bench_function("bucket/uuid_key", |b| b.iter(|| bucket(black_box(SALT), black_box(KEY))));

    let one = snapshot(1);
    let ctx = context();
    let eval = one.evaluate("flag-00", &ctx);
    assert_eq!(eval.reason.kind(), "FALLTHROUGH", "the benchmark context must fall through to the split");
    c.bench_function("evaluate/3_rules_fallthrough", |b| {
        b.iter(|| black_box(one.evaluate(black_box("flag-00"), black_box(&ctx))));
    });

    let fifty = snapshot(50);
    assert!(fifty.evaluate_all(&ctx).iter().all(|e| e.reason.kind() == "FALLTHROUGH"));
    c.bench_function("evaluate_all/50_flags", |b| b.iter(|| black_box(fifty.evaluate_all(black_box(&ctx)))));
}

criterion_group!(engine, benches);
criterion_main!(engine);
