//! SDK evaluation against the engine's own cost: `cargo bench -p pennon-sdk`.
//!
//! The flag and context are those of pennon-engine's `evaluate/3_rules_fallthrough` benchmark: three rules
//! (five conditions, among them a regex and a semver comparison) that all fail on their last condition, then
//! a 25/75 split. Pairs to compare:
//!
//! - `engine/evaluate` and `sdk/bool_value`: one context, evaluated over and over.
//! - `engine/evaluate_10k_contexts` and `sdk/bool_value_10k_contexts`: 10,000 contexts in turn, so that each
//!   evaluation touches another entry of the SDK's attribution table, as real traffic does.
//! - `sdk/bool_detail`: the same with the reason (it allocates the variant's key).
//!
//! The SDK's extra work is loading the current snapshot, the kind check, an exposure counter increment and
//! the attribution table update. On a machine busy with other work, timings of separate benchmarks move by
//! tens of percent; instruction counts do not: run the same loops under `valgrind --tool=cachegrind` to
//! compare the two sides exactly.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pennon_sdk::{Client, Context, Snapshot};
use serde_json::{Value, json};

const KEY: &str = "3f2b8c1e-9d4a-4e7b-a5c6-0d1e2f3a4b5c";

/// The flag of pennon-engine's `evaluate/3_rules_fallthrough` benchmark, and the attributes that fail its rules.
const FIXTURE: &str = include_str!("../../crates/engine/benches/three_rules_flag.json");

fn flag() -> Value {
    serde_json::from_str::<Value>(FIXTURE).expect("the fixture is JSON")["flag"].take()
}

fn context(key: &str) -> Context {
    let attributes = serde_json::from_str::<Value>(FIXTURE).expect("the fixture is JSON")["attributes"].take();
    Context { key: Some(key.to_owned()), attributes: serde_json::from_value(attributes).expect("attributes") }
}

fn benches(c: &mut Criterion) {
    let snapshot: Snapshot =
        serde_json::from_value(json!({ "environment": "production", "revision": 1, "flags": [flag()] })).unwrap();
    let engine = pennon_engine::CompiledSnapshot::compile(&snapshot);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client: Client = runtime
        .block_on(Client::builder("http://127.0.0.1:9", "unused").bootstrap(snapshot).offline(true).build())
        .unwrap();

    let ctx = context(KEY);
    assert_eq!(engine.evaluate("flag-00", &ctx).reason.kind(), "FALLTHROUGH");
    assert_eq!(client.bool_detail("flag-00", &ctx, true).reason.kind(), "FALLTHROUGH");

    c.bench_function("engine/evaluate", |b| {
        b.iter(|| black_box(engine.evaluate(black_box("flag-00"), black_box(&ctx))));
    });
    c.bench_function("sdk/bool_value", |b| {
        b.iter(|| black_box(client.bool_value(black_box("flag-00"), black_box(&ctx), false)));
    });
    c.bench_function("sdk/bool_detail", |b| {
        b.iter(|| black_box(client.bool_detail(black_box("flag-00"), black_box(&ctx), false)));
    });

    let contexts: Vec<Context> = (0..10_000).map(|i| context(&format!("{KEY}-{i:05}"))).collect();
    let mut next = 0;
    c.bench_function("engine/evaluate_10k_contexts", |b| {
        b.iter(|| {
            next = (next + 1) % contexts.len();
            black_box(engine.evaluate(black_box("flag-00"), &contexts[next]).variant)
        });
    });
    c.bench_function("sdk/bool_value_10k_contexts", |b| {
        b.iter(|| {
            next = (next + 1) % contexts.len();
            black_box(client.bool_value(black_box("flag-00"), &contexts[next], false))
        });
    });
}

criterion_group!(sdk, benches);
criterion_main!(sdk);
