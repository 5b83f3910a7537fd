//! The SDK fan-out hub: one broadcast channel per environment carrying pre-encoded frames.
//!
//! Each snapshot movement is encoded once, here, and every subscriber of the environment receives the same
//! [`Bytes`] (a reference count, not a copy). The channel is bounded: a subscriber that falls more than its
//! capacity behind is told so by the channel and disconnected (it resumes with `Last-Event-ID`); it never
//! makes the hub hold more or wait. The hub also keeps the last revisions' frames, so that reconnecting
//! subscribers are usually replayed from memory, and the encoded snapshot of the current revision, which
//! every `put` and `/sdk/snapshot` answer shares.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use tokio::sync::broadcast;

use super::frames::{self, Frame, Order};
use crate::delivery::snapshots::EnvSnapshot;
use crate::store::ChangeRow;

/// Revisions kept for replay, per environment.
const REPLAY_FRAMES: usize = 256;
/// Bytes of frames kept for replay, per environment.
const REPLAY_BYTES: usize = 4 * 1024 * 1024;

/// One environment's channel and caches.
#[derive(Debug)]
struct EnvHub {
    tx: broadcast::Sender<Frame>,
    /// Frames of consecutive revisions, the newest last.
    recent: VecDeque<(u64, Bytes)>,
    recent_bytes: usize,
    /// The snapshot as JSON, and its revision.
    snapshot: Option<(u64, Bytes)>,
}

impl EnvHub {
    fn new(capacity: usize) -> Self {
        EnvHub { tx: broadcast::channel(capacity).0, recent: VecDeque::new(), recent_bytes: 0, snapshot: None }
    }

    fn remember(&mut self, revision: u64, bytes: &Bytes) {
        if self.recent.back().is_some_and(|(last, _)| last + 1 != revision) {
            self.forget();
        }
        self.recent_bytes += bytes.len();
        self.recent.push_back((revision, bytes.clone()));
        while self.recent.len() > REPLAY_FRAMES || (self.recent_bytes > REPLAY_BYTES && self.recent.len() > 1) {
            if let Some((_, old)) = self.recent.pop_front() {
                self.recent_bytes -= old.len();
            }
        }
    }

    fn forget(&mut self) {
        self.recent.clear();
        self.recent_bytes = 0;
    }
}

#[derive(Debug, Default)]
struct Inner {
    closed: bool,
    environments: HashMap<String, EnvHub>,
}

