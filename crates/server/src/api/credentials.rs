//! What the SDK-key and relay-key resources share: the rotation request and its overlap, and reloading the
//! in-memory key table after a change.

use serde::Deserialize;
use utoipa::ToSchema;

use super::common::parse_time;
use crate::app::state::AppState;
use crate::http::error::ApiError;

/// How long an old key keeps working after a rotation when the request does not say.
pub const DEFAULT_OVERLAP_MS: i64 = 24 * 60 * 60 * 1000;

/// A rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// RFC 3339: until when the old key keeps working (default: 24 hours from now; now = at once).
    #[schema(format = DateTime)]
    pub old_key_expires_at: Option<String>,
}

impl RotateKey {
    /// Unix milliseconds until which the old key works: the time asked for (a past one means now), or
    /// [`DEFAULT_OVERLAP_MS`] from `now`.
    pub fn old_key_expiry(&self, now: i64) -> Result<i64, ApiError> {
        Ok(match self.old_key_expires_at.as_deref() {
            Some(t) => parse_time("old_key_expires_at", t)?.max(now),
            None => now + DEFAULT_OVERLAP_MS,
        })
    }
}

/// Reloads the SDK and relay keys after a change; the refresh loop catches up if this fails.
pub async fn reload_keys(state: &AppState) {
    if let Err(e) = state.auth.keys.reload(&state.store).await {
        tracing::warn!(error = %e, "could not reload SDK and relay keys; the refresh loop will");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_key_expires_when_asked_never_before_now() {
        let now = 1_800_000_000_000;
        assert_eq!(RotateKey::default().old_key_expiry(now).unwrap(), now + DEFAULT_OVERLAP_MS);
        let past = RotateKey { old_key_expires_at: Some("2020-01-01T00:00:00Z".into()) };
        assert_eq!(past.old_key_expiry(now).unwrap(), now);
        let later = RotateKey { old_key_expires_at: Some("2030-01-01T00:00:00Z".into()) };
        assert_eq!(later.old_key_expiry(now).unwrap(), 1_893_456_000_000);
        let bad = RotateKey { old_key_expires_at: Some("soon".into()) };
        assert!(bad.old_key_expiry(now).is_err());
    }
}
