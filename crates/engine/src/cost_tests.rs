//! Work counted, not timed: how many flag decisions an evaluation makes.

use serde_json::{Value, json};

use crate::evaluate::DECISIONS;
use crate::{AttrValue, CompiledSnapshot, Context, ContextRef, Snapshot};

/// A boolean flag `f{i:02}`, on, serving `on`, that requires the flags named in `prerequisites` to serve `on`.
pub(crate) fn boolean_flag(key: &str, prerequisites: &[String]) -> Value {
    json!({
        "definition": { "key": key, "kind": "boolean", "salt": key,
            "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
        "config": { "flag": key, "environment": "test", "version": 1, "enabled": true, "off_variant": "off",
            "rules": [{ "id": "de", "conditions": [{ "attribute": "country", "operator": "eq", "values": ["DE"] }],
                "serve": { "variant": "on" } }],
            "default": { "variant": "on" },
            "prerequisites": prerequisites.iter().map(|p| json!({ "flag": p, "variant": "on" })).collect::<Vec<_>>() }
    })
}

/// `n` flags where each requires the next two: the graph that re-evaluating prerequisites makes exponential.
pub(crate) fn each_requires_the_next_two(n: usize) -> Snapshot {
    let key = |i: usize| format!("f{i:02}");
    let flags: Vec<Value> = (0..n)
        .map(|i| boolean_flag(&key(i), &[i + 1, i + 2].into_iter().filter(|&p| p < n).map(key).collect::<Vec<_>>()))
        .collect();
    serde_json::from_value(json!({ "environment": "test", "revision": 1, "flags": flags })).unwrap()
}

/// The flag decisions `run` makes on this thread.
fn decisions(run: impl FnOnce()) -> usize {
    DECISIONS.with(|d| d.set(0));
    run();
    DECISIONS.with(std::cell::Cell::get)
}

#[test]
fn an_evaluation_decides_each_flag_at_most_once() {
    for n in [5, 20, 30, 60] {
        let compiled = CompiledSnapshot::compile(&each_requires_the_next_two(n));
        let ctx = Context::new("user-1").with("country", "DE");
        let mut borrowed = ContextRef::new(Some("user-1"));
        borrowed.set("country", AttrValue::Str("DE"));
        let one = decisions(|| assert_eq!(compiled.evaluate("f00", &ctx).variant, Some("on")));
        assert_eq!(one, n, "evaluate, {n} flags");
        let served = decisions(|| assert!(compiled.evaluate_served("f00", &borrowed).1.is_some()));
        assert_eq!(served, n, "evaluate_served with a ContextRef, {n} flags");
        let all = decisions(|| assert!(compiled.evaluate_all(&ctx).iter().all(|e| e.variant == Some("on"))));
        assert_eq!(all, n, "evaluate_all, {n} flags");
        let all_served = decisions(|| assert_eq!(compiled.evaluate_all_served(&borrowed).len(), n));
        assert_eq!(all_served, n, "evaluate_all_served with a ContextRef, {n} flags");
    }
}

/// A snapshot that skipped validation may chain prerequisites without end: evaluation stops at
/// `MAX_PREREQUISITE_DEPTH` steps (the flags beyond are malformed) instead of exhausting the stack.
#[test]
fn a_chain_longer_than_evaluation_follows_is_malformed_not_a_stack_overflow() {
    let n = 10_000;
    let key = |i: usize| format!("c{i}");
    let flags: Vec<Value> = (0..n)
        .map(|i| boolean_flag(&key(i), &[i + 1].into_iter().filter(|&p| p < n).map(key).collect::<Vec<_>>()))
        .collect();
    let snapshot: Snapshot = serde_json::from_value(json!({ "environment": "test", "flags": flags })).unwrap();
    let compiled = CompiledSnapshot::compile(&snapshot);
    let ctx = Context::new("user-1");
    let deepest_resolvable = n - 1 - crate::MAX_PREREQUISITE_DEPTH;
    assert_eq!(compiled.evaluate(&key(deepest_resolvable), &ctx).variant, Some("on"));
    let too_deep_key = key(deepest_resolvable - 1);
    let too_deep = compiled.evaluate(&too_deep_key, &ctx);
    assert_eq!(too_deep.reason, crate::Reason::Error { error: crate::ErrorCode::MalformedConfig });
    let all = decisions(|| assert_eq!(compiled.evaluate_all(&ctx).len(), n));
    assert_eq!(all, n);
}
