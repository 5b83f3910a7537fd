//! # pennon-engine
//!
//! The flag model, evaluation and bucketing of Pennon, shared by the server and the SDK so that the two can
//! never disagree. Pure: no I/O, no async runtime, no clock reads.
//!
//! ```
//! use pennon_engine::{CompiledSnapshot, Context, Snapshot};
//!
//! let snapshot: Snapshot = serde_json::from_str(r#"{
//!   "environment": "production", "revision": 3,
//!   "flags": [{
//!     "definition": { "key": "new-checkout", "kind": "boolean", "salt": "x1",
//!       "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
//!     "config": { "flag": "new-checkout", "environment": "production", "version": 7,
//!       "enabled": true, "off_variant": "off",
//!       "rules": [{ "id": "pro", "conditions": [
//!         { "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] }],
//!         "serve": { "variant": "on" } }],
//!       "default": { "variant": "off" } }
//!   }]
//! }"#).unwrap();
//! let compiled = CompiledSnapshot::compile(&snapshot);
//! let eval = compiled.evaluate("new-checkout", &Context::new("user-42").with("plan", "pro"));
//! assert_eq!(eval.variant, Some("on"));
//! assert_eq!(eval.reason.kind(), "RULE_MATCH");
//! ```
//!
//! ## Evaluation order
//!
//! 1. A config that cannot be evaluated (unknown variant, unknown segment, bad operand, weights not summing
//!    to 100000, a prerequisite cycle, a chain of prerequisites longer than [`MAX_PREREQUISITE_DEPTH`]) gives
//!    no value: reason `ERROR` / `MALFORMED_CONFIG`. Validation refuses such configs before they are stored;
//!    this only guards against snapshots that skipped it.
//! 2. Disabled: the off variant, reason `OFF`.
//! 3. Prerequisites, in order: each must be an existing flag that is on, whose own prerequisites pass, and
//!    that serves the required variant by targeting, a rule or its default. The first that fails gives the
//!    off variant, reason `PREREQUISITE_FAILED` with its flag key.
//! 4. Individual targets: a context key listed there gets that variant, reason `TARGET_MATCH`.
//! 5. Rules in order: the first whose conditions all hold and whose segments all contain the context
//!    serves, reason `RULE_MATCH` with `rule_id` and `rule_index`.
//! 6. Otherwise the default, reason `FALLTHROUGH`.
//!
//! A split reports its `bucket` in the reason. An unknown flag gives reason `ERROR` / `FLAG_NOT_FOUND`.
//!
//! One evaluation decides each flag at most once, however many flags require it, so its cost is linear in
//! the flags it touches. [`validate_config_with_limits`] bounds how deep and how wide the prerequisite graph
//! may grow ([`PrerequisiteLimits`]).
//!
//! ## Changes
//!
//! [`CompiledSnapshot::apply`] makes the next version of a compiled snapshot from a batch of [`Change`]s,
//! compiling only the flags and segments they carry and sharing the rest with the version before; its
//! [`BuildReport`] tells how many it compiled.
//!
//! ## Conditions
//!
//! A condition names an attribute (`key` is the context key), an operator and operand `values`; it holds
//! when the attribute matches **any** of the values. An attribute that is a JSON array matches when any of
//! its elements does. A missing attribute (or JSON `null`) never matches; an attribute of the wrong type
//! (a number against `starts_with`, a string that is not a semantic version against `semver_gt`) does not
//! match either. `negate` inverts the final answer, so a negated condition on a missing attribute holds.
//!
//! | operator | attribute | operands |
//! |---|---|---|
//! | `eq` (one operand), `in` | string, number (by value: `1` = `1.0`) or boolean | same types |
//! | `contains`, `starts_with`, `ends_with` | string | strings (case-sensitive) |
//! | `matches` | string | regular expressions (Rust `regex` syntax, unanchored) |
//! | `lt`, `lte`, `gt`, `gte` | number | one number |
//! | `semver_eq/lt/lte/gt/gte` | string, semantic version (`2.3` reads as `2.3.0`) | one version |
//! | `before`, `after` | RFC 3339 string, or a number of Unix milliseconds | one RFC 3339 time |
//! | `exists` | anything but `null` | none |
//! | `unleash_rollout` | string | a group id and a percentage 0..=100 (Unleash's rollout, see below) |
//!
//! Segments: a context whose key is `included` is in; else one whose key is `excluded` is out; else it is
//! in when the segment has conditions and all of them hold.
//!
//! ## Bucketing
//!
//! `bucket(salt, value) = murmur3_x86_32(utf8(salt + ":" + value), seed = 0) mod 100000`, where `value` is
//! the attribute named by the split's `bucket_by` (`key`, the default, is the context key; an integer
//! attribute is written in decimal). Weights (units of 1/100000, summing to 100000) are walked in the order
//! written: variant *i* owns `[sum of weights before i, sum through i)`. Raising the first variant's weight
//! therefore only adds contexts to it. A context without the `bucket_by` attribute gets the off variant with
//! reason `ERROR` / `MISSING_BUCKET_BY`.
//!
//! ### The Unleash scheme (flags imported from Unleash)
//!
//! So that users keep their cohort when a flag moves from Unleash, a split may carry
//! `"bucketing": {"scheme": "unleash", "group_id": "..."}` (version 1 of the scheme): the weights then sum to
//! any positive total (Unleash's variants use 1000), the bucket is
//! `1 + murmur3_x86_32(utf8(group_id + ":" + value), seed = 86028157) mod total`, and variant *i* owns
//! `(sum of weights before i, sum through i]`. Unleash's gradual rollout is the condition operator
//! `unleash_rollout` with values `[group_id, percentage]`: it holds when
//! `1 + murmur3_x86_32(utf8(group_id + ":" + value), seed = 0) mod 100 <= percentage`. Test vectors:
//! `tests/vectors/unleash_bucketing.json`.
//!
//! ## Metric guards
//!
//! [`evaluate_guard`] decides whether a treatment variant's metric is worse than allowed, with a sequential
//! test that stays valid however often it is checked: see [`guards`].

