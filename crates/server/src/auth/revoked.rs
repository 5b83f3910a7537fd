//! The ended sessions, in memory: a session is checked by its JWT's signature and expiry and by this table,
//! never by the database, so it keeps working while the database is down. The replica that ends a session
//! adds it at once; the others reload on notification (`crate::delivery::replication`) and in the refresh
//! loop. Only ended sessions that have not expired are kept: an expired one is refused by its JWT alone.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::{Store, StoreResult, now_millis};

/// Ended session ids, with their expiry (Unix milliseconds).
#[derive(Debug, Default)]
pub struct RevokedSessions {
    ended: Mutex<HashMap<String, i64>>,
}

impl RevokedSessions {
    /// Whether the session `id` was ended.
    pub fn contains(&self, id: &str) -> bool {
        self.ended.lock().expect("revoked sessions lock").contains_key(id)
    }

    /// Records that a session ended (before or after its row says so: ending is never undone).
    pub fn add(&self, id: &str, expires_at: i64) {
        self.ended.lock().expect("revoked sessions lock").insert(id.to_owned(), expires_at);
    }

    /// Adds every ended session the database knows and forgets the expired ones. What was added here stays:
    /// a reload that read the database just before a local revocation committed does not undo it.
    pub async fn reload(&self, store: &Store) -> StoreResult<()> {
        let rows = store.revoked_sessions().await?;
        let now = now_millis();
        let mut ended = self.ended.lock().expect("revoked sessions lock");
        ended.retain(|_, expires_at| *expires_at > now);
        ended.extend(rows);
        Ok(())
    }

    /// How many are held.
    pub fn len(&self) -> usize {
        self.ended.lock().expect("revoked sessions lock").len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
