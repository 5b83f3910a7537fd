//! Which flags changed between two snapshots, for change listeners.

use std::collections::{BTreeSet, HashMap};

use pennon_engine::SnapshotFlag;

use crate::raw::RawSnapshot;

/// A flag whose configuration changed, so that its value may have changed for some contexts.
///
/// Listeners hear about a flag when its definition or config changed, when it appeared or went away, when a
/// segment one of its rules uses changed, and when one of its prerequisites (directly or further down)
/// changed. Changes are reported once per update, whatever its source: a full snapshot, a patch, a delete,
/// or [`TestData`](crate::TestData).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlagChange {
    /// The flag's key.
    pub key: String,
    /// The flag config's version before the change; `None` when the flag is new.
    pub old_version: Option<u64>,
    /// The flag config's version after the change; `None` when the flag was deleted (or archived).
    pub new_version: Option<u64>,
    /// The environment revision the change brought the SDK to.
    pub revision: u64,
}

impl FlagChange {
    /// Whether the flag went away.
    pub fn is_deleted(&self) -> bool {
        self.new_version.is_none()
    }

    /// Whether the flag is new.
    pub fn is_added(&self) -> bool {
        self.old_version.is_none()
    }
}

/// The flags that changed from `old` to `new`, by key.
pub(crate) fn diff(old: &RawSnapshot, new: &RawSnapshot) -> Vec<FlagChange> {
    let old_flags: HashMap<&str, &SnapshotFlag> = old.flags.iter().map(|f| (f.definition.key.as_str(), f)).collect();
    let new_flags: HashMap<&str, &SnapshotFlag> = new.flags.iter().map(|f| (f.definition.key.as_str(), f)).collect();

    let old_segments: HashMap<&str, _> = old.segments.iter().map(|s| (s.key.as_str(), &**s)).collect();
    let new_segments: HashMap<&str, _> = new.segments.iter().map(|s| (s.key.as_str(), &**s)).collect();
    let changed_segments: BTreeSet<&str> = old_segments
        .iter()
        .filter(|(key, s)| new_segments.get(*key) != Some(*s))
        .map(|(key, _)| *key)
        .chain(new_segments.keys().filter(|key| !old_segments.contains_key(*key)).copied())
        .collect();

    let mut changed: BTreeSet<&str> = old_flags
        .iter()
        .filter(|(key, f)| new_flags.get(*key) != Some(*f))
        .map(|(key, _)| *key)
        .chain(new_flags.keys().filter(|key| !old_flags.contains_key(*key)).copied())
        .collect();
    if !changed_segments.is_empty() {
        for (key, flag) in &new_flags {
            let uses =
                flag.config.rules.iter().flat_map(|r| &r.segments).any(|s| changed_segments.contains(s.as_str()));
            if uses {
                changed.insert(key);
            }
        }
    }

    // Flags whose prerequisites changed may now evaluate differently too: follow the dependents.
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (key, flag) in &new_flags {
        for p in &flag.config.prerequisites {
            dependents.entry(p.flag.as_str()).or_default().push(key);
        }
    }
    let mut queue: Vec<&str> = changed.iter().copied().collect();
    while let Some(key) = queue.pop() {
        for &dependent in dependents.get(key).map(Vec::as_slice).unwrap_or_default() {
            if changed.insert(dependent) {
                queue.push(dependent);
            }
        }
    }

    changed
        .into_iter()
        .map(|key| FlagChange {
            key: key.to_owned(),
            old_version: old_flags.get(key).map(|f| f.config.version),
            new_version: new_flags.get(key).map(|f| f.config.version),
            revision: new.revision,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use pennon_engine::Snapshot;
    use serde_json::{Value, json};

    use super::*;

    fn flag(key: &str, version: u64, segments: &[&str], prerequisites: &[&str]) -> Value {
        json!({
            "definition": { "key": key, "kind": "boolean", "salt": "s",
                "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
            "config": { "flag": key, "environment": "test", "version": version, "enabled": true, "off_variant": "off",
                "rules": [{ "id": "r", "segments": segments, "serve": { "variant": "on" } }],
                "prerequisites": prerequisites.iter().map(|p| json!({ "flag": p, "variant": "on" })).collect::<Vec<_>>(),
                "default": { "variant": "off" } }
        })
    }

    fn snapshot(revision: u64, flags: Vec<Value>, segments: Vec<Value>) -> Snapshot {
        serde_json::from_value(
            json!({ "environment": "test", "revision": revision, "flags": Value::Array(flags), "segments": Value::Array(segments) }),
        )
        .unwrap()
    }

    fn keys(changes: &[FlagChange]) -> Vec<&str> {
        changes.iter().map(|c| c.key.as_str()).collect()
    }

    #[test]
    fn reports_added_updated_deleted_and_dependents() {
        let old = snapshot(
            1,
            vec![
                flag("a", 1, &[], &[]),
                flag("b", 1, &[], &["a"]),
                flag("c", 1, &[], &["b"]),
                flag("gone", 4, &[], &[]),
            ],
            vec![],
        );
        let new = snapshot(
            2,
            vec![
                flag("a", 2, &[], &[]),
                flag("b", 1, &[], &["a"]),
                flag("c", 1, &[], &["b"]),
                flag("new", 1, &[], &[]),
            ],
            vec![],
        );
        let changes = diff(&old.into(), &new.into());
        assert_eq!(keys(&changes), ["a", "b", "c", "gone", "new"]);
        let gone = &changes[3];
        assert!(gone.is_deleted() && !gone.is_added());
        assert_eq!((gone.old_version, gone.new_version, gone.revision), (Some(4), None, 2));
        assert!(changes[4].is_added());
        assert_eq!((changes[0].old_version, changes[0].new_version), (Some(1), Some(2)));
    }

    #[test]
    fn a_segment_change_reaches_the_flags_that_use_it() {
        let segment = |included: &[&str]| json!({ "key": "staff", "included": included });
        let flags = || vec![flag("uses", 1, &["staff"], &[]), flag("other", 1, &[], &[])];
        let old = snapshot(1, flags(), vec![segment(&["u1"])]);
        let new = snapshot(2, flags(), vec![segment(&["u1", "u2"])]);
        let (old, new): (RawSnapshot, RawSnapshot) = (old.into(), new.into());
        assert_eq!(keys(&diff(&old, &new)), ["uses"]);
        assert!(diff(&new, &new).is_empty());
    }
}
