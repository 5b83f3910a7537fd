//! The API tokens, in memory: a token is checked against this table, so that it keeps working while the
//! database is down. A token this replica does not hold yet (created on another one a moment ago) is looked
//! up in the database. Reloaded after every token change, on notification and by the refresh loop.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::secrets;
use crate::store::{ApiToken, Store, StoreResult};

/// Usable (not revoked) API tokens by the SHA-256 digest of their secret.
#[derive(Debug, Default)]
pub struct TokenTable {
    tokens: ArcSwap<HashMap<[u8; 32], ApiToken, foldhash::fast::RandomState>>,
}

impl TokenTable {
    /// Reloads every usable token from the store.
    pub async fn reload(&self, store: &Store) -> StoreResult<()> {
        let tokens = store
            .usable_tokens()
            .await?
            .into_iter()
            .filter_map(|(hash, token)| Some((secrets::digest_of_hash(&hash)?, token)))
            .collect();
        self.tokens.store(Arc::new(tokens));
        Ok(())
    }

    /// The token with this secret, if this replica holds it (expiry not checked: the caller does).
    pub fn get(&self, secret: &str) -> Option<ApiToken> {
        self.tokens.load().get(&secrets::digest(secret)).cloned()
    }
}
