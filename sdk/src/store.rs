//! The flags being served: one [`FlagState`] behind an `ArcSwap`, replaced whole on every update, and the
//! change listeners.
//!
//! Evaluation only loads the current state (no lock, no reference-count traffic in the common case). Updates
//! (a snapshot, a patch, a delete, test data) are serialised by a mutex, build a new state, swap it in and
//! then tell the listeners which flags changed. A patch or a delete compiles only the flag or segment it
//! carries; the new state shares the other compiled flags with the one before.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::{ArcSwap, Guard};
use pennon_engine::{Change, Snapshot};
use tokio::sync::broadcast;

use crate::changes::{FlagChange, diff};
use crate::protocol::{Object, ObjectKind};
use crate::raw::RawSnapshot;
use crate::state::{FlagState, Source};

/// A change listener.
pub(crate) type Listener = Arc<dyn Fn(&FlagChange) + Send + Sync>;

/// What an incremental update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Applied; this many flags changed.
    Applied(usize),
    /// Older than the revision held: ignored.
    Stale { held: u64 },
}

/// What a change touched, from which the flags it changed follow.
enum Roots<'a> {
    /// Nothing: the object was there already, as it is.
    None,
    /// A flag (changed, added or deleted).
    Flag(&'a str),
    /// A segment: the flags whose rules name it changed.
    Segment(&'a str),
}

/// The flags a change touching `roots` changed from `old` to `new`: the flag itself, or those whose rules name
/// the segment, and every flag that requires one of them, directly or further down.
fn flags_changed(old: &FlagState, new: &FlagState, roots: &Roots<'_>) -> Vec<FlagChange> {
    let mut changed: BTreeSet<&str> = BTreeSet::new();
    match roots {
        Roots::None => return Vec::new(),
        Roots::Flag(key) => {
            changed.insert(*key);
        }
        Roots::Segment(segment) => {
            for flag in new.snapshot.flags.iter() {
                if flag.config.rules.iter().flat_map(|r| &r.segments).any(|s| s == *segment) {
                    changed.insert(&flag.definition.key);
                }
            }
        }
    }
    let mut queue: Vec<&str> = changed.iter().copied().collect();
    while let Some(key) = queue.pop() {
        for dependent in new.compiled.flags_requiring(key) {
            if changed.insert(dependent) {
                queue.push(dependent);
            }
        }
    }
    changed
        .into_iter()
        .map(|key| FlagChange {
            key: key.to_owned(),
            old_version: old.compiled.flag_version(key),
            new_version: new.compiled.flag_version(key),
            revision: new.snapshot.revision,
        })
        .collect()
}

pub(crate) struct Store {
    /// Unique among the stores of this process.
    id: u64,
    /// Bumped after every swap: lets threads keep using the state they loaded last (see `local`).
    generation: AtomicU64,
    state: ArcSwap<FlagState>,
    update: Mutex<()>,
    /// States replaced while evaluations may still have been counting exposures on them: the event flusher
    /// drains their counters and drops them once nobody else holds them.
    retired: Mutex<Vec<Arc<FlagState>>>,
    listeners: Mutex<Vec<(u64, Listener)>>,
    next_listener: AtomicU64,
    changes: broadcast::Sender<FlagChange>,
    stripes: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.load();
        f.debug_struct("Store")
            .field("revision", &state.snapshot.revision)
            .field("flags", &state.snapshot.flags.len())
            .field("source", &state.source)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    pub(crate) fn new(initial: Snapshot, source: Source, stripes: usize) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Store {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            state: ArcSwap::from_pointee(FlagState::new(initial, source, stripes)),
            update: Mutex::new(()),
            retired: Mutex::new(Vec::new()),
            listeners: Mutex::new(Vec::new()),
            next_listener: AtomicU64::new(0),
            changes: broadcast::channel(256).0,
            stripes,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current state, for one evaluation: cheap, but hold it only briefly.
    #[inline]
    pub(crate) fn load(&self) -> Guard<Arc<FlagState>> {
        self.state.load()
    }

    /// The current state, to keep.
    pub(crate) fn current(&self) -> Arc<FlagState> {
        self.state.load_full()
    }

    /// The revision the SDK may resume the stream from: only one received from the server in this run.
    pub(crate) fn server_revision(&self) -> Option<u64> {
        let state = self.state.load();
        (state.source == Source::Server).then_some(state.snapshot.revision)
    }

    /// Replaces everything. Returns the number of flags that changed.
    #[cfg(test)]
    pub(crate) fn replace(&self, snapshot: Snapshot, source: Source) -> usize {
        self.replace_unless(snapshot, source, |old, new| old.source == new.1 && old.snapshot.same_as(new.0))
    }

    /// Replaces everything with a snapshot from the server (a `put` or a poll's answer), unless the flags held
    /// came from the server in this run and are newer: revisions only move forward, so an older snapshot (from
    /// a replica that lags behind the one heard before) is ignored.
    pub(crate) fn replace_from_server(&self, snapshot: Snapshot) -> Applied {
        let mut held = None;
        let changed = self.replace_unless(snapshot, Source::Server, |old, (new, _)| {
            if old.source != Source::Server {
                return false;
            }
            if new.revision < old.snapshot.revision {
                held = Some(old.snapshot.revision);
                return true;
            }
            old.snapshot.same_as(new)
        });
        match held {
            Some(held) => Applied::Stale { held },
            None => Applied::Applied(changed),
        }
    }

    /// Replaces everything unless the state held came from the same source and is as new (test data
    /// updated from several threads at once).
    pub(crate) fn replace_if_newer(&self, snapshot: Snapshot, source: Source) -> usize {
        self.replace_unless(snapshot, source, |old, new| old.source == new.1 && old.snapshot.revision >= new.0.revision)
    }

    fn replace_unless(
        &self,
        snapshot: Snapshot,
        source: Source,
        skip: impl FnOnce(&FlagState, (&Snapshot, Source)) -> bool,
    ) -> usize {
        let changes = {
            let _update = lock(&self.update);
            let old = self.state.load_full();
            if skip(&old, (&snapshot, source)) {
                return 0;
            }
            let new = FlagState::new(snapshot, source, self.stripes);
            let changes = diff(&old.snapshot, &new.snapshot);
            self.install(new, changes)
        };
        self.notify(&changes)
    }

    /// Applies a `patch` whose revision is at least the one held (events of one change share a revision, and
    /// applying one twice changes nothing).
    pub(crate) fn patch(&self, revision: u64, object: &Object) -> Applied {
        match object {
            Object::Flag(flag) => self.incremental(revision, Change::UpsertFlag(flag), |snapshot, old| {
                let key = &flag.definition.key;
                match old.compiled.position(key) {
                    Some(i) if snapshot.flags[i] == **flag => return Roots::None,
                    Some(i) => snapshot.flags.set(i, Arc::new((**flag).clone())),
                    // Where the engine puts a new flag: flags in key order stay so.
                    None => {
                        let i = snapshot.flags.partition_point(|f| f.definition.key < *key);
                        snapshot.flags.insert(i, Arc::new((**flag).clone()));
                    }
                }
                Roots::Flag(key)
            }),
            Object::Segment(segment) => self.incremental(revision, Change::UpsertSegment(segment), |snapshot, _| {
                match snapshot.segments.iter_mut().find(|s| s.key == segment.key) {
                    Some(slot) if **slot == *segment => return Roots::None,
                    Some(slot) => *slot = Arc::new(segment.clone()),
                    None => snapshot.segments.push(Arc::new(segment.clone())),
                }
                Roots::Segment(&segment.key)
            }),
        }
    }

    /// Applies a `delete` whose revision is at least the one held.
    pub(crate) fn delete(&self, revision: u64, kind: ObjectKind, key: &str) -> Applied {
        match kind {
            ObjectKind::Flag => self.incremental(revision, Change::DeleteFlag(key), |snapshot, old| {
                let Some(i) = old.compiled.position(key) else { return Roots::None };
                snapshot.flags.remove(i);
                Roots::Flag(key)
            }),
            ObjectKind::Segment => self.incremental(revision, Change::DeleteSegment(key), |snapshot, _| {
                let before = snapshot.segments.len();
                snapshot.segments.retain(|s| s.key != key);
                if snapshot.segments.len() == before { Roots::None } else { Roots::Segment(key) }
            }),
        }
    }

    /// Makes one change: `edit` makes it to the snapshot as received (sharing every other flag and segment)
    /// and tells what it touched, `change` to the compiled flags, so that only what it carries is compiled
    /// again; the flags that changed are found from what it touched, not by comparing every flag.
    fn incremental<'c>(
        &self,
        revision: u64,
        change: Change<'_>,
        edit: impl FnOnce(&mut RawSnapshot, &FlagState) -> Roots<'c>,
    ) -> Applied {
        let changes = {
            let _update = lock(&self.update);
            let old = self.state.load_full();
            if revision < old.snapshot.revision {
                return Applied::Stale { held: old.snapshot.revision };
            }
            let mut snapshot = old.snapshot.clone();
            let roots = edit(&mut snapshot, &old);
            let touched = !matches!(roots, Roots::None);
            if !touched && revision == old.snapshot.revision && old.source == Source::Server {
                return Applied::Applied(0);
            }
            snapshot.revision = revision;
            let made: &[Change<'_>] = if touched { &[change] } else { &[] };
            let new = old.changed(snapshot, made, Source::Server, self.stripes);
            tracing::debug!(revision, flags_compiled = new.build.flags_compiled, "change applied");
            let flags = flags_changed(&old, &new, &roots);
            self.install(new, flags)
        };
        Applied::Applied(self.notify(&changes))
    }

    /// Swaps the new state in (the caller holds the update lock); returns `changes`, or what changed from
    /// `old` to `new` flag by flag when `None`.
    fn install(&self, new: FlagState, changes: Vec<FlagChange>) -> Vec<FlagChange> {
        let replaced = self.state.swap(Arc::new(new));
        self.generation.fetch_add(1, Ordering::Release);
        lock(&self.retired).push(replaced);
        changes
    }

    fn notify(&self, changes: &[FlagChange]) -> usize {
        if changes.is_empty() {
            return 0;
        }
        let listeners: Vec<Listener> = lock(&self.listeners).iter().map(|(_, l)| l.clone()).collect();
        for change in changes {
            tracing::debug!(flag = %change.key, revision = change.revision, "flag changed");
            for listener in &listeners {
                if std::panic::catch_unwind(AssertUnwindSafe(|| listener(change))).is_err() {
                    tracing::error!(flag = %change.key, "a flag change listener panicked");
                }
            }
            // Nobody subscribed is not an error.
            let _ = self.changes.send(change.clone());
        }
        changes.len()
    }

    pub(crate) fn add_listener(&self, listener: Listener) -> u64 {
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        lock(&self.listeners).push((id, listener));
        id
    }

    pub(crate) fn remove_listener(&self, id: u64) -> bool {
        let mut listeners = lock(&self.listeners);
        let before = listeners.len();
        listeners.retain(|(i, _)| *i != id);
        listeners.len() != before
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<FlagChange> {
        self.changes.subscribe()
    }

    /// Calls `each` on every state replaced since the last call, and forgets those nobody uses any more
    /// (after `each` has seen them for the last time).
    pub(crate) fn drain_retired(&self, mut each: impl FnMut(&FlagState)) {
        let mut retired = lock(&self.retired);
        retired.retain(|state| {
            let unused = Arc::strong_count(state) == 1;
            each(state);
            !unused
        });
    }
}

#[cfg(test)]
mod tests {
    use pennon_engine::SnapshotFlag;
    use serde_json::json;

    use super::*;

    fn flag(key: &str, version: u64) -> SnapshotFlag {
        serde_json::from_value(json!({
            "definition": { "key": key, "kind": "boolean", "salt": key,
                "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
            "config": { "flag": key, "environment": "test", "version": version, "enabled": true, "off_variant": "off",
                "rules": [{ "id": "pro", "conditions": [{ "attribute": "plan", "operator": "in", "values": ["pro"] }],
                    "serve": { "variant": "on" } }],
                "default": { "variant": "off" } }
        }))
        .unwrap()
    }

    #[test]
    fn a_patch_to_ten_thousand_flags_compiles_the_one_it_carries() {
        let flags = (0..10_000).map(|i| flag(&format!("flag-{i:05}"), 1)).collect();
        let snapshot = Snapshot { environment: "test".to_owned(), revision: 1, flags, segments: Vec::new() };
        let store = Store::new(snapshot, Source::Server, 1);
        assert_eq!(store.current().build.flags_compiled, 10_000);
        let before = store.current();

        assert_eq!(store.patch(2, &Object::Flag(Box::new(flag("flag-04321", 2)))), Applied::Applied(1));
        let state = store.current();
        assert_eq!((state.build.flags_compiled, state.build.segments_compiled), (1, 0));
        assert_eq!(state.compiled.flag_version("flag-04321"), Some(2));
        assert_eq!(state.snapshot.flags[4321].config.version, 2);
        let shared = |i: usize| {
            Arc::ptr_eq(before.snapshot.flags.arcs().nth(i).unwrap(), state.snapshot.flags.arcs().nth(i).unwrap())
        };
        assert!(shared(17) && shared(4320) && !shared(4321));
        // The patch copied one chunk of 64 pointers (and the list of 157 chunks), not 10,000 pointers.
        assert_eq!(state.snapshot.flags.shared_chunks(&before.snapshot.flags), 156);

        assert_eq!(store.patch(3, &Object::Flag(Box::new(flag("flag-new", 1)))), Applied::Applied(1));
        assert_eq!(store.current().build.flags_compiled, 1);
        assert_eq!(store.delete(4, ObjectKind::Flag, "flag-00007"), Applied::Applied(1));
        let state = store.current();
        assert_eq!(state.build.flags_compiled, 0);
        assert_eq!(state.compiled.len(), 10_000);
        assert_eq!(state.compiled.flag_keys().last(), Some("flag-new"));
        assert!(state.compiled.flag_keys().eq(state.snapshot.flags.iter().map(|f| f.definition.key.as_str())));
    }
}
