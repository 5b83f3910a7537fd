//! The in-memory table of trigger URLs: a POST to one is checked without touching the database, so an unknown
//! or revoked secret costs one hash and one map lookup. Reloaded after every trigger created or revoked (on
//! the other replicas at the notification, and by the refresh loop); firing checks once more, in its
//! transaction, that the trigger is not revoked.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::secrets;
use crate::store::{Store, StoreResult, Trigger};

/// Digests are uniformly distributed and callers cannot choose them: a fast hash suffices.
type Triggers = HashMap<[u8; 32], Trigger, foldhash::fast::RandomState>;

/// Triggers not revoked, by the SHA-256 digest of their secret.
#[derive(Debug, Default)]
pub struct TriggerTable {
    triggers: ArcSwap<Triggers>,
}

impl TriggerTable {
    /// Reloads every trigger not revoked from the store.
    pub async fn reload(&self, store: &Store) -> StoreResult<()> {
        let triggers: Triggers = store
            .usable_triggers()
            .await?
            .into_iter()
            .filter_map(|(hash, trigger)| Some((secrets::digest_of_hash(&hash)?, trigger)))
            .collect();
        self.triggers.store(Arc::new(triggers));
        Ok(())
    }

    /// The trigger whose URL holds `secret`, if there is one.
    pub fn check(&self, secret: &str) -> Option<Trigger> {
        if !secret.starts_with(secrets::TRIGGER_PREFIX) {
            return None;
        }
        self.triggers.load().get(&secrets::digest(secret)).cloned()
    }
}
