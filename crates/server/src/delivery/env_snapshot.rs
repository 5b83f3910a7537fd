//! One environment's snapshot in memory: the flags and segments as SDKs receive them, their compiled form,
//! and what evaluation answers keep per flag (counters, prewritten JSON). A new version is made from the one
//! before and a batch of changes: only the objects the changes carry are parsed and compiled, and the others
//! are shared (one `Arc` each, in chunks of 64 that are shared too), so the cost of a change grows with the
//! change, not with the environment (beyond a pointer per 64 flags).

use std::sync::Arc;

use pennon_engine::{BuildReport, Change, CompiledSnapshot, Segment, Shelf, Snapshot, SnapshotFlag};
use serde::Serialize;

use crate::delivery::evaluation_json::{Prewritten, PrewrittenFlag};
use crate::store::{ChangeRow, ObjectKind, StoreResult};
use crate::telemetry::metrics::FlagCounters;

/// A flag as a snapshot holds it, with what its evaluation answers use.
#[derive(Debug)]
pub struct ServedFlag {
    /// As delivered to SDKs.
    pub raw: SnapshotFlag,
    /// Its evaluations' JSON, but for the reason, by variant position.
    pub json: PrewrittenFlag,
    /// Evaluation counters; kept when the flag changes.
    pub counters: Arc<FlagCounters>,
}

impl ServedFlag {
    fn new(raw: SnapshotFlag, counters: Option<Arc<FlagCounters>>) -> Self {
        let json = PrewrittenFlag::new(&raw);
        ServedFlag { raw, json, counters: counters.unwrap_or_default() }
    }
}

/// One environment's state: the snapshot as SDKs receive it, and its compiled form.
#[derive(Debug)]
pub struct EnvSnapshot {
    environment: String,
    revision: u64,
    /// In the compiled snapshot's order: a flag's position is the same in both. Shared in chunks with the
    /// version before, so a change copies a pointer per 64 flags, not one per flag.
    flags: Shelf<ServedFlag>,
    /// By key.
    segments: Vec<Arc<Segment>>,
    /// As evaluated.
    pub compiled: CompiledSnapshot,
    /// What making this version compiled: every flag for a whole snapshot, the changed ones for a batch.
    pub build: BuildReport,
}

/// The snapshot as SDKs receive it ([`Snapshot`]'s JSON), borrowed.
#[derive(Serialize)]
struct RawView<'a> {
    environment: &'a str,
    revision: u64,
    flags: Vec<&'a SnapshotFlag>,
    segments: Vec<&'a Segment>,
}

impl EnvSnapshot {
    /// Compiles a whole snapshot.
    pub fn new(raw: Snapshot) -> Self {
        let (compiled, build) = CompiledSnapshot::compile_with_report(&raw);
        let flags = raw.flags.into_iter().map(|f| Arc::new(ServedFlag::new(f, None))).collect();
        let mut segments: Vec<Arc<Segment>> = raw.segments.into_iter().map(Arc::new).collect();
        segments.sort_by(|a, b| a.key.cmp(&b.key));
        EnvSnapshot { environment: raw.environment, revision: raw.revision, flags, segments, compiled, build }
    }

