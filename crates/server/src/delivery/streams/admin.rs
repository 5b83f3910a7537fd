//! The dashboard's live feed: `change` events from the snapshot movements and `audit` events from the audit
//! log, on two broadcast channels shared by the signed-in subscribers of this replica: admins', with every
//! audit row in full, and everyone else's, where rows about accounts and credentials are redacted
//! ([`AuditEntry::for_non_admins`]).
//!
//! Audit rows are polled from the database (one poller per replica, only while someone listens), so rows
//! written by other replicas appear too.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use super::frames::{self, Frame, Order};
use crate::delivery::snapshots::SnapshotEvent;
use crate::store::{AuditEntry, Store};

/// Audit rows read per poll.
const AUDIT_PAGE: u32 = 200;

/// The data of a `change` event.
#[derive(Debug, Serialize)]
struct ChangeData<'a> {
    environment: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<u64>,
    kind: &'a str,
    key: &'a str,
    op: &'a str,
}

/// The admin feed of this replica.
#[derive(Debug)]
pub struct AdminFeed {
    tx: Mutex<Option<Channels>>,
    /// Where the audit poller is; `None` while nobody listens.
    cursor: tokio::sync::Mutex<Option<AuditCursor>>,
}

/// The admins' channel and everyone else's.
#[derive(Debug)]
struct Channels {
    admins: broadcast::Sender<Frame>,
    others: broadcast::Sender<Frame>,
}

impl Channels {
    fn receivers(&self) -> usize {
        self.admins.receiver_count() + self.others.receiver_count()
    }
}

impl AdminFeed {
    /// A feed whose subscribers may fall `capacity` frames behind before they are disconnected.
    pub fn new(capacity: usize) -> Self {
        let channels =
            Channels { admins: broadcast::channel(capacity.max(1)).0, others: broadcast::channel(capacity.max(1)).0 };
        AdminFeed { tx: Mutex::new(Some(channels)), cursor: tokio::sync::Mutex::new(None) }
    }

    fn sender(&self) -> MutexGuard<'_, Option<Channels>> {
        self.tx.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Subscribes, to every audit row in full when `admin`, else with rows about accounts redacted; `None`
    /// once the server is shutting down. Audit rows committed from now on are delivered (the poller's cursor
    /// is placed at the newest row if nobody was listening before).
    pub async fn subscribe(&self, store: &Store, admin: bool) -> Option<broadcast::Receiver<Frame>> {
        let rx = {
            let channels = self.sender();
            let channels = channels.as_ref()?;
            if admin { channels.admins.subscribe() } else { channels.others.subscribe() }
        };
        let mut cursor = self.cursor.lock().await;
        if cursor.is_none() {
            match tokio::time::timeout(Duration::from_secs(2), store.last_audit_id()).await {
                Ok(Ok(id)) => *cursor = Some(AuditCursor::at(id)),
                Ok(Err(e)) => tracing::debug!(error = %e, "admin stream: cannot read the audit log yet"),
                Err(_) => tracing::debug!("admin stream: the audit log did not answer in time"),
            }
        }
        Some(rx)
    }

    /// How many subscribers there are.
    pub fn subscribers(&self) -> usize {
        self.sender().as_ref().map_or(0, Channels::receivers)
    }

    fn publish(&self, bytes: Bytes) {
        self.publish_to(bytes.clone(), bytes);
    }

    fn publish_to(&self, admins: Bytes, others: Bytes) {
        if let Some(channels) = self.sender().as_ref() {
            if channels.admins.receiver_count() > 0 {
                let _ = channels.admins.send(Frame { order: Order::Always, bytes: admins });
            }
            if channels.others.receiver_count() > 0 && !others.is_empty() {
                let _ = channels.others.send(Frame { order: Order::Always, bytes: others });
            }
        }
    }

