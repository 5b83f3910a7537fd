//! The in-memory table of SDK keys: evaluation and streaming check keys without touching the database, so
//! they keep working while it is down. Reloaded after every key change and by the refresh loop; a reload that
//! changes which keys work (or until when) wakes the streams opened with a key ([`KeyTable::until_unusable`]),
//! which end once their key is revoked or expired.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::secrets;
use crate::store::{KeyKind, RelayKey, SdkKey, Store, StoreResult, now_millis};

/// What a valid SDK key grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    /// The key's environment.
    pub environment: String,
    /// Server or client.
    pub kind: KeyKind,
    /// The key id (a relay credential's id when `relay`).
    pub id: i64,
    /// Whether the caller used a relay credential naming this environment: it reads what a server key does.
    pub relay: bool,
}

/// A live SDK key as a relay learns it from its upstream: the SHA-256 digest of the secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RelayedKey {
    /// The key's id upstream.
    pub id: i64,
    /// Server or client.
    pub kind: KeyKind,
    /// SHA-256 of the secret, lowercase hex.
    pub digest: String,
    /// Unix milliseconds: a key rotated out works until then.
    pub expires_at: Option<i64>,
}

/// Keys by the SHA-256 digest of their secret.
#[derive(Debug)]
pub struct KeyTable {
    keys: ArcSwap<Loaded>,
    /// Bumped after every reload that changed which keys work or until when.
    reloaded: watch::Sender<u64>,
}

impl Default for KeyTable {
    fn default() -> Self {
        KeyTable { keys: ArcSwap::default(), reloaded: watch::Sender::new(0) }
    }
}

/// Digests are uniformly distributed and callers cannot choose them: a fast hash suffices.
type Keys = HashMap<[u8; 32], SdkKey, foldhash::fast::RandomState>;

/// The usable keys by digest, and their expiry (milliseconds, if any) by id; the same for relay credentials.
#[derive(Debug, Default)]
struct Loaded {
    by_digest: Keys,
    expiry_by_id: HashMap<i64, Option<i64>, foldhash::fast::RandomState>,
    relay_by_digest: HashMap<[u8; 32], RelayKey, foldhash::fast::RandomState>,
    relay_expiry_by_id: HashMap<i64, Option<i64>, foldhash::fast::RandomState>,
}

/// Why a relay credential does not grant an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayRefusal {
    /// Unknown, revoked or expired.
    Unknown,
    /// Valid, but it does not name the environment.
    NotNamed,
}

impl KeyTable {
    /// Reloads every usable key from the store.
    pub async fn reload(&self, store: &Store) -> StoreResult<()> {
        let by_digest: Keys = store
            .usable_sdk_keys()
            .await?
            .into_iter()
            .filter_map(|(hash, key)| Some((secrets::digest_of_hash(&hash)?, key)))
            .collect();
        let expiry_by_id = by_digest.values().map(|key| (key.id, key.expires_at)).collect();
        let relay_by_digest: HashMap<_, _, _> = store
            .usable_relay_keys()
            .await?
            .into_iter()
            .filter_map(|(hash, key)| Some((secrets::digest_of_hash(&hash)?, key)))
            .collect();
        let relay_expiry_by_id = relay_by_digest.values().map(|key| (key.id, key.expires_at)).collect();
        self.swap(Loaded { by_digest, expiry_by_id, relay_by_digest, relay_expiry_by_id });
        Ok(())
    }

    /// Puts `loaded` in place, and wakes the streams ([`KeyTable::until_unusable`]) only when a key stopped
    /// working or its expiry moved: the periodic reload of an unchanged table costs no stream anything.
    fn swap(&self, loaded: Loaded) {
        let before = self.keys.swap(Arc::new(loaded));
        let after = self.keys.load();
        if before.expiry_by_id != after.expiry_by_id || before.relay_expiry_by_id != after.relay_expiry_by_id {
            self.reloaded.send_modify(|generation| *generation = generation.wrapping_add(1));
        }
    }

    /// When the credential of `grant` stops working (Unix milliseconds; `i64::MAX` when it has no expiry), or
    /// `None` when it does not work now (unknown, revoked or expired).
    fn usable_until(&self, grant: &KeyGrant) -> Option<i64> {
        let keys = self.keys.load();
        let expiry = if grant.relay { &keys.relay_expiry_by_id } else { &keys.expiry_by_id };
        let expires_at = (*expiry.get(&grant.id)?).unwrap_or(i64::MAX);
        (expires_at > now_millis()).then_some(expires_at)
    }

    /// Returns once the credential of `grant` no longer works: revoked or rotated out (seen at the next reload: at once on
    /// the replica that made the change, within the refresh interval on the others) or past its expiry.
    pub async fn until_unusable(&self, grant: &KeyGrant) {
        let mut reloaded = self.reloaded.subscribe();
        loop {
            let Some(expires_at) = self.usable_until(grant) else { return };
            // Boxed, and only for a key that expires: every open stream holds this future, most for keys that
            // never do.
            let expiry = (expires_at != i64::MAX).then(|| {
                let left = u64::try_from(expires_at.saturating_sub(now_millis())).unwrap_or(0);
                Box::pin(tokio::time::sleep(Duration::from_millis(left)))
            });
            let expiry = async {
                match expiry {
                    Some(timer) => timer.await,
                    None => std::future::pending().await,
                }
            };
            // The sender lives in `self`, which outlives this call: `changed` cannot fail.
            tokio::select! {
                _ = reloaded.changed() => {}
                () = expiry => {}
            }
        }
    }

