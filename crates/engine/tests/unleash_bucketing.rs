//! The Unleash bucketing scheme against `tests/vectors/unleash_bucketing.json`, whose values come from
//! Unleash's own evaluator: the hash functions, the `unleash_rollout` operator and splits with
//! `"bucketing": {"scheme": "unleash"}`, evaluated through a compiled snapshot.

use pennon_engine::{CompiledSnapshot, Context, Snapshot, unleash_rollout_bucket, unleash_variant_bucket};
use serde_json::{Value, json};

fn cases() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/unleash_bucketing.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["cases"].as_array().unwrap().clone()
}

fn flag(key: &str, variants: &[&str], rules: &Value, default: &Value) -> Value {
    json!({
        "definition": {
            "key": key, "kind": "string", "salt": "pennon-salt-is-ignored",
            "variants": variants.iter().map(|v| json!({"key": v, "value": v})).collect::<Vec<_>>()
        },
        "config": {
            "flag": key, "environment": "production", "version": 1, "enabled": true, "off_variant": "off",
            "rules": rules, "default": default
        }
    })
}

/// A snapshot for one group id: `rollout-N` serves `in` when the rollout condition holds at N percent;
/// `split-1000` / `split-7` split by the unleash scheme into variants that own one bucket each where the
/// vector says the bucket lies.
fn snapshot(group: &str, rollout: u32, bucket_1000: u32, bucket_7: u32) -> CompiledSnapshot {
    let rollout_rule = json!([{"id": "r", "conditions": [
        {"attribute": "stick", "operator": "unleash_rollout", "values": [group, rollout]}],
        "serve": {"variant": "in"}}]);
    let around = |bucket: u32, total: u32| {
        // below: [1, bucket-1], hit: [bucket], above: [bucket+1, total]
        let mut weights = vec![];
        if bucket > 1 {
            weights.push(json!({"variant": "below", "weight": bucket - 1}));
        }
        weights.push(json!({"variant": "hit", "weight": 1}));
        if bucket < total {
            weights.push(json!({"variant": "above", "weight": total - bucket}));
        }
        json!({"split": {"bucket_by": "stick", "weights": weights, "bucketing": {"scheme": "unleash", "group_id": group}}})
    };
    let snapshot: Snapshot = serde_json::from_value(json!({
        "environment": "production", "revision": 1, "segments": [],
        "flags": [
            flag("rollout-at", &["in", "off"], &rollout_rule, &json!({"variant": "off"})),
            flag("rollout-below", &["in", "off"], &json!([{"id": "r", "conditions": [
                {"attribute": "stick", "operator": "unleash_rollout", "values": [group, rollout - 1]}],
                "serve": {"variant": "in"}}]), &json!({"variant": "off"})),
            flag("split-1000", &["below", "hit", "above", "off"], &json!([]), &around(bucket_1000, 1000)),
            flag("split-7", &["below", "hit", "above", "off"], &json!([]), &around(bucket_7, 7)),
        ]
    }))
    .unwrap();
    CompiledSnapshot::compile(&snapshot)
}

#[test]
fn hash_functions_match_the_vectors() {
    for case in cases() {
        let (group, value) = (case["group_id"].as_str().unwrap(), case["value"].as_str().unwrap());
        assert_eq!(u64::from(unleash_rollout_bucket(group, value)), case["rollout_bucket"].as_u64().unwrap(), "{case}");
        assert_eq!(
            u64::from(unleash_variant_bucket(group, value, 1000)),
            case["variant_bucket_1000"].as_u64().unwrap(),
            "{case}"
        );
        assert_eq!(
            u64::from(unleash_variant_bucket(group, value, 7)),
            case["variant_bucket_7"].as_u64().unwrap(),
            "{case}"
        );
    }
}

#[test]
fn evaluation_buckets_like_unleash() {
    for case in cases() {
        let group = case["group_id"].as_str().unwrap();
        if group.is_empty() {
            // An empty group id is refused by validation; the hash is still pinned above.
            continue;
        }
        let num = |k: &str| case[k].as_u64().unwrap() as u32;
        let compiled = snapshot(group, num("rollout_bucket"), num("variant_bucket_1000"), num("variant_bucket_7"));
        let ctx: Context = serde_json::from_value(json!({"key": "k", "attributes": {"stick": case["value"]}})).unwrap();
        assert_eq!(compiled.evaluate("rollout-at", &ctx).variant, Some("in"), "{case}");
        assert_eq!(compiled.evaluate("rollout-below", &ctx).variant, Some("off"), "{case}");
        assert_eq!(compiled.evaluate("split-1000", &ctx).variant, Some("hit"), "{case}");
        assert_eq!(compiled.evaluate("split-7", &ctx).variant, Some("hit"), "{case}");
        // Without the attribute, the rollout does not hold and the split cannot bucket.
        let bare: Context = serde_json::from_value(json!({"key": "k"})).unwrap();
        assert_eq!(compiled.evaluate("rollout-at", &bare).variant, Some("off"));
        assert_eq!(compiled.evaluate("split-7", &bare).variant, Some("off"));
    }
}

#[test]
fn validation_checks_the_scheme() {
    let bad: Snapshot = serde_json::from_value(json!({
        "environment": "production", "revision": 1, "segments": [],
        "flags": [flag("f", &["a", "off"], &json!([{"id": "r", "conditions": [
            {"attribute": "stick", "operator": "unleash_rollout", "values": ["g", 101]}], "serve": {"variant": "a"}}]),
            &json!({"split": {"bucket_by": "stick", "weights": [{"variant": "a", "weight": 0}],
                "bucketing": {"scheme": "unleash", "group_id": ""}}}))]
    }))
    .unwrap();
    let flag = &bad.flags[0];
    let problems = pennon_engine::validate_config(&flag.definition, &flag.config, &bad);
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"default.split.bucketing.group_id"), "{paths:?}");
    assert!(paths.contains(&"default.split.weights"), "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with("rules[0].conditions[0].values")), "{paths:?}");
}