    /// The environment's key.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The environment revision it reflects.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The number of flags.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Whether there are no flags.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// The position of a flag (the compiled snapshot's), if it is there.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.compiled.position(key)
    }

    /// The flag at a position.
    #[inline]
    pub fn at(&self, position: usize) -> Option<&ServedFlag> {
        self.flags.get(position)
    }

    /// Every flag, in the compiled snapshot's order (the order `evaluate_all` answers in).
    pub fn served(&self) -> impl Iterator<Item = &ServedFlag> {
        self.flags.iter()
    }

    /// A flag by key.
    pub fn flag(&self, key: &str) -> Option<&SnapshotFlag> {
        self.position(key).and_then(|i| self.at(i)).map(|f| &f.raw)
    }

    /// The snapshot as JSON, as SDKs receive it: flags in the order evaluation lists them, segments by key.
    pub fn to_json(&self) -> Vec<u8> {
        let view = RawView {
            environment: &self.environment,
            revision: self.revision,
            flags: self.flags.iter().map(|f| &f.raw).collect(),
            segments: self.segments.iter().map(|s| &**s).collect(),
        };
        serde_json::to_vec(&view).expect("a snapshot serialises")
    }

    /// The snapshot as an owned [`Snapshot`] (a copy of every flag: for tests and tools).
    pub fn to_snapshot(&self) -> Snapshot {
        Snapshot {
            environment: self.environment.clone(),
            revision: self.revision,
            flags: self.flags.iter().map(|f| f.raw.clone()).collect(),
            segments: self.segments.iter().map(|s| (**s).clone()).collect(),
        }
    }

    /// The next version: `changes` (ordered by revision) made to this one. Only the objects they carry are
    /// parsed and compiled; the other flags and segments are shared with this version. A changed flag keeps
    /// its position, a new one goes where its key sorts, a deleted one leaves the others in order (as in the
    /// engine's [`CompiledSnapshot::apply`]), so the flags stay in key order.
    pub fn changed(&self, changes: &[ChangeRow]) -> StoreResult<EnvSnapshot> {
        enum Parsed {
            Flag(Box<SnapshotFlag>),
            Segment(Segment),
            Gone(ObjectKind),
        }
        let mut parsed = Vec::with_capacity(changes.len());
        for change in changes {
            parsed.push(match (change.kind, &change.payload) {
                (ObjectKind::Flag, Some(p)) => Parsed::Flag(Box::new(crate::store::parse_flag_payload(p)?)),
                (ObjectKind::Segment, Some(p)) => Parsed::Segment(crate::store::parse_segment_payload(p)?),
                (kind, None) => Parsed::Gone(kind),
            });
        }
        let revision = changes.iter().map(|c| c.revision).fold(self.revision, u64::max);
        let engine_changes: Vec<Change<'_>> = parsed
            .iter()
            .zip(changes)
            .map(|(p, row)| match p {
                Parsed::Flag(f) => Change::UpsertFlag(f),
                Parsed::Segment(s) => Change::UpsertSegment(s),
                Parsed::Gone(ObjectKind::Flag) => Change::DeleteFlag(&row.key),
                Parsed::Gone(ObjectKind::Segment) => Change::DeleteSegment(&row.key),
            })
            .collect();
        let (compiled, build) = self.compiled.apply(revision, &engine_changes);
        drop(engine_changes);

        let mut flags = self.flags.clone();
        let mut segments = self.segments.clone();
        // Where a key sat before the batch: right unless a delete earlier in the batch moved it.
        let find = |flags: &Shelf<ServedFlag>, key: &str| {
            self.compiled
                .position(key)
                .filter(|&i| flags.get(i).is_some_and(|f| f.raw.definition.key == key))
                .or_else(|| {
                    let i = flags.partition_point(|f| f.raw.definition.key.as_str() < key);
                    flags.get(i).is_some_and(|f| f.raw.definition.key == key).then_some(i)
                })
                .or_else(|| flags.iter().position(|f| f.raw.definition.key == key))
        };
        for (p, row) in parsed.into_iter().zip(changes) {
            match p {
                Parsed::Flag(raw) => {
                    if let Some(i) = find(&flags, &row.key) {
                        let counters = Some(flags[i].counters.clone());
                        flags.set(i, Arc::new(ServedFlag::new(*raw, counters)));
                    } else {
                        let i = flags.partition_point(|f| f.raw.definition.key < row.key);
                        flags.insert(i, Arc::new(ServedFlag::new(*raw, None)));
                    }
                }
                Parsed::Gone(ObjectKind::Flag) => {
                    if let Some(i) = find(&flags, &row.key) {
                        flags.remove(i);
                    }
                }
                Parsed::Segment(segment) => match segments.binary_search_by(|s| s.key.as_str().cmp(&row.key)) {
                    Ok(i) => segments[i] = Arc::new(segment),
                    Err(i) => segments.insert(i, Arc::new(segment)),
                },
                Parsed::Gone(ObjectKind::Segment) => {
                    if let Ok(i) = segments.binary_search_by(|s| s.key.as_str().cmp(&row.key)) {
                        segments.remove(i);
                    }
                }
            }
        }
        debug_assert!(compiled.flag_keys().eq(flags.iter().map(|f| f.raw.definition.key.as_str())));
        Ok(EnvSnapshot { environment: self.environment.clone(), revision, flags, segments, compiled, build })
    }
}

impl Prewritten for EnvSnapshot {
    fn head(&self, position: usize) -> Option<&PrewrittenFlag> {
        self.flags.get(position).map(|f| &f.json)
    }
}

#[cfg(test)]
mod tests {
    use pennon_engine::Context;
    use serde_json::json;

    use super::*;