    /// Publishes the `change` events of a snapshot movement.
    pub fn publish_snapshot_event(&self, event: &SnapshotEvent) {
        if self.subscribers() == 0 {
            return;
        }
        let mut text = String::new();
        let mut push = |data: &ChangeData<'_>| {
            text.push_str(&frames::event("change", None, &serde_json::to_string(data).expect("serialisable")));
        };
        match event {
            SnapshotEvent::Changes { environment, changes, .. } => {
                for c in changes.iter() {
                    let op = if c.payload.is_some() { "put" } else { "delete" };
                    let (kind, key) = (c.kind.as_str(), c.key.as_str());
                    push(&ChangeData { environment, revision: Some(c.revision), kind, key, op });
                }
            }
            SnapshotEvent::Reloaded { environment, revision } => {
                let (kind, key, op) = ("environment", environment.as_str(), "reload");
                push(&ChangeData { environment, revision: Some(*revision), kind, key, op });
            }
            SnapshotEvent::Removed { environment } => {
                let (kind, key, op) = ("environment", environment.as_str(), "delete");
                push(&ChangeData { environment, revision: None, kind, key, op });
            }
        }
        self.publish(Bytes::from(text));
    }

    /// Sends the heartbeat comment to every subscriber.
    pub fn heartbeat(&self) {
        self.publish(frames::HEARTBEAT);
    }

    /// Publishes the audit rows written since the last poll (by any replica). Does nothing while nobody
    /// listens, and then forgets its cursor, so that a later subscriber starts at the rows after it came.
    pub async fn poll_audit(&self, store: &Store) {
        let mut cursor = self.cursor.lock().await;
        if self.subscribers() == 0 {
            *cursor = None;
            return;
        }
        let Some(position) = cursor.as_mut() else {
            match store.last_audit_id().await {
                Ok(id) => *cursor = Some(AuditCursor::at(id)),
                Err(e) => tracing::debug!(error = %e, "admin stream: cannot read the audit log"),
            }
            return;
        };
        let rows = match tokio::time::timeout(Duration::from_secs(5), store.audit_after(position.low, AUDIT_PAGE)).await
        {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "admin stream: cannot read the audit log");
                return;
            }
            Err(_) => {
                tracing::debug!("admin stream: the audit log did not answer in time");
                return;
            }
        };
        let new: Vec<&AuditEntry> = rows.iter().filter(|row| position.seen.insert(row.id)).collect();
        position.advance(Instant::now());
        if !new.is_empty() {
            let full: String = new.iter().map(|row| audit_event(row)).collect();
            let redacted: String = new.iter().map(|row| audit_event(&(*row).clone().for_non_admins())).collect();
            self.publish_to(Bytes::from(full), Bytes::from(redacted));
        }
    }

    /// Ends every stream and refuses new ones (shutdown).
    pub fn close(&self) {
        self.sender().take();
    }
}

/// Where the audit poller is. Ids are handed out when rows are inserted but become visible when their
/// transactions commit, which on PostgreSQL need not be in id order; a rolled-back transaction leaves a gap
/// for good. So the poller reads from the first id it has not seen, remembers the ids above it that it has
/// published, and skips a gap only once it has stayed open for [`GAP_PATIENCE`].
#[derive(Debug)]
struct AuditCursor {
    /// Every id up to this one has been published (or given up on).
    low: i64,
    /// Ids above `low` that have been published.
    seen: BTreeSet<i64>,
    /// Since when the id after `low` has been missing while later ones were there.
    gap_since: Option<Instant>,
}

/// How long a missing audit id is waited for.
const GAP_PATIENCE: Duration = Duration::from_secs(10);

impl AuditCursor {
    fn at(low: i64) -> Self {
        AuditCursor { low, seen: BTreeSet::new(), gap_since: None }
    }

    fn advance(&mut self, now: Instant) {
        while self.seen.remove(&(self.low + 1)) {
            self.low += 1;
        }
        let Some(&next) = self.seen.first() else {
            self.gap_since = None;
            return;
        };
        let since = *self.gap_since.get_or_insert(now);
        if now.duration_since(since) >= GAP_PATIENCE {
            self.low = next - 1;
            self.gap_since = None;
            self.advance(now);
        }
    }
}

fn audit_event(entry: &AuditEntry) -> String {
    frames::event("audit", None, &serde_json::to_string(entry).expect("serialisable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_waits_for_gaps_then_skips_them() {
        let start = Instant::now();
        let mut cursor = AuditCursor::at(10);
        cursor.seen.extend([11, 12, 14]);
        cursor.advance(start);
        assert_eq!((cursor.low, cursor.seen.len()), (12, 1), "13 is not visible yet");
        cursor.seen.insert(13);
        cursor.advance(start + Duration::from_secs(1));
        assert_eq!((cursor.low, cursor.seen.len(), cursor.gap_since), (14, 0, None));
        cursor.seen.insert(16);
        cursor.advance(start + Duration::from_secs(2));
        assert_eq!(cursor.low, 14);
        cursor.advance(start + Duration::from_secs(2) + GAP_PATIENCE);
        assert_eq!((cursor.low, cursor.seen.len()), (16, 0), "15 was rolled back: given up on");
    }
}
