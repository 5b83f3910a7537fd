//! Building compiled snapshots: all at once from a [`Snapshot`], or from the previous version and a batch of
//! [`Change`]s, compiling only the flags and segments the changes carry.

use std::sync::Arc;

use crate::bucket::SaltPrefix;
use crate::compile::{BucketBy, CompiledFlag, CompiledRule, CompiledSegment, CompiledServe, CompiledSnapshot, FastMap};
use crate::condition::CompiledCondition;
use crate::model::{Flag, FlagConfig, Segment, Serve, Snapshot, SnapshotFlag};
use crate::prerequisite_graph::{dependents, unresolvable};

/// One change to a compiled snapshot, as [`CompiledSnapshot::apply`] takes them.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Change<'a> {
    /// A flag created, or its definition or config in this environment changed.
    UpsertFlag(&'a SnapshotFlag),
    /// A flag deleted (or gone from the environment).
    DeleteFlag(&'a str),
    /// A segment created or changed.
    UpsertSegment(&'a Segment),
    /// A segment deleted.
    DeleteSegment(&'a str),
}

/// What building a snapshot compiled: the work a change cost, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildReport {
    /// Flags compiled (conditions parsed, regexes built, references resolved).
    pub flags_compiled: usize,
    /// Segments compiled.
    pub segments_compiled: usize,
}

impl CompiledSnapshot {
    /// Compiles a snapshot.
    pub fn compile(snapshot: &Snapshot) -> Self {
        Self::compile_with_report(snapshot).0
    }

    /// Compiles a snapshot, and tells how many flags and segments that took (every one).
    pub fn compile_with_report(snapshot: &Snapshot) -> (Self, BuildReport) {
        let mut report = BuildReport::default();
        let mut next = CompiledSnapshot {
            environment: snapshot.environment.clone(),
            revision: snapshot.revision,
            flags: crate::shelf::Shelf::default(),
            index: Arc::default(),
            segments: Arc::default(),
            segment_slots: Arc::default(),
            attributes: Arc::default(),
            prerequisites: Arc::default(),
            dependents: Arc::default(),
            unresolvable: Arc::default(),
        };
        for segment in &snapshot.segments {
            next.upsert_segment(segment, &mut report);
        }
        let flags: Vec<Arc<CompiledFlag>> =
            snapshot.flags.iter().map(|f| Arc::new(next.compile_flag(&f.definition, &f.config, &mut report))).collect();
        let index = Arc::make_mut(&mut next.index);
        let graph = Arc::make_mut(&mut next.prerequisites);
        for (i, flag) in flags.iter().enumerate() {
            index.insert(flag.key.clone(), i);
            if !flag.prerequisites.is_empty() {
                graph.insert(flag.key.clone(), flag.prerequisites.iter().map(|(key, _)| key.clone()).collect());
            }
        }
        next.flags = flags.into_iter().collect();
        next.unresolvable = Arc::new(unresolvable(&next.prerequisites));
        next.dependents = Arc::new(dependents(&next.prerequisites));
        (next, report)
    }

    /// A new version of this snapshot with `changes` applied in order, at `revision`. Only the flags and
    /// segments the changes carry are compiled; the others are shared with this version, not copied. A flag
    /// keeps its position when it changes, a deleted one leaves the others in order, and a new flag goes
    /// before the first flag whose key sorts after its own, found by binary search (`new_flag_position`):
    /// flags in key order stay in key order. A [`Snapshot`] edited the same way compiles to the same.
    ///
    /// Flags refer to their prerequisites and segments by key, so a change to one never requires recompiling
    /// the flags that use it: a flag whose prerequisite or segment goes away fails (`PREREQUISITE_FAILED`,
    /// `MALFORMED_CONFIG`) until it comes back, exactly as when the snapshot is compiled anew.
    ///
    /// ```
    /// use pennon_engine::{Change, CompiledSnapshot, Context, Snapshot, SnapshotFlag};
    /// let flag: SnapshotFlag = serde_json::from_str(r#"{
    ///   "definition": { "key": "dark-mode", "kind": "boolean", "salt": "s",
    ///     "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
    ///   "config": { "flag": "dark-mode", "environment": "production", "version": 2, "enabled": true,
    ///     "off_variant": "off", "default": { "variant": "on" } } }"#).unwrap();
    /// let before = CompiledSnapshot::compile(&Snapshot::default());
    /// let (after, report) = before.apply(2, &[Change::UpsertFlag(&flag)]);
    /// assert_eq!(report.flags_compiled, 1);
    /// assert_eq!(after.evaluate("dark-mode", &Context::new("user-1")).variant, Some("on"));
    /// assert_eq!(after.revision(), 2);
    /// ```
    #[must_use]
    pub fn apply(&self, revision: u64, changes: &[Change<'_>]) -> (Self, BuildReport) {
        let mut report = BuildReport::default();
        let mut next = self.clone();
        next.revision = revision;
        let mut graph_changed = false;
        for change in changes {
            match *change {
                Change::UpsertSegment(segment) => next.upsert_segment(segment, &mut report),
                Change::DeleteSegment(key) => {
                    if let Some(&slot) = next.segment_slots.get(key)
                        && next.segments[slot].is_some()
                    {
                        Arc::make_mut(&mut next.segments)[slot] = None;
                    }
                }
                Change::UpsertFlag(flag) => {
                    let compiled = Arc::new(next.compile_flag(&flag.definition, &flag.config, &mut report));
                    graph_changed |= next.set_prerequisites(&compiled.key, &compiled.prerequisites);
                    if let Some(&i) = next.index.get(&*compiled.key) {
                        next.flags.set(i, compiled);
                    } else {
                        let i = new_flag_position(&next.flags, &compiled.key);
                        let index = Arc::make_mut(&mut next.index);
                        if i < next.flags.len() {
                            for position in index.values_mut().filter(|p| **p >= i) {
                                *position += 1;
                            }
                        }
                        index.insert(compiled.key.clone(), i);
                        next.flags.insert(i, compiled);
                    }
                }
                Change::DeleteFlag(key) => {
                    if let Some(&i) = next.index.get(key) {
                        graph_changed |= next.set_prerequisites(key, &[]);
                        next.flags.remove(i);
                        let index = Arc::make_mut(&mut next.index);
                        index.remove(key);
                        for position in index.values_mut().filter(|p| **p > i) {
                            *position -= 1;
                        }
                    }
                }
            }
        }
        if graph_changed {
            next.unresolvable = Arc::new(unresolvable(&next.prerequisites));
            next.dependents = Arc::new(dependents(&next.prerequisites));
        }
        (next, report)
    }

    /// Records `key`'s prerequisites in the graph; whether that changed it.
    fn set_prerequisites(&mut self, key: &str, prerequisites: &[(Arc<str>, String)]) -> bool {
        let old = self.prerequisites.get(key);
        let same = match old {
            None => prerequisites.is_empty(),
            Some(old) => old.len() == prerequisites.len() && old.iter().zip(prerequisites).all(|(a, (b, _))| a == b),
        };
        if same {
            return false;
        }
        let graph = Arc::make_mut(&mut self.prerequisites);
        if prerequisites.is_empty() {
            graph.remove(key);
        } else {
            graph.insert(Arc::from(key), prerequisites.iter().map(|(p, _)| p.clone()).collect());
        }
        true
    }

    fn upsert_segment(&mut self, segment: &Segment, report: &mut BuildReport) {
        report.segments_compiled += 1;
        let conditions: Result<Vec<_>, _> = segment.conditions.iter().map(|c| self.condition(c)).collect();
        let compiled = CompiledSegment {
            included: segment.included.iter().cloned().collect(),
            excluded: segment.excluded.iter().cloned().collect(),
            // A segment whose conditions do not compile matches by its key lists only.
            conditions: conditions.unwrap_or_default(),
        };
        let slot = self.segment_slot(&segment.key);
        Arc::make_mut(&mut self.segments)[slot] = Some(Arc::new(compiled));
    }

    /// The slot of the segment `key`, made (empty) when the snapshot has none yet.
    fn segment_slot(&mut self, key: &str) -> usize {
        if let Some(&slot) = self.segment_slots.get(key) {
            return slot;
        }
        let segments = Arc::make_mut(&mut self.segments);
        segments.push(None);
        Arc::make_mut(&mut self.segment_slots).insert(Arc::from(key), segments.len() - 1);
        segments.len() - 1
    }

    /// A condition compiled, with its attribute's slot.
    fn condition(&mut self, c: &crate::model::Condition) -> Result<CompiledCondition, crate::condition::OperandError> {
        let mut compiled = CompiledCondition::compile(c)?;
        let slot = if let Some(&slot) = self.attributes.get(c.attribute.as_str()) {
            slot
        } else {
            let attributes = Arc::make_mut(&mut self.attributes);
            let slot = attributes.len();
            attributes.insert(Arc::from(c.attribute.as_str()), slot);
            slot
        };
        compiled.set_slot(slot);
        Ok(compiled)
    }

    fn compile_flag(&mut self, flag: &Flag, config: &FlagConfig, report: &mut BuildReport) -> CompiledFlag {
        report.flags_compiled += 1;
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
        let mut segment_slots = Vec::new();
        for rule in &config.rules {
            let conditions: Vec<_> =
                rule.conditions.iter().filter_map(|c| self.condition(c).map_err(|_| r.broken = true).ok()).collect();
            let segments: Vec<usize> = rule.segments.iter().map(|s| self.segment_slot(s)).collect();
            segment_slots.extend(&segments);
            let serve = r.serve(&rule.serve);
            rules.push(CompiledRule { id: rule.id.clone(), conditions, segments, serve });
        }
        segment_slots.sort_unstable();
        segment_slots.dedup();
        let default = r.serve(&config.default);
        let prerequisites =
            config.prerequisites.iter().map(|p| (Arc::from(p.flag.as_str()), p.variant.clone())).collect();
        CompiledFlag {
            key: Arc::from(flag.key.as_str()),
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
            segment_slots: segment_slots.into(),
            prerequisites,
        }
    }
}

/// Where a new flag goes among `flags`: after those a binary search finds with a smaller key, as
/// `flags.partition_point(|f| f.definition.key < key)` finds in a [`Snapshot`]'s flags in the same order.
fn new_flag_position(flags: &crate::shelf::Shelf<CompiledFlag>, key: &str) -> usize {
    flags.partition_point(|f| &*f.key < key)
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
                let unleash = match &split.bucketing {
                    None => {
                        if upper != crate::bucket::BUCKETS {
                            self.broken = true;
                        }
                        None
                    }
                    Some(crate::model::Bucketing::Unleash { group_id }) => {
                        if upper == 0 || upper == u32::MAX {
                            self.broken = true;
                        }
                        Some(group_id.clone())
                    }
                };
                let bucket_by =
                    if split.bucket_by == "key" { BucketBy::Key } else { BucketBy::Attribute(split.bucket_by.clone()) };
                CompiledServe::Split { bucket_by, weights, unleash }
            }
        }
    }
}