/// The SDK streams of every environment on this replica.
#[derive(Debug)]
pub struct SdkHub {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl SdkHub {
    /// A hub whose subscribers may fall `capacity` frames behind before they are disconnected.
    pub fn new(capacity: usize) -> Self {
        SdkHub { inner: Mutex::default(), capacity: capacity.max(1) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Subscribes to an environment's frames; `None` once the server is shutting down.
    pub fn subscribe(&self, environment: &str) -> Option<broadcast::Receiver<Frame>> {
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        let capacity = self.capacity;
        let hub = inner.environments.entry(environment.to_owned()).or_insert_with(|| EnvHub::new(capacity));
        Some(hub.tx.subscribe())
    }

    /// How many subscribers there are, over every environment.
    pub fn subscribers(&self) -> usize {
        self.lock().environments.values().map(|h| h.tx.receiver_count()).sum()
    }

    /// The snapshot as JSON, encoded once per revision.
    pub fn snapshot_json(&self, snapshot: &EnvSnapshot) -> Bytes {
        let environment = snapshot.environment();
        let revision = snapshot.revision();
        if let Some(hub) = self.lock().environments.get(environment)
            && let Some((cached, json)) = &hub.snapshot
            && *cached == revision
        {
            return json.clone();
        }
        // Encoded outside the lock: a large snapshot must not hold the others up.
        let json = Bytes::from(snapshot.to_json());
        let mut inner = self.lock();
        if !inner.closed {
            let capacity = self.capacity;
            let hub = inner.environments.entry(environment.to_owned()).or_insert_with(|| EnvHub::new(capacity));
            if hub.snapshot.as_ref().is_none_or(|(cached, _)| *cached < revision) {
                hub.snapshot = Some((revision, json.clone()));
            }
        }
        json
    }

    /// The frames of the revisions after `after` up to `through`, from memory, when the hub still holds every
    /// one of them.
    pub fn replay(&self, environment: &str, after: u64, through: u64) -> Option<Vec<Bytes>> {
        if after >= through {
            return Some(Vec::new());
        }
        let inner = self.lock();
        let hub = inner.environments.get(environment)?;
        let (first, _) = hub.recent.front()?;
        let (last, _) = hub.recent.back()?;
        if *first > after + 1 || *last < through {
            return None;
        }
        Some(hub.recent.iter().filter(|(r, _)| *r > after && *r <= through).map(|(_, b)| b.clone()).collect())
    }

    /// Publishes committed changes (ordered by revision) to the environment's subscribers.
    pub fn publish_changes(&self, environment: &str, rows: &[ChangeRow]) {
        let mut inner = self.lock();
        let Some(hub) = inner.environments.get_mut(environment) else { return };
        if hub.tx.receiver_count() == 0 {
            // Nobody listens: encode nothing, and the replay memory has a gap from now on.
            hub.forget();
            return;
        }
        for (revision, bytes) in frames::changes(rows) {
            hub.remember(revision, &bytes);
            let _ = hub.tx.send(Frame { order: Order::Changes(revision), bytes });
        }
    }

    /// Publishes a whole snapshot as a `put` (after a reload, or when changes may have been missed).
    pub fn publish_put(&self, snapshot: &EnvSnapshot) {
        {
            let mut inner = self.lock();
            let Some(hub) = inner.environments.get_mut(snapshot.environment()) else { return };
            hub.forget();
            if hub.tx.receiver_count() == 0 {
                return;
            }
        }
        let json = self.snapshot_json(snapshot);
        let revision = snapshot.revision();
        let frame = Frame { order: Order::Put(revision), bytes: frames::put(revision, &json) };
        if let Some(hub) = self.lock().environments.get(snapshot.environment()) {
            let _ = hub.tx.send(frame);
        }
    }

    /// The environment is gone: its streams end.
    pub fn remove(&self, environment: &str) {
        self.lock().environments.remove(environment);
    }

    /// The environments that have subscribers.
    pub fn listened(&self) -> Vec<String> {
        self.lock().environments.iter().filter(|(_, h)| h.tx.receiver_count() > 0).map(|(k, _)| k.clone()).collect()
    }

    /// Sends the heartbeat comment to every subscriber.
    pub fn heartbeat(&self) {
        for hub in self.lock().environments.values() {
            if hub.tx.receiver_count() > 0 {
                let _ = hub.tx.send(Frame::heartbeat());
            }
        }
    }

    /// Ends every stream and refuses new ones (shutdown).
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.environments.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectKind;

    fn change(revision: u64) -> ChangeRow {
        ChangeRow { revision, kind: ObjectKind::Flag, key: "f".into(), payload: None, committed_at: 0 }
    }

    #[test]
    fn replays_consecutive_revisions_from_memory() {
        let hub = SdkHub::new(8);
        let _rx = hub.subscribe("production").unwrap();
        for revision in 5..=9 {
            hub.publish_changes("production", &[change(revision)]);
        }
        assert_eq!(hub.replay("production", 6, 9).unwrap().len(), 3);
        assert_eq!(hub.replay("production", 9, 9).unwrap().len(), 0);
        assert!(hub.replay("production", 3, 9).is_none(), "revision 4 was never seen");
        assert!(hub.replay("production", 6, 10).is_none(), "revision 10 is not there yet");
        hub.publish_changes("production", &[change(12)]);
        assert!(hub.replay("production", 6, 12).is_none(), "a gap forgets what came before");
        assert_eq!(hub.replay("production", 11, 12).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_and_the_others_are_not_held_up() {
        let hub = SdkHub::new(4);
        let mut slow = hub.subscribe("production").unwrap();
        let mut fast = hub.subscribe("production").unwrap();
        for revision in 1..=10 {
            hub.publish_changes("production", &[change(revision)]);
            let frame = fast.recv().await.unwrap();
            assert_eq!(frame.order, Order::Changes(revision));
        }
        assert!(matches!(slow.recv().await, Err(broadcast::error::RecvError::Lagged(_))));
        hub.close();
        assert!(matches!(fast.recv().await, Err(broadcast::error::RecvError::Closed)));
        assert!(hub.subscribe("production").is_none(), "no new streams after close");
    }
}
