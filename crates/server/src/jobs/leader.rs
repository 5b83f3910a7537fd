//! One replica at a time: leadership for periodic jobs (the guard loop, the rollout-plan scheduler, the webhook
//! sender).
//!
//! On PostgreSQL, leadership is a session-level advisory lock (`pg_try_advisory_lock(key)`) held on a
//! connection of its own. Replicas that do not hold it try again every [`RETRY`]; the holder checks its
//! connection every [`RETRY`] too. A lost connection is lost leadership (PostgreSQL releases the lock when the
//! session ends), and the replica goes back to trying. On SQLite the server is embedded in one process, so it is
//! always the leader.
//!
//! Each job takes its own key, so that different jobs may run on different replicas:
//!
//! ```no_run
//! # async fn job(store: pennon_server::store::Store) {
//! use pennon_server::jobs::leader::{GUARD_LOOP, Leader};
//! let leader = Leader::start(store, GUARD_LOOP);
//! let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
//! loop {
//!     tick.tick().await;
//!     if !leader.is_leader() {
//!         continue;
//!     }
//!     // ... one round of the job ...
//! }
//! # }
//! ```
//!
//! Leadership is a best effort, not a fence: a replica whose connection breaks learns it at its next check, up
//! to [`RETRY`] later, while another replica may already have taken over. Jobs must therefore write with the
//! usual version checks, so that two rounds that overlap for a moment cannot both apply.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::{ACQUIRE_TIMEOUT, Backend, LockSession, Store};

/// The advisory lock key of the metric guard loop.
pub const GUARD_LOOP: i64 = 0x5045_4e4e_4f4e_0001;
/// The advisory lock key of the rollout-plan scheduler.
pub const PLAN_SCHEDULER: i64 = 0x5045_4e4e_4f4e_0002;
/// The advisory lock key of the webhook sender.
pub const WEBHOOKS: i64 = 0x5045_4e4e_4f4e_0057;

/// How often a replica that is not the leader tries to become it, and how often the leader checks that its
/// lock connection still answers.
pub const RETRY: Duration = Duration::from_secs(1);

/// Leadership for one lock key. Cheap to clone; leadership is released when [`Leader::stop`] is called or the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub struct Leader {
    state: watch::Receiver<bool>,
    task: Option<Arc<Campaign>>,
}

/// The background task that takes and holds the lock.
#[derive(Debug)]
struct Campaign {
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Campaign {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

impl Leader {
    /// Starts competing for the lock `key` in the background (on SQLite: leader at once). Must be called
    /// within a tokio runtime.
    pub fn start(store: Store, key: i64) -> Leader {
        Self::start_with(store, key, RETRY)
    }

    /// Like [`Leader::start`], trying (and checking) every `retry`.
    pub fn start_with(store: Store, key: i64, retry: Duration) -> Leader {
        if store.backend() == Backend::Sqlite {
            let (_, state) = watch::channel(true);
            return Leader { state, task: None };
        }
        let (leading, state) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(campaign(store, key, retry, leading, stopped));
        Leader { state, task: Some(Arc::new(Campaign { stop, task: std::sync::Mutex::new(Some(task)) })) }
    }

    /// Whether this replica holds the lock now.
    pub fn is_leader(&self) -> bool {
        *self.state.borrow()
    }

    /// Waits until this replica holds the lock.
    pub async fn wait_until_leader(&self) {
        let mut state = self.state.clone();
        let _ = state.wait_for(|leading| *leading).await;
    }

    /// A receiver that sees every change of leadership.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.state.clone()
    }

    /// Gives leadership up (releasing the lock at once, so another replica can take it) and stops trying.
    pub async fn stop(&self) {
        let Some(campaign) = &self.task else { return };
        let _ = campaign.stop.send(true);
        let task = campaign.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(2 * ACQUIRE_TIMEOUT, task).await;
        }
    }
}

async fn campaign(
    store: Store,
    key: i64,
    retry: Duration,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut session: Option<LockSession> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        session = step(&store, key, session, &leading).await;
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            _ = stop.changed() => {}
        }
    }
    leading.send_replace(false);
    if let Some(session) = session {
        session.release().await;
    }
}

/// One attempt: connect if needed, then take the lock, or check that the held one is still there.
async fn step(
    store: &Store,
    key: i64,
    session: Option<LockSession>,
    leading: &watch::Sender<bool>,
) -> Option<LockSession> {
    let limit = 2 * ACQUIRE_TIMEOUT;
    let mut session = match session {
        Some(session) => session,
        None => match tokio::time::timeout(limit, store.lock_session()).await {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => {
                tracing::debug!(key, error = %e, "leader election cannot connect; retrying");
                return None;
            }
            Err(_) => return None,
        },
    };
    let was_leader = *leading.borrow();
    if was_leader {
        match tokio::time::timeout(limit, session.ping()).await {
            Ok(Ok(())) => Some(session),
            outcome => {
                let error = outcome
                    .map_or_else(|_| "no answer".to_owned(), |r| r.err().map(|e| e.to_string()).unwrap_or_default());
                tracing::warn!(key, error, "lost the connection that holds leadership; trying to take it again");
                leading.send_replace(false);
                None
            }
        }
    } else {
        match tokio::time::timeout(limit, session.try_lock(key)).await {
            Ok(Ok(true)) => {
                tracing::info!(key, "this replica is now the leader");
                leading.send_replace(true);
                Some(session)
            }
            Ok(Ok(false)) => Some(session),
            Ok(Err(e)) => {
                tracing::debug!(key, error = %e, "leader election failed; retrying");
                None
            }
            Err(_) => None,
        }
    }
}