    fn flag(key: &str, version: u64, on: bool) -> SnapshotFlag {
        serde_json::from_value(json!({
            "definition": { "key": key, "kind": "boolean", "salt": key,
                "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
            "config": { "flag": key, "environment": "production", "version": version, "enabled": true,
                "off_variant": "off",
                "rules": [{ "id": "pro", "conditions": [{ "attribute": "plan", "operator": "in", "values": ["pro"] }],
                    "segments": ["beta"], "serve": { "variant": "on" } }],
                "default": { "split": { "weights": [
                    { "variant": "on", "weight": if on { 60_000 } else { 0 } },
                    { "variant": "off", "weight": if on { 40_000 } else { 100_000 } }] } } }
        }))
        .unwrap()
    }

    fn segment(key: &str, included: &[&str]) -> Segment {
        serde_json::from_value(json!({ "key": key, "included": included })).unwrap()
    }

    fn row(revision: u64, kind: ObjectKind, key: &str, payload: Option<String>) -> ChangeRow {
        ChangeRow { revision, kind, key: key.to_owned(), payload, committed_at: 0 }
    }

    fn large(n: usize) -> Snapshot {
        Snapshot {
            environment: "production".to_owned(),
            revision: 1,
            flags: (0..n).map(|i| flag(&format!("flag-{i:05}"), 1, true)).collect(),
            segments: vec![segment("beta", &["u1"])],
        }
    }

    /// The work a change costs is counted, not timed: one flag changed in a 10,000-flag environment
    /// compiles that flag, and the others stay the same objects.
    #[test]
    fn one_flag_change_to_ten_thousand_flags_compiles_one_flag() {
        let before = EnvSnapshot::new(large(10_000));
        assert_eq!((before.build.flags_compiled, before.build.segments_compiled), (10_000, 1));
        let payload = serde_json::to_string(&flag("flag-04321", 2, false)).unwrap();
        let after = before.changed(&[row(2, ObjectKind::Flag, "flag-04321", Some(payload))]).unwrap();
        assert_eq!((after.build.flags_compiled, after.build.segments_compiled), (1, 0));
        assert_eq!(after.revision(), 2);
        assert_eq!(after.flag("flag-04321").unwrap().config.version, 2);
        let shared = |i: usize| Arc::ptr_eq(before.flags.arcs().nth(i).unwrap(), after.flags.arcs().nth(i).unwrap());
        assert!(shared(17) && shared(4320) && shared(9_999), "an untouched flag is shared");
        assert!(!shared(4321));
        assert!(Arc::ptr_eq(&before.flags[4321].counters, &after.flags[4321].counters), "counters are kept");
        // Copied: one chunk of 64 pointers (and the list of 157 chunks), not 10,000 pointers.
        assert_eq!(after.flags.chunks(), 157);
        assert_eq!(after.flags.shared_chunks(&before.flags), 156, "only the changed flag's chunk is new");
        assert_eq!(before.flag("flag-04321").unwrap().config.version, 1, "the version before is untouched");
    }

    /// A batch of changes (flags and segments, new, changed and deleted) makes the snapshot that the edited
    /// snapshot makes when compiled whole: same JSON, same evaluations.
    #[test]
    fn a_batch_of_changes_makes_what_a_reload_makes() {
        let before = EnvSnapshot::new(large(200));
        let new = serde_json::to_string(&flag("flag-new", 1, true)).unwrap();
        let first = serde_json::to_string(&flag("flag-000", 1, true)).unwrap();
        let changed = serde_json::to_string(&flag("flag-00150", 2, false)).unwrap();
        let beta = serde_json::to_string(&segment("beta", &["u2"])).unwrap();
        let alpha = serde_json::to_string(&segment("alpha", &[])).unwrap();
        let rows = [
            row(2, ObjectKind::Flag, "flag-00003", None),
            row(3, ObjectKind::Flag, "flag-new", Some(new)),
            row(4, ObjectKind::Flag, "flag-00150", Some(changed)),
            row(5, ObjectKind::Segment, "beta", Some(beta)),
            row(6, ObjectKind::Segment, "alpha", Some(alpha)),
            row(7, ObjectKind::Flag, "flag-00100", None),
            row(8, ObjectKind::Flag, "flag-000", Some(first)),
        ];
        let after = before.changed(&rows).unwrap();
        assert_eq!((after.build.flags_compiled, after.build.segments_compiled), (3, 2));

        let mut raw = large(200);
        raw.flags.retain(|f| f.definition.key != "flag-00003" && f.definition.key != "flag-00100");
        raw.flags.insert(0, flag("flag-000", 1, true));
        raw.flags.push(flag("flag-new", 1, true));
        let i = raw.flags.iter().position(|f| f.definition.key == "flag-00150").unwrap();
        raw.flags[i] = flag("flag-00150", 2, false);
        raw.segments = vec![segment("alpha", &[]), segment("beta", &["u2"])];
        raw.revision = 8;
        let reloaded = EnvSnapshot::new(raw.clone());
        assert_eq!(after.to_json(), reloaded.to_json());
        assert_eq!(after.to_snapshot(), raw);
        assert_eq!(serde_json::from_slice::<Snapshot>(&after.to_json()).unwrap(), raw);
        for ctx in [Context::new("u1").with("plan", "pro"), Context::new("u2").with("plan", "pro"), Context::new("u3")]
        {
            assert_eq!(after.compiled.evaluate_all(&ctx), reloaded.compiled.evaluate_all(&ctx));
        }
    }
}