    /// The keys of `environment` that work now, as a relay learns them: digests, never secrets. Ordered by id.
    pub fn live_of(&self, environment: &str) -> Vec<RelayedKey> {
        let now = now_millis();
        let mut keys: Vec<RelayedKey> = self
            .keys
            .load()
            .by_digest
            .iter()
            .filter(|(_, k)| k.environment == environment)
            .filter(|(_, k)| k.revoked_at.is_none() && k.expires_at.is_none_or(|t| t > now))
            .map(|(digest, k)| RelayedKey {
                id: k.id,
                kind: k.kind,
                digest: hex::encode(digest),
                expires_at: k.expires_at,
            })
            .collect();
        keys.sort_by_key(|k| k.id);
        keys
    }

    /// Replaces the keys of `environment` with `keys` (a relay, following its upstream), leaving the other
    /// environments' alone; streams opened with a key that is gone end, as after a reload.
    pub fn replace_environment(&self, environment: &str, keys: &[RelayedKey]) {
        let current = self.keys.load();
        let mut by_digest: Keys = current
            .by_digest
            .iter()
            .filter(|(_, k)| k.environment != environment)
            .map(|(d, k)| (*d, k.clone()))
            .collect();
        for key in keys {
            let Some(digest) = hex::decode(&key.digest).ok().and_then(|d| <[u8; 32]>::try_from(d).ok()) else {
                continue;
            };
            let known = SdkKey {
                id: key.id,
                environment: environment.to_owned(),
                kind: key.kind,
                name: String::new(),
                prefix: String::new(),
                created_by: String::new(),
                created_at: 0,
                expires_at: key.expires_at,
                revoked_at: None,
            };
            by_digest.insert(digest, known);
        }
        // Ids are the upstream's, unique across its environments.
        let expiry_by_id = by_digest.values().map(|key| (key.id, key.expires_at)).collect();
        let relay_by_digest = current.relay_by_digest.clone();
        let relay_expiry_by_id = current.relay_expiry_by_id.clone();
        self.swap(Loaded { by_digest, expiry_by_id, relay_by_digest, relay_expiry_by_id });
    }

    /// What the key `secret` grants now, if it is known, not revoked and not past its expiry.
    pub fn check(&self, secret: &str) -> Option<KeyGrant> {
        if !(secret.starts_with(secrets::SERVER_KEY_PREFIX) || secret.starts_with(secrets::CLIENT_KEY_PREFIX)) {
            return None;
        }
        let keys = self.keys.load();
        let key = keys.by_digest.get(&secrets::digest(secret))?;
        let live = key.revoked_at.is_none() && key.expires_at.is_none_or(|t| t > now_millis());
        live.then(|| KeyGrant { environment: key.environment.clone(), kind: key.kind, id: key.id, relay: false })
    }

    /// What the relay credential `secret` grants in `environment`: what a server key of it does, if the
    /// credential is known, not revoked, not past its expiry and names the environment.
    pub fn check_relay(&self, secret: &str, environment: &str) -> Result<KeyGrant, RelayRefusal> {
        if !secret.starts_with(secrets::RELAY_KEY_PREFIX) {
            return Err(RelayRefusal::Unknown);
        }
        let keys = self.keys.load();
        let key = keys.relay_by_digest.get(&secrets::digest(secret)).ok_or(RelayRefusal::Unknown)?;
        if key.revoked_at.is_some() || key.expires_at.is_some_and(|t| t <= now_millis()) {
            return Err(RelayRefusal::Unknown);
        }
        if !key.environments.iter().any(|e| e == environment) {
            return Err(RelayRefusal::NotNamed);
        }
        Ok(KeyGrant { environment: environment.to_owned(), kind: KeyKind::Server, id: key.id, relay: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64, expires_at: Option<i64>) -> RelayedKey {
        RelayedKey { id, kind: KeyKind::Server, digest: format!("{id:064x}"), expires_at }
    }

    #[test]
    fn streams_are_woken_only_when_a_key_changes() {
        let table = KeyTable::default();
        let generation = || *table.reloaded.borrow();
        table.replace_environment("production", &[key(1, None), key(2, None)]);
        assert_eq!(generation(), 1, "keys appeared");
        table.replace_environment("production", &[key(1, None), key(2, None)]);
        assert_eq!(generation(), 1, "the same keys again: nobody woken");
        table.replace_environment("production", &[key(1, None), key(2, Some(5))]);
        assert_eq!(generation(), 2, "an expiry moved");
        table.replace_environment("production", &[key(1, None)]);
        assert_eq!(generation(), 3, "a key went");
        let grant = KeyGrant { environment: "production".into(), kind: KeyKind::Server, id: 2, relay: false };
        assert_eq!(table.usable_until(&grant), None);
    }
}