#![warn(missing_docs)]

mod attributes;
mod bucket;
mod compile;
mod condition;
mod context;
mod context_ref;
#[cfg(test)]
mod cost_tests;
mod decided;
mod evaluate;
mod evaluation;
pub mod experiments;
pub mod guards;
pub mod model;
mod prerequisite_graph;
pub mod protocol;
mod shelf;
mod snapshot_builder;
mod validate;
pub mod whole_numbers;

pub use attributes::read_at_most;
pub use bucket::{
    BUCKETS, UNLEASH_VARIANT_SEED, bucket, murmur3_x86_32, pick, unleash_rollout_bucket, unleash_variant_bucket,
};
pub use compile::CompiledSnapshot;
pub use context::{Attributes, Context, ContextSource};
pub use context_ref::{AttrValue, ContextRef};
pub use evaluate::{ErrorCode, Evaluation, Reason, Served};
pub use guards::{ArmStats, GuardSpec, GuardState, GuardVerdict, evaluate_guard};
pub use model::{
    Bucketing, Condition, Flag, FlagConfig, FlagKind, Operator, Prerequisite, Rule, Segment, Serve, Snapshot,
    SnapshotFlag, Split, Target, Variant, Weight,
};
pub use prerequisite_graph::MAX_PREREQUISITE_DEPTH;
pub use shelf::Shelf;
pub use snapshot_builder::{BuildReport, Change};
pub use validate::{
    MAX_KEY_LEN, PrerequisiteLimits, Problem, SLUG_RULE, ValidationScope, is_slug, validate_config, validate_config_in,
    validate_config_with_limits, validate_flag, validate_segment,
};
