//! The in-memory snapshots evaluation reads: one compiled, immutable snapshot per environment, swapped
//! atomically. They are caught up from the change log after every commit (and periodically, and on
//! notification from other replicas), so evaluation never reads the database. The environments' allowed
//! origins ([`OriginTable`]) and the metrics guards watch ([`WatchedMetrics`]) are reloaded with the list of
//! environments.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pennon_engine::{CompiledSnapshot, Snapshot};
use tokio::sync::{Mutex, broadcast};

use crate::delivery::evaluation_json::Prewritten;
use crate::delivery::origins::OriginTable;
use crate::delivery::watched::WatchedMetrics;
use crate::store::{ChangeRow, ObjectKind, Store, StoreError, StoreResult};
use crate::telemetry::metrics::FlagCounters;

/// One environment's state: the snapshot as SDKs receive it, and its compiled form.
#[derive(Debug)]
pub struct EnvSnapshot {
    /// As delivered to SDKs.
    pub raw: Snapshot,
    /// As evaluated.
    pub compiled: CompiledSnapshot,
    /// Evaluation counters by the flag's position in `raw.flags` (the order of `compiled` too).
    pub counters: FlagCounters,
    /// Its evaluations' JSON, but for the reason, by flag and variant position.
    pub json: Prewritten,
}

impl EnvSnapshot {
    fn new(raw: Snapshot) -> Self {
        let compiled = CompiledSnapshot::compile(&raw);
        let counters = FlagCounters::new(raw.flags.len());
        let json = Prewritten::new(&raw);
        EnvSnapshot { raw, compiled, counters, json }
    }

    /// The position of a flag in `raw.flags` (sorted by key), if it is there.
    pub fn position(&self, key: &str) -> Option<usize> {
        let flags = &self.raw.flags;
        match flags.binary_search_by(|f| f.definition.key.as_str().cmp(key)) {
            Ok(i) => Some(i),
            Err(_) => flags.iter().position(|f| f.definition.key == key),
        }
    }

    /// The environment revision it reflects.
    pub fn revision(&self) -> u64 {
        self.raw.revision
    }
}

/// What subscribers (SSE streams) hear after snapshots move.
#[derive(Debug, Clone)]
pub enum SnapshotEvent {
    /// Changes applied in order; the snapshot is now at the last one's revision.
    Changes { environment: String, changes: Arc<Vec<ChangeRow>> },
    /// The environment was reloaded whole (or created): subscribers should send a fresh snapshot.
    Reloaded { environment: String, revision: u64 },
    /// The environment no longer exists.
    Removed { environment: String },
}

type Map = HashMap<String, Arc<EnvSnapshot>>;

/// All environments' snapshots.
pub struct Snapshots {
    current: ArcSwap<Map>,
    updating: Mutex<()>,
    store: Store,
    events: broadcast::Sender<SnapshotEvent>,
    origins: OriginTable,
    watched: WatchedMetrics,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots").field("environments", &self.current.load().len()).finish_non_exhaustive()
    }
}

impl Snapshots {
    /// Loads every environment from the store.
    pub async fn load(store: Store) -> StoreResult<Self> {
        let (events, _) = broadcast::channel(1024);
        let snapshots = Snapshots {
            current: ArcSwap::from_pointee(Map::new()),
            updating: Mutex::new(()),
            store,
            events,
            origins: OriginTable::default(),
            watched: WatchedMetrics::default(),
        };
        snapshots.refresh_all().await?;
        Ok(snapshots)
    }

    /// The current snapshot of an environment. Lock-free.
    pub fn get(&self, environment: &str) -> Option<Arc<EnvSnapshot>> {
        self.current.load().get(environment).cloned()
    }

    /// Every environment's key and revision.
    pub fn revisions(&self) -> Vec<(String, u64)> {
        let mut all: Vec<_> = self.current.load().iter().map(|(k, s)| (k.clone(), s.revision())).collect();
        all.sort();
        all
    }

    /// Every environment's allowed origins.
    pub fn origins(&self) -> &OriginTable {
        &self.origins
    }

    /// The metrics guards watch, per environment and flag.
    pub fn watched(&self) -> &WatchedMetrics {
        &self.watched
    }

    /// Reloads the metrics guards watch (after a guard changed, here or on another replica).
    pub async fn reload_watched(&self) -> StoreResult<()> {
        self.watched.replace(self.store.watched_metrics().await?);
        Ok(())
    }

    /// Subscribes to snapshot movements.
    pub fn subscribe(&self) -> broadcast::Receiver<SnapshotEvent> {
        self.events.subscribe()
    }

