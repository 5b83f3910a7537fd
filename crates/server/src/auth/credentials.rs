//! Reading and checking the credential of a request.
//!
//! Admin API: `Authorization: Bearer <session token | pnn_api_...>` or the `pennon_session` cookie.
//! SDK endpoints: `Authorization: Bearer <pnn_srv_... | pnn_cli_...>` (the bare key is accepted too).
//! Secrets are never logged: only their kind.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};

use super::sdk_keys::KeyGrant;
use super::secrets;
use crate::app::state::AppState;
use crate::http::error::ApiError;
use crate::store::{Actor, Role, StoreError, now_millis};

/// Name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "pennon_session";

/// Who is behind an admin credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user.
    User {
        /// User id.
        id: i64,
        /// Email.
        email: String,
    },
    /// An API token.
    Token {
        /// Token id.
        id: i64,
        /// Token name.
        name: String,
    },
}

/// An authenticated caller of the admin API.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Recorded in the audit log.
    pub actor: Actor,
    /// What the caller may do now.
    pub role: Role,
    /// Who it is.
    pub principal: Principal,
}

/// The credential a request carries, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            Some(_) => return None,
            None => value,
        };
        return (!token.is_empty()).then_some(token);
    }
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then_some(value)
    })
}

fn store_failure(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(_) => ApiError::Unavailable,
        other => ApiError::from(other),
    }
}

/// Checks an admin credential: 401 when there is none or it is not valid (expired, revoked, disabled
/// user, bad signature); 403 for SDK keys, which are not admin credentials.
pub async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<Caller, ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    if token.starts_with(secrets::SERVER_KEY_PREFIX) || token.starts_with(secrets::CLIENT_KEY_PREFIX) {
        return Err(ApiError::Forbidden("SDK keys cannot use the admin API".into()));
    }
    if token.starts_with(secrets::API_TOKEN_PREFIX) {
        let found = state.store.token_by_hash(&secrets::hash(token)).await.map_err(store_failure)?;
        let now = now_millis();
        return match found {
            Some(t) if t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now) => Ok(Caller {
                actor: Actor::token(&format!("{}#{}", t.name, t.id)),
                role: t.role,
                principal: Principal::Token { id: t.id, name: t.name },
            }),
            _ => Err(ApiError::Unauthorized),
        };
    }
    let claims = state.auth.sessions.verify(token).ok_or(ApiError::Unauthorized)?;
    let id: i64 = claims.sub.parse().map_err(|_| ApiError::Unauthorized)?;
    let user = match state.store.get_user(id).await {
        Ok(user) => user,
        Err(StoreError::NotFound(_)) => return Err(ApiError::Unauthorized),
        Err(e) => return Err(store_failure(e)),
    };
    if user.disabled {
        return Err(ApiError::Unauthorized);
    }
    Ok(Caller {
        actor: Actor::user(&user.email),
        role: user.role,
        principal: Principal::User { id: user.id, email: user.email },
    })
}

/// Checks that the caller has `required`; refusals are recorded in the audit log.
pub async fn authorize(caller: Caller, required: Role, action: &str, state: &AppState) -> Result<Caller, ApiError> {
    if caller.role >= required {
        return Ok(caller);
    }
    if let Err(e) = state.store.record_denied(&caller.actor, "auth.denied", action, required.as_str()).await {
        tracing::warn!(error = %e, "could not record a refused request");
    }
    Err(ApiError::Forbidden(format!("this needs the {} role", required.as_str())))
}

/// Checks an SDK key (in memory: works while the database is down).
pub fn sdk_key(headers: &HeaderMap, state: &AppState) -> Result<KeyGrant, ApiError> {
    let key = bearer(headers).ok_or(ApiError::Unauthorized)?;
    state.auth.keys.check(key).ok_or(ApiError::Unauthorized)
}
