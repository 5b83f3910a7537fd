//! The in-memory table of SDK keys: evaluation and streaming check keys without touching the database, so
//! they keep working while it is down. Reloaded after every key change and by the refresh loop.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::secrets;
use crate::store::{KeyKind, SdkKey, Store, StoreResult, now_millis};

/// What a valid SDK key grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    /// The key's environment.
    pub environment: String,
    /// Server or client.
    pub kind: KeyKind,
    /// The key id.
    pub id: i64,
}

/// Keys by the SHA-256 digest of their secret.
#[derive(Debug, Default)]
pub struct KeyTable {
    keys: ArcSwap<Keys>,
}

/// Digests are uniformly distributed and callers cannot choose them: a fast hash suffices.
type Keys = HashMap<[u8; 32], SdkKey, foldhash::fast::RandomState>;

impl KeyTable {
    /// Reloads every usable key from the store.
    pub async fn reload(&self, store: &Store) -> StoreResult<()> {
        let keys: Keys = store
            .usable_sdk_keys()
            .await?
            .into_iter()
            .filter_map(|(hash, key)| Some((secrets::digest_of_hash(&hash)?, key)))
            .collect();
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    /// What the key `secret` grants now, if it is known, not revoked and not past its expiry.
    pub fn check(&self, secret: &str) -> Option<KeyGrant> {
        if !(secret.starts_with(secrets::SERVER_KEY_PREFIX) || secret.starts_with(secrets::CLIENT_KEY_PREFIX)) {
            return None;
        }
        let keys = self.keys.load();
        let key = keys.get(&secrets::digest(secret))?;
        let live = key.revoked_at.is_none() && key.expires_at.is_none_or(|t| t > now_millis());
        live.then(|| KeyGrant { environment: key.environment.clone(), kind: key.kind, id: key.id })
    }
}