    /// Brings one environment up to the store's revision (loading it when unknown, dropping it when gone).
    pub async fn catch_up(&self, environment: &str) -> StoreResult<()> {
        let _one_at_a_time = self.updating.lock().await;
        self.catch_up_locked(environment).await
    }

    /// Catches up after a commit that touched these environments. Failures are logged: the periodic refresh
    /// repairs them.
    pub async fn after_commit(&self, revisions: &[(String, u64)]) {
        for (environment, revision) in revisions {
            if self.get(environment).is_some_and(|s| s.revision() >= *revision) {
                continue;
            }
            if let Err(e) = self.catch_up(environment).await {
                tracing::warn!(environment, error = %e, "could not catch the snapshot up after a commit");
            }
        }
    }

    /// Catches every environment up, adds new ones and drops deleted ones, and reloads the allowed origins
    /// and the metrics guards watch. Called after a change to an environment itself, on every replica, and
    /// periodically.
    pub async fn refresh_all(&self) -> StoreResult<()> {
        let _one_at_a_time = self.updating.lock().await;
        let environments = self.store.list_environments().await?;
        self.origins.replace(environments.iter().map(|e| (e.key.as_str(), e.allowed_origins.as_slice())));
        self.reload_watched().await?;
        let known: Vec<String> = self.current.load().keys().cloned().collect();
        for gone in known.iter().filter(|k| !environments.iter().any(|e| &e.key == *k)) {
            self.remove_locked(gone);
        }
        for env in environments {
            let behind = self.get(&env.key).is_none_or(|s| s.revision() < env.revision);
            if behind {
                self.catch_up_locked(&env.key).await?;
            }
        }
        Ok(())
    }

    fn remove_locked(&self, environment: &str) {
        let mut map = Map::clone(&self.current.load());
        if map.remove(environment).is_some() {
            self.current.store(Arc::new(map));
            let _ = self.events.send(SnapshotEvent::Removed { environment: environment.to_owned() });
        }
    }

    async fn catch_up_locked(&self, environment: &str) -> StoreResult<()> {
        let Some(have) = self.get(environment) else {
            return self.reload_locked(environment).await;
        };
        let changes = match self.store.changes_since(environment, have.revision()).await {
            Ok(Some((changes, _))) => changes,
            Ok(None) => return self.reload_locked(environment).await,
            Err(StoreError::NotFound(_)) => {
                self.remove_locked(environment);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if changes.is_empty() {
            return Ok(());
        }
        let mut raw = have.raw.clone();
        for change in &changes {
            apply(&mut raw, change)?;
        }
        self.install(EnvSnapshot::new(raw));
        let _ = self
            .events
            .send(SnapshotEvent::Changes { environment: environment.to_owned(), changes: Arc::new(changes) });
        Ok(())
    }

    async fn reload_locked(&self, environment: &str) -> StoreResult<()> {
        match self.store.load_snapshot(environment).await {
            Ok(raw) => {
                let revision = raw.revision;
                self.install(EnvSnapshot::new(raw));
                let _ = self.events.send(SnapshotEvent::Reloaded { environment: environment.to_owned(), revision });
                Ok(())
            }
            Err(StoreError::NotFound(_)) => {
                self.remove_locked(environment);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn install(&self, snapshot: EnvSnapshot) {
        let mut map = Map::clone(&self.current.load());
        map.insert(snapshot.raw.environment.clone(), Arc::new(snapshot));
        self.current.store(Arc::new(map));
    }
}

/// Applies one change to a snapshot: replaces, adds or removes the object, and moves the revision.
fn apply(raw: &mut Snapshot, change: &ChangeRow) -> StoreResult<()> {
    match (change.kind, &change.payload) {
        (ObjectKind::Flag, Some(payload)) => {
            let flag = crate::store::parse_flag_payload(payload)?;
            match raw.flags.binary_search_by(|f| f.definition.key.as_str().cmp(&change.key)) {
                Ok(i) => raw.flags[i] = flag,
                Err(i) => raw.flags.insert(i, flag),
            }
        }
        (ObjectKind::Flag, None) => raw.flags.retain(|f| f.definition.key != change.key),
        (ObjectKind::Segment, Some(payload)) => {
            let segment = crate::store::parse_segment_payload(payload)?;
            match raw.segments.binary_search_by(|s| s.key.as_str().cmp(&change.key)) {
                Ok(i) => raw.segments[i] = segment,
                Err(i) => raw.segments.insert(i, segment),
            }
        }
        (ObjectKind::Segment, None) => raw.segments.retain(|s| s.key != change.key),
    }
    raw.revision = raw.revision.max(change.revision);
    Ok(())
}
