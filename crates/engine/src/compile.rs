//! The compiled, immutable form of a snapshot: every reference resolved to an index, every operand parsed.
//!
//! Compiling never fails. A flag whose config cannot be resolved (validation would have refused it) compiles
//! to a broken flag that evaluates to `ERROR` / `MALFORMED_CONFIG`; the rest of the snapshot is unaffected.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::bucket::SaltPrefix;
use crate::condition::CompiledCondition;
use crate::model::{Flag, FlagConfig, FlagKind, Segment, Serve, Snapshot};

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// A snapshot ready for evaluation. Cheap to share behind an `Arc`; never mutated.
#[derive(Debug, Clone)]
pub struct CompiledSnapshot {
    pub(crate) environment: String,
    pub(crate) revision: u64,
    pub(crate) flags: Vec<CompiledFlag>,
    pub(crate) index: FastMap<String, usize>,
    pub(crate) segments: Vec<CompiledSegment>,
    /// How many distinct attribute names the conditions test (their slots are `0..attribute_slots`).
    pub(crate) attribute_slots: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledFlag {
    pub key: String,
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
    /// (flag index, variant index within that flag); `None` flag = unknown prerequisite, which always fails.
    pub prerequisites: Vec<(Option<usize>, Option<usize>, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub id: String,
    pub conditions: Vec<CompiledCondition>,
    pub segments: Vec<usize>,
    pub serve: CompiledServe,
}

#[derive(Debug, Clone)]
pub(crate) enum CompiledServe {
    Variant(usize),
    Split { bucket_by: BucketBy, weights: Vec<(u32, usize)> },
}

#[derive(Debug, Clone)]
pub(crate) enum BucketBy {
    Key,
    Attribute(String),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledSegment {
    pub included: FastSet<String>,
    pub excluded: FastSet<String>,
    pub conditions: Vec<CompiledCondition>,
}

impl CompiledSnapshot {
    /// Compiles a snapshot.
    pub fn compile(snapshot: &Snapshot) -> Self {
        let segment_index: FastMap<&str, usize> =
            snapshot.segments.iter().enumerate().map(|(i, s)| (s.key.as_str(), i)).collect();
        let mut segments: Vec<CompiledSegment> = snapshot.segments.iter().map(compile_segment).collect();
        let index: FastMap<String, usize> =
            snapshot.flags.iter().enumerate().map(|(i, f)| (f.definition.key.clone(), i)).collect();
        let mut flags: Vec<CompiledFlag> = snapshot
            .flags
            .iter()
            .map(|f| compile_flag(&f.definition, &f.config, &index, &segment_index, snapshot))
            .collect();
        for i in on_prerequisite_cycles(&flags) {
            flags[i].broken = true;
        }
        let mut slots: FastMap<String, usize> = FastMap::default();
        let rules = flags.iter_mut().flat_map(|f| &mut f.rules).flat_map(|r| &mut r.conditions);
        for condition in rules.chain(segments.iter_mut().flat_map(|s| &mut s.conditions)) {
            let next = slots.len();
            condition.set_slot(*slots.entry(condition.attribute().to_owned()).or_insert(next));
        }
        CompiledSnapshot {
            environment: snapshot.environment.clone(),
            revision: snapshot.revision,
            flags,
            index,
            segments,
            attribute_slots: slots.len(),
        }
    }

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
        self.flags.iter().map(|f| f.key.as_str())
    }

    /// The keys of the variants of the flag at position `flag` (in [`flag_keys`](Self::flag_keys) order), in
    /// the order its definition lists them; empty when there is no such position.
    pub fn variant_keys(&self, flag: usize) -> impl Iterator<Item = &str> {
        self.flags.get(flag).into_iter().flat_map(|f| f.variants.iter().map(|(key, _)| key.as_str()))
    }

    /// A flag's kind, or `None` when the snapshot has no such flag.
    pub fn flag_kind(&self, key: &str) -> Option<FlagKind> {
        self.index.get(key).map(|&i| self.flags[i].kind)
    }

    /// A flag's config version, or `None` when the snapshot has no such flag.
    pub fn flag_version(&self, key: &str) -> Option<u64> {
        self.index.get(key).map(|&i| self.flags[i].version)
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

fn compile_segment(s: &Segment) -> CompiledSegment {
    let conditions: Result<Vec<_>, _> = s.conditions.iter().map(CompiledCondition::compile).collect();
    CompiledSegment {
        included: s.included.iter().cloned().collect(),
        excluded: s.excluded.iter().cloned().collect(),
        // A segment whose conditions do not compile matches by its key lists only.
        conditions: conditions.unwrap_or_default(),
    }
}

struct Resolver<'a> {
    flag: &'a Flag,
    broken: bool,
}

impl Resolver<'_> {
    fn variant(&mut self, key: &str) -> usize {
        if let Some(i) = self.flag.variants.iter().position(|v| v.key == key) {
            i
        } else {
            self.broken = true;
            0
        }
    }

    fn serve(&mut self, serve: &Serve) -> CompiledServe {
        match serve {
            Serve::Variant(v) => CompiledServe::Variant(self.variant(v)),
            Serve::Split(split) => {
                let mut upper = 0u32;
                let mut weights = Vec::with_capacity(split.weights.len());
                for w in &split.weights {
                    upper = upper.saturating_add(w.weight);
                    weights.push((upper, self.variant(&w.variant)));
                }
                if upper != crate::bucket::BUCKETS {
                    self.broken = true;
                }
                let bucket_by =
                    if split.bucket_by == "key" { BucketBy::Key } else { BucketBy::Attribute(split.bucket_by.clone()) };
                CompiledServe::Split { bucket_by, weights }
            }
        }
    }
}

fn compile_flag(
    flag: &Flag,
    config: &FlagConfig,
    flag_index: &FastMap<String, usize>,
    segment_index: &FastMap<&str, usize>,
    snapshot: &Snapshot,
) -> CompiledFlag {
    let kinds_ok = flag.variants.iter().all(|v| flag.kind.admits(&v.value));
    let mut r = Resolver { flag, broken: flag.variants.is_empty() || !kinds_ok };
    let off_variant = r.variant(&config.off_variant);
    let mut targets = FastMap::default();
    for t in &config.targets {
        let variant = r.variant(&t.variant);
        for key in &t.keys {
            // The first target naming a key wins, as in the order the config lists them.
            targets.entry(key.clone()).or_insert(variant);
        }
    }
    let mut rules = Vec::with_capacity(config.rules.len());
    for rule in &config.rules {
        let conditions: Vec<_> = rule
            .conditions
            .iter()
            .filter_map(|c| CompiledCondition::compile(c).map_err(|_| r.broken = true).ok())
            .collect();
        let segments = rule
            .segments
            .iter()
            .filter_map(|s| {
                segment_index.get(s.as_str()).copied().or_else(|| {
                    r.broken = true;
                    None
                })
            })
            .collect();
        let serve = r.serve(&rule.serve);
        rules.push(CompiledRule { id: rule.id.clone(), conditions, segments, serve });
    }
    let default = r.serve(&config.default);
    let prerequisites = config
        .prerequisites
        .iter()
        .map(|p| {
            let flag_idx = flag_index.get(&p.flag).copied();
            let variant_idx =
                flag_idx.and_then(|i| snapshot.flags[i].definition.variants.iter().position(|v| v.key == p.variant));
            (flag_idx, variant_idx, p.flag.clone())
        })
        .collect();
    CompiledFlag {
        key: flag.key.clone(),
        kind: flag.kind,
        version: config.version,
        salt: SaltPrefix::new(&flag.salt),
        variants: flag.variants.iter().map(|v| (v.key.clone(), v.value.clone())).collect(),
        enabled: config.enabled,
        broken: r.broken,
        off_variant,
        targets,
        rules,
        default,
        prerequisites,
    }
}

/// Indexes of the flags that lie on a prerequisite cycle: the members of every strongly connected component
/// of more than one flag, and flags that are their own prerequisite (Tarjan's algorithm, iterative). A plain
/// depth-first search that only marks the current path misses flags that reach a cycle through a flag it has
/// already finished with.
fn on_prerequisite_cycles(flags: &[CompiledFlag]) -> Vec<usize> {
    const UNVISITED: usize = usize::MAX;
    let n = flags.len();
    let mut order = vec![UNVISITED; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut component = Vec::new();
    let mut on_cycle = vec![false; n];
    let mut next_order = 0;
    for start in 0..n {
        if order[start] != UNVISITED {
            continue;
        }
        // Stack of (flag, next prerequisite to look at): the current depth-first path.
        let mut path = vec![(start, 0usize)];
        order[start] = next_order;
        low[start] = next_order;
        next_order += 1;
        component.push(start);
        on_stack[start] = true;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            let prereq = flags[node].prerequisites.get(*next).map(|p| p.0);
            *next += 1;
            match prereq {
                Some(None) => {}
                Some(Some(p)) if order[p] == UNVISITED => {
                    order[p] = next_order;
                    low[p] = next_order;
                    next_order += 1;
                    component.push(p);
                    on_stack[p] = true;
                    path.push((p, 0));
                }
                Some(Some(p)) => {
                    if p == node {
                        on_cycle[node] = true;
                    }
                    if on_stack[p] {
                        low[node] = low[node].min(order[p]);
                    }
                }
                None => {
                    path.pop();
                    if let Some(&(parent, _)) = path.last() {
                        low[parent] = low[parent].min(low[node]);
                    }
                    if low[node] == order[node] {
                        let root = component.iter().rposition(|&m| m == node).unwrap_or(0);
                        let members = component.split_off(root);
                        for &m in &members {
                            on_stack[m] = false;
                            if members.len() > 1 {
                                on_cycle[m] = true;
                            }
                        }
                    }
                }
            }
        }
    }
    (0..n).filter(|&i| on_cycle[i]).collect()
}
