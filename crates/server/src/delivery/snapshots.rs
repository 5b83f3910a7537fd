//! The in-memory snapshots evaluation reads: one compiled, immutable snapshot per environment, swapped
//! atomically. They are caught up from the change log after every commit (and periodically, and on
//! notification from other replicas), so evaluation never reads the database. The environments' allowed
//! origins ([`OriginTable`]) and the metrics guards watch ([`WatchedMetrics`]) are reloaded with the list of
//! environments.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, broadcast};

pub use crate::delivery::env_snapshot::{EnvSnapshot, ServedFlag};
use crate::delivery::origins::OriginTable;
use crate::delivery::watched::WatchedMetrics;
use crate::store::{ChangeRow, Store, StoreError, StoreResult};

/// What subscribers (SSE streams) hear after snapshots move.
#[derive(Debug, Clone)]
pub enum SnapshotEvent {
    /// Changes applied in order; the snapshot is now at the last one's revision.
    /// `applied_at`: when this replica's snapshot took them in (Unix milliseconds).
    Changes { environment: String, changes: Arc<Vec<ChangeRow>>, applied_at: i64 },
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
        let snapshots = Snapshots::empty(store);
        snapshots.refresh_all().await?;
        Ok(snapshots)
    }

    /// No environment yet. A relay starts so, and is fed by its upstream ([`Snapshots::receive_whole`],
    /// [`Snapshots::receive_changes`]) instead of a database: `store` is then never opened, and a catch-up
    /// asked of it fails (a client ahead of the relay is answered 503, as by a server whose database is away).
    pub fn empty(store: Store) -> Self {
        let (events, _) = broadcast::channel(1024);
        Snapshots {
            current: ArcSwap::from_pointee(Map::new()),
            updating: Mutex::new(()),
            store,
            events,
            origins: OriginTable::default(),
            watched: WatchedMetrics::default(),
        }
    }

    /// Installs a whole snapshot received from elsewhere (a relay's upstream, or its cache); subscribers get a
    /// fresh `put`. A snapshot older than the one held is ignored.
    pub async fn receive_whole(&self, raw: pennon_engine::Snapshot) {
        let _one_at_a_time = self.updating.lock().await;
        let environment = raw.environment.clone();
        let revision = raw.revision;
        if self.get(&environment).is_some_and(|s| s.revision() > revision) {
            return;
        }
        self.install(blocking(move || EnvSnapshot::new(raw)).await);
        let _ = self.events.send(SnapshotEvent::Reloaded { environment, revision });
    }

    /// Applies changes received from elsewhere (a relay's upstream stream), as the change log's rows would be:
    /// the same incremental step and the same events, so subscribers get `patch` and `delete` frames. Rows the
    /// snapshot already holds are skipped; an environment without a snapshot is an error.
    pub async fn receive_changes(&self, environment: &str, changes: Vec<ChangeRow>) -> StoreResult<()> {
        let _one_at_a_time = self.updating.lock().await;
        let have = self.get(environment).ok_or_else(|| StoreError::NotFound(format!("environment {environment}")))?;
        let changes: Vec<ChangeRow> = changes.into_iter().filter(|c| c.revision > have.revision()).collect();
        if changes.is_empty() {
            return Ok(());
        }
        let changes = Arc::new(changes);
        let batch = changes.clone();
        let next = blocking(move || have.changed(&batch)).await?;
        self.install(next);
        let applied_at = crate::store::now_millis();
        let _ = self.events.send(SnapshotEvent::Changes { environment: environment.to_owned(), changes, applied_at });
        Ok(())
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

    /// Catches up after a commit that touched these environments, and returns once the snapshots reflect
    /// it. Commits that land while an update is under way are taken together by the next one: writers
    /// waiting here find their revision already in and do nothing, so a burst of N writes makes a few
    /// batches, not N updates. Failures are logged: the periodic refresh repairs them.
    pub async fn after_commit(&self, revisions: &[(String, u64)]) {
        for (environment, revision) in revisions {
            let caught_up = || self.get(environment).is_some_and(|s| s.revision() >= *revision);
            if caught_up() {
                continue;
            }
            let _one_at_a_time = self.updating.lock().await;
            if caught_up() {
                continue;
            }
            if let Err(e) = self.catch_up_locked(environment).await {
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
        // Parsing and compiling run on a blocking thread, not on the async workers serving requests; the
        // snapshots are swapped in (and the other writers let in) once the new version is ready.
        let changes = Arc::new(changes);
        let batch = changes.clone();
        let next = blocking(move || have.changed(&batch)).await?;
        tracing::debug!(
            environment,
            changes = changes.len(),
            flags_compiled = next.build.flags_compiled,
            segments_compiled = next.build.segments_compiled,
            "snapshot changed"
        );
        self.install(next);
        let _ = self.events.send(SnapshotEvent::Changes {
            environment: environment.to_owned(),
            changes,
            applied_at: crate::store::now_millis(),
        });
        Ok(())
    }

    async fn reload_locked(&self, environment: &str) -> StoreResult<()> {
        match self.store.load_snapshot(environment).await {
            Ok(raw) => {
                let revision = raw.revision;
                self.install(blocking(move || EnvSnapshot::new(raw)).await);
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
        map.insert(snapshot.environment().to_owned(), Arc::new(snapshot));
        self.current.store(Arc::new(map));
    }
}

/// Runs `work` on a blocking thread; a panic there goes on here, as if `work` had run inline.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
