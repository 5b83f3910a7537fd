use pennon_engine::Snapshot;
use serde_json::json;

use super::*;
use crate::state::Source;

fn snapshot(revision: u64, b_default: &str) -> Snapshot {
    serde_json::from_value(json!({
        "environment": "test", "revision": revision,
        "flags": [
            { "definition": { "key": "a", "kind": "boolean", "salt": "s",
                "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
              "config": { "flag": "a", "environment": "test", "version": 1, "enabled": true,
                "off_variant": "off", "default": { "variant": "on" } } },
            { "definition": { "key": "b", "kind": "string", "salt": "s",
                "variants": [{ "key": "x", "value": "x" }, { "key": "y", "value": "y" }] },
              "config": { "flag": "b", "environment": "test", "version": revision, "enabled": true,
                "off_variant": "x", "default": { "variant": b_default } } }
        ]
    }))
    .unwrap()
}

fn evaluate(events: &Events, store: &Store, flag: &str, ctx: &Context) {
    let state = store.load();
    let (_, served) = state.compiled.evaluate_served(flag, ctx);
    events.record(&state, served.unwrap(), ctx, 0);
}

fn exposures(batch: &MetricsBatch) -> Vec<(&str, &str, u64)> {
    batch.exposures.iter().map(|r| (r.flag.as_str(), r.variant.as_str(), r.count)).collect()
}

#[test]
fn exposures_are_counted_per_flag_and_variant_across_snapshots() {
    let store = Store::new(snapshot(1, "x"), Source::Server, 2);
    let events = Events::new(1024, 100);
    let alice = Context::new("alice");
    evaluate(&events, &store, "a", &alice);
    evaluate(&events, &store, "b", &alice);
    evaluate(&events, &store, "b", &Context::anonymous());
    store.replace(snapshot(2, "y"), Source::Server);
    evaluate(&events, &store, "b", &alice);
    events.collect(&store);
    let batch = events.take_pending().unwrap();
    assert_eq!(exposures(&batch), [("a", "on", 1), ("b", "x", 2), ("b", "y", 1)]);
    assert!(batch.metrics.is_empty());
    events.collect(&store);
    assert_eq!(events.take_pending(), None, "counters were reset and the retired state dropped");
}

#[test]
fn tracked_values_go_to_the_variants_the_context_was_served() {
    let store = Store::new(snapshot(1, "x"), Source::Server, 1);
    let events = Events::new(1024, 100);
    let (alice, bob) = (Context::new("alice"), Context::new("bob"));
    evaluate(&events, &store, "a", &alice);
    evaluate(&events, &store, "b", &alice);
    store.replace(snapshot(2, "y"), Source::Server);
    evaluate(&events, &store, "b", &bob);
    let state = store.current();
    assert_eq!(events.track(&state, "latency", &alice, 3.0), 2);
    assert_eq!(events.track(&state, "latency", &alice, 4.0), 2);
    assert_eq!(events.track(&state, "latency", &bob, 10.0), 1);
    assert_eq!(events.track(&state, "latency", &Context::new("carol"), 1.0), 0, "never served anything");
    assert_eq!(events.track(&state, "latency", &Context::anonymous(), 1.0), 0);
    assert_eq!(events.track(&state, "latency", &alice, f64::NAN), 0);
    assert_eq!(events.track(&state, "", &alice, 1.0), 0);
    assert_eq!(events.track(&state, "line\nbreak", &alice, 1.0), 0);
    assert_eq!(events.track(&state, &"x".repeat(129), &alice, 1.0), 0);
    events.collect(&store);
    let batch = events.take_pending().unwrap();
    let metrics: Vec<_> =
        batch.metrics.iter().map(|m| (m.flag.as_str(), m.variant.as_str(), m.count, m.sum, m.sum_squares)).collect();
    // Alice was served "x" of b before the change; the table still says so.
    assert_eq!(metrics, [("a", "on", 2, 7.0, 25.0), ("b", "x", 2, 7.0, 25.0), ("b", "y", 1, 10.0, 100.0)]);
}

#[test]
fn failed_batches_are_kept_merged_and_bounded() {
    let store = Store::new(snapshot(1, "x"), Source::Server, 1);
    let events = Events::new(1024, 3);
    let alice = Context::new("alice");
    evaluate(&events, &store, "a", &alice);
    events.collect(&store);
    let first = events.take_pending().unwrap();
    events.restore(first);
    evaluate(&events, &store, "a", &alice);
    evaluate(&events, &store, "b", &alice);
    events.collect(&store);
    let merged = events.take_pending().unwrap();
    assert_eq!(exposures(&merged), [("a", "on", 2), ("b", "x", 1)]);
    events.restore(merged);
    // A third window pushes the pending rows past the bound of 3: the oldest window goes.
    evaluate(&events, &store, "a", &alice);
    evaluate(&events, &store, "b", &alice);
    events.collect(&store);
    assert_eq!(events.dropped_rows(), 2);
    assert_eq!(exposures(&events.take_pending().unwrap()), [("a", "on", 1), ("b", "x", 1)]);
}

/// Whether every entry is within the bounds the server takes (`docs/sdk-protocol.md`).
fn within_server_bounds(batch: &MetricsBatch) -> bool {
    batch.exposures.iter().all(|e| e.count <= MAX_COUNT)
        && batch.metrics.iter().all(|m| {
            m.count <= MAX_COUNT
                && m.sum.is_finite()
                && m.sum.abs() <= MAX_SUM
                && (0.0..=MAX_SUM_SQUARES).contains(&m.sum_squares)
        })
}

#[test]
fn batches_stay_within_the_servers_bounds() {
    let store = Store::new(snapshot(1, "x"), Source::Server, 1);
    let events = Events::new(1024, 100);
    let alice = Context::new("alice");
    evaluate(&events, &store, "a", &alice);
    let state = store.current();
    // Each value is within the bounds; their totals are not: they go in several entries.
    for _ in 0..3 {
        assert_eq!(events.track(&state, "revenue", &alice, 9e17), 1);
    }
    assert_eq!(events.track(&state, "revenue", &alice, 2e18), 0, "a value past the bounds is ignored");
    assert_eq!(events.track(&state, "revenue", &alice, -f64::MAX), 0);
    events.collect(&store);
    let window = events.take_pending().unwrap();
    assert!(within_server_bounds(&window), "{window:?}");
    let revenue: Vec<_> = window.metrics.iter().map(|m| (m.count, m.sum)).collect();
    assert_eq!(revenue, [(1, 9e17), (1, 9e17), (1, 9e17)]);
    // Windows kept after a failed send are merged only as far as the bounds allow.
    events.restore(window);
    assert_eq!(events.track(&state, "revenue", &alice, 5e17), 1);
    events.collect(&store);
    let merged = events.take_pending().unwrap();
    assert!(within_server_bounds(&merged), "{merged:?}");
    assert_eq!(merged.metrics.iter().map(|m| m.count).sum::<u64>(), 4);
    assert!((merged.metrics.iter().map(|m| m.sum).sum::<f64>() - 3.2e18).abs() < 1e3);
    // Exposure counts past the bound are split too.
    let mut rows = Vec::new();
    exposure_rows("a".into(), "on".into(), 2 * MAX_COUNT + 5, &mut rows);
    assert_eq!(rows.iter().map(|r| r.count).collect::<Vec<_>>(), [MAX_COUNT, MAX_COUNT, 5]);
}
