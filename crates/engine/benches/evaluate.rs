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

/// A boolean flag with three rules and a percentage split default.
fn flag(index: usize) -> Value {
    let key = format!("flag-{index:02}");
    json!({
        "definition": {
            "key": key, "kind": "boolean", "salt": format!("{SALT}{index:02}"),
            "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }]
        },
        "config": {
            "flag": key, "environment": "production", "version": 3, "enabled": true, "off_variant": "off",
            "rules": [
                { "id": "beta-testers", "conditions": [
                    { "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] },
                    { "attribute": "app_version", "operator": "semver_gte", "values": ["2.3.0"] }
                ], "serve": { "variant": "on" } },
                { "id": "staff", "conditions": [
                    { "attribute": "email", "operator": "matches", "values": ["@(example|pennon)\\.(com|dev)$"] }
                ], "serve": { "variant": "on" } },
                { "id": "dach-opt-in", "conditions": [
                    { "attribute": "country", "operator": "in", "values": ["DE", "AT", "CH"] },
                    { "attribute": "beta_opt_in", "operator": "eq", "values": [true] }
                ], "serve": { "variant": "on" } }
            ],
            "default": { "split": { "bucket_by": "key",
                "weights": [{ "variant": "on", "weight": 25000 }, { "variant": "off", "weight": 75000 }] } }
        }
    })
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
    Context::new(KEY)
        .with("plan", "pro")
        .with("app_version", "2.1.7")
        .with("email", "jane.doe@gmail.com")
        .with("country", "DE")
        .with("beta_opt_in", false)
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
