//! The compiled, immutable form of a snapshot: every operand parsed, every segment reference resolved to a
//! slot, each flag and segment compiled once and shared (behind an `Arc`) by the snapshot versions that follow,
//! until a change replaces it (see [`apply`](CompiledSnapshot::apply)).
//!
//! Compiling never fails. A flag whose config cannot be resolved (validation would have refused it) compiles
//! to a broken flag that evaluates to `ERROR` / `MALFORMED_CONFIG`; the rest of the snapshot is unaffected.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::bucket::SaltPrefix;
use crate::condition::CompiledCondition;
use crate::model::FlagKind;
use crate::prerequisite_graph::PrerequisiteGraph;
use crate::shelf::Shelf;

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// A snapshot ready for evaluation. Cheap to share behind an `Arc`; never mutated. A new version made by
/// [`apply`](Self::apply) shares every flag and segment the change did not touch with this one.
#[derive(Debug, Clone)]
pub struct CompiledSnapshot {
    pub(crate) environment: String,
    pub(crate) revision: u64,
    /// In snapshot order: positions are what [`Served`](crate::Served) and the evaluation memo use.
    pub(crate) flags: Shelf<CompiledFlag>,
    /// Flag key → position in `flags`.
    pub(crate) index: Arc<FastMap<Arc<str>, usize>>,
    /// By slot; `None` for a segment that rules name but the snapshot lacks (such flags are malformed).
    pub(crate) segments: Arc<Vec<Option<Arc<CompiledSegment>>>>,
    /// Segment key → slot in `segments`, for every segment defined or named by a rule.
    pub(crate) segment_slots: Arc<FastMap<Arc<str>, usize>>,
    /// Attribute name → its number among the names conditions test (see `AttrMemo`); only grows.
    pub(crate) attributes: Arc<FastMap<Arc<str>, usize>>,
    /// The prerequisite edges of the flags that have prerequisites.
    pub(crate) prerequisites: Arc<PrerequisiteGraph>,
    /// Flags on a prerequisite cycle or with too long a chain: evaluation answers `MALFORMED_CONFIG`.
    pub(crate) unresolvable: Arc<FastSet<Arc<str>>>,
    /// The graph turned around: prerequisite key → the flags requiring it.
    pub(crate) dependents: Arc<crate::prerequisite_graph::Dependents>,
}

#[derive(Debug)]
pub(crate) struct CompiledFlag {
    pub key: Arc<str>,
    pub kind: FlagKind,
    pub version: u64,
    /// The salt, hashed once: splits bucket from here.
    pub salt: SaltPrefix,
    pub variants: Vec<(String, Value)>,
    pub enabled: bool,
    /// Set when the config could not be resolved; evaluation then answers `MALFORMED_CONFIG`.
    pub broken: bool,
    pub off_variant: usize,
    pub targets: FastMap<String, usize>,
    pub rules: Vec<CompiledRule>,
    pub default: CompiledServe,
    /// The slots of every segment the rules name: when one is missing from the snapshot, the flag is
    /// malformed.
    pub segment_slots: Box<[usize]>,
    /// (flag key, variant key), resolved at evaluation through the snapshot's index, so that a change to the
    /// prerequisite flag never requires recompiling this one.
    pub prerequisites: Vec<(Arc<str>, String)>,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub id: String,
    pub conditions: Vec<CompiledCondition>,
    /// Segment slots.
    pub segments: Vec<usize>,
    pub serve: CompiledServe,
}

#[derive(Debug)]
pub(crate) enum CompiledServe {
    Variant(usize),
    /// `unleash`: the Unleash scheme's group id (and the weights' uppers are inclusive, from 1).
    Split {
        bucket_by: BucketBy,
        weights: Vec<(u32, usize)>,
        unleash: Option<String>,
    },
}

#[derive(Debug)]
pub(crate) enum BucketBy {
    Key,
    Attribute(String),
}

#[derive(Debug)]
pub(crate) struct CompiledSegment {
    pub included: FastSet<String>,
    pub excluded: FastSet<String>,
    pub conditions: Vec<CompiledCondition>,
}

impl CompiledSnapshot {
    /// The environment this snapshot is for.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The environment revision it reflects.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The keys of every flag, in snapshot order.
    pub fn flag_keys(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(|f| &*f.key)
    }

    /// The keys of the variants of the flag at position `flag` (in [`flag_keys`](Self::flag_keys) order), in
    /// the order its definition lists them; empty when there is no such position.
    pub fn variant_keys(&self, flag: usize) -> impl Iterator<Item = &str> {
        self.flags.get(flag).into_iter().flat_map(|f| f.variants.iter().map(|(key, _)| key.as_str()))
    }

    /// A flag's kind, or `None` when the snapshot has no such flag.
    pub fn flag_kind(&self, key: &str) -> Option<FlagKind> {
        self.index.get(key).map(|&i| self.flags.at(i).kind)
    }

    /// The position of a flag (in [`flag_keys`](Self::flag_keys) order), or `None` when the snapshot has no
    /// such flag.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The keys of the flags that list `key` among their prerequisites. Costs in proportion to the flags that
    /// have prerequisites, not to all of them.
    pub fn flags_requiring<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.dependents.get(key).into_iter().flatten().map(|k| &**k)
    }

    /// A flag's config version, or `None` when the snapshot has no such flag.
    pub fn flag_version(&self, key: &str) -> Option<u64> {
        self.index.get(key).map(|&i| self.flags.at(i).version)
    }

    /// Number of flags.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Whether the snapshot has no flags.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }
}
