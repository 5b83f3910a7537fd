//! Properties of bucketing and evaluation: monotonic rollouts, uniform buckets, independent flags, and
//! prerequisite cycles found wherever they are.

use std::collections::HashSet;

use pennon_engine::{BUCKETS, CompiledSnapshot, Context, ErrorCode, Reason, Snapshot};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A boolean flag whose default is a split giving `on` the first `on_weight` buckets and `off` the rest.
fn rollout_flag(key: &str, salt: &str, on_weight: u32) -> Value {
    json!({
        "definition": { "key": key, "kind": "boolean", "salt": salt,
            "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
        "config": { "flag": key, "environment": "test", "version": 1, "enabled": true, "off_variant": "off",
            "default": { "split": { "bucket_by": "key", "weights": [
                { "variant": "on", "weight": on_weight }, { "variant": "off", "weight": BUCKETS - on_weight }] } } }
    })
}

fn compile(flags: &[Value]) -> CompiledSnapshot {
    let snapshot: Snapshot =
        serde_json::from_value(json!({ "environment": "test", "revision": 1, "flags": flags })).expect("snapshot");
    CompiledSnapshot::compile(&snapshot)
}

/// The bucket a split reported, or a panic when the evaluation did not bucket.
fn reported_bucket(reason: Reason<'_>) -> u32 {
    match reason {
        Reason::Fallthrough { bucket: Some(b) } | Reason::RuleMatch { bucket: Some(b), .. } => b,
        other => panic!("expected a bucketed evaluation, got {other:?}"),
    }
}

/// SplitMix64: a tiny deterministic generator for reproducible key sets.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random UUID-like key (36 bytes, version-4 layout).
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

const KEYS: usize = 100_000;

proptest! {
    /// Raising the first variant's weight only adds contexts to it: whoever is in at `low` is in at `high`,
    /// in the same bucket; and a context is in exactly when its bucket is below the weight.
    #[test]
    fn raising_a_weight_never_moves_a_context_out(
        key in "\\PC{0,40}",
        salt in "\\PC{0,24}",
        (low, high) in (0..=BUCKETS, 0..=BUCKETS).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ) {
        let snapshot = compile(&[rollout_flag("at-low", &salt, low), rollout_flag("at-high", &salt, high)]);
        let ctx = Context::new(key);
        let at_low = snapshot.evaluate("at-low", &ctx);
        let at_high = snapshot.evaluate("at-high", &ctx);
        let bucket = reported_bucket(at_low.reason);
        prop_assert_eq!(bucket, reported_bucket(at_high.reason));
        prop_assert_eq!(at_low.variant == Some("on"), bucket < low);
        prop_assert_eq!(at_high.variant == Some("on"), bucket < high);
        if at_low.variant == Some("on") {
            prop_assert_eq!(at_high.variant, Some("on"));
        }
    }

    /// A flag is `MALFORMED_CONFIG` exactly when it lies on a prerequisite cycle (it can reach itself); every
    /// other flag evaluates (flags depending on a cycle fail their prerequisite), and evaluation terminates.
    #[test]
    fn exactly_the_flags_on_prerequisite_cycles_are_malformed(
        edges in proptest::collection::vec(proptest::collection::vec(0..10usize, 0..5), 1..11),
    ) {
        let n = edges.len();
        let edges: Vec<Vec<usize>> = edges.into_iter().map(|e| e.into_iter().map(|p| p % n).collect()).collect();
        let flags: Vec<Value> = edges
            .iter()
            .enumerate()
            .map(|(i, prereqs)| {
                let prerequisites: Vec<Value> =
                    prereqs.iter().map(|p| json!({ "flag": format!("f{p}"), "variant": "on" })).collect();
                json!({
                    "definition": { "key": format!("f{i}"), "kind": "boolean", "salt": format!("s{i}"),
                        "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
                    "config": { "flag": format!("f{i}"), "environment": "test", "version": 1, "enabled": true,
                        "off_variant": "off", "default": { "variant": "on" }, "prerequisites": prerequisites }
                })
            })
            .collect();
        let snapshot = compile(&flags);
        let ctx = Context::new("user-1");
        for start in 0..n {
            // Depth-first reachability from `start`'s prerequisites back to `start`.
            let mut seen = HashSet::new();
            let mut todo: Vec<usize> = edges[start].clone();
            let mut on_cycle = false;
            while let Some(f) = todo.pop() {
                if f == start {
                    on_cycle = true;
                    break;
                }
                if seen.insert(f) {
                    todo.extend(&edges[f]);
                }
            }
            let key = format!("f{start}");
            let eval = snapshot.evaluate(&key, &ctx);
            let malformed = eval.reason == Reason::Error { error: ErrorCode::MalformedConfig };
            prop_assert_eq!(malformed, on_cycle, "{} with prerequisites {:?}: {:?}", key, edges, eval.reason);
        }
    }
}

/// Over 100,000 random keys, each tenth of the buckets holds 10% ± 0.5% of them, and a ten-way split of
/// equal weights serves each variant to 10% ± 0.5%.
#[test]
fn buckets_are_uniform_over_deciles() {
    let weights: Vec<Value> = (0..10).map(|i| json!({ "variant": format!("d{i}"), "weight": BUCKETS / 10 })).collect();
    let variants: Vec<Value> = (0..10).map(|i| json!({ "key": format!("d{i}"), "value": i })).collect();
    let snapshot = compile(&[json!({
        "definition": { "key": "deciles", "kind": "number", "salt": "9c1d7e2a40f3b658", "variants": variants },
        "config": { "flag": "deciles", "environment": "test", "version": 1, "enabled": true, "off_variant": "d0",
            "default": { "split": { "weights": weights } } }
    })]);
    let mut rng = SplitMix64(0x5eed_0001);
    let mut by_bucket = [0usize; 10];
    let mut by_variant = [0usize; 10];
    for _ in 0..KEYS {
        let eval = snapshot.evaluate("deciles", &Context::new(rng.uuid()));
        let bucket = reported_bucket(eval.reason);
        by_bucket[(bucket / (BUCKETS / 10)) as usize] += 1;
        let value = eval.value.and_then(Value::as_u64).expect("a decile variant");
        by_variant[value as usize] += 1;
    }
    assert_eq!(by_bucket, by_variant, "variant i owns buckets [10000 i, 10000 (i + 1))");
    let (low, high) = (KEYS * 95 / 1000, KEYS * 105 / 1000);
    assert!(by_bucket.iter().all(|&n| (low..=high).contains(&n)), "deciles outside [{low}, {high}]: {by_bucket:?}");
}

/// Two flags with different salts assign independently: of 100,000 keys, 25% ± 1% are in both 50% cohorts
/// (and 50% ± 1% in each), even for salts that differ in one character.
#[test]
fn flags_with_different_salts_assign_independently() {
    for (salt_a, salt_b, seed) in [("7f3a9c01e2d4b586", "0b1e6d2f9a8c4735", 1), ("flag-salt-1", "flag-salt-2", 2)] {
        let snapshot =
            compile(&[rollout_flag("first", salt_a, BUCKETS / 2), rollout_flag("second", salt_b, BUCKETS / 2)]);
        let mut rng = SplitMix64(seed);
        let (mut first, mut second, mut both) = (0usize, 0usize, 0usize);
        for _ in 0..KEYS {
            let ctx = Context::new(rng.uuid());
            let in_first = snapshot.evaluate("first", &ctx).variant == Some("on");
            let in_second = snapshot.evaluate("second", &ctx).variant == Some("on");
            first += usize::from(in_first);
            second += usize::from(in_second);
            both += usize::from(in_first && in_second);
        }
        let share = |n: usize| n as f64 / KEYS as f64;
        assert!((share(first) - 0.5).abs() <= 0.01, "{salt_a}: {first} of {KEYS} in the first cohort");
        assert!((share(second) - 0.5).abs() <= 0.01, "{salt_b}: {second} of {KEYS} in the second cohort");
        assert!(
            (share(both) - 0.25).abs() <= 0.01,
            "{salt_a} / {salt_b}: {both} of {KEYS} keys in both cohorts, expected 25% ± 1%"
        );
    }
}
