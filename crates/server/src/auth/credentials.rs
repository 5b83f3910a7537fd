//! Reading and checking the credential of a request.
//!
//! Admin API: `Authorization: Bearer <session token | pnn_api_...>` or the `pennon_session` cookie.
//! SDK endpoints: `Authorization: Bearer <pnn_srv_... | pnn_cli_...>` (the bare key is accepted too).
//! Secrets are never logged: only their kind.

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, ORIGIN};
use axum::http::{HeaderMap, Method};

use super::sdk_keys::KeyGrant;
use super::secrets;
use crate::app::state::AppState;
use crate::http::error::ApiError;
use crate::store::{Actor, Role, now_millis};

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
    /// When the credential stops working (Unix milliseconds): a session's expiry, an API token's if it has one.
    pub expires_at: Option<i64>,
    /// The session id, for a signed-in user.
    pub session: Option<String>,
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

/// Checks an admin credential: 401 when there is none or it is not valid (expired, revoked, ended session,
/// bad signature); 403 for SDK keys, which are not admin credentials. Sessions and API tokens are checked
/// against what this replica holds in memory; only a token it does not hold yet is looked up in the
/// database, and when that cannot answer the request gets 503, never 401.
pub async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<Caller, ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    if token.starts_with(secrets::SERVER_KEY_PREFIX) || token.starts_with(secrets::CLIENT_KEY_PREFIX) {
        return Err(ApiError::Forbidden("SDK keys cannot use the admin API".into()));
    }
    if token.starts_with(secrets::RELAY_KEY_PREFIX) {
        return Err(ApiError::Forbidden("relay keys cannot use the admin API".into()));
    }
    if token.starts_with(secrets::API_TOKEN_PREFIX) {
        let found = match state.auth.tokens.get(token) {
            Some(t) => Some(t),
            None => state.store.token_by_hash(&secrets::hash(token)).await?,
        };
        let now = now_millis();
        return match found {
            Some(t) if t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now) => Ok(Caller {
                actor: Actor::token(&format!("{}#{}", t.name, t.id)),
                role: t.role,
                principal: Principal::Token { id: t.id, name: t.name },
                expires_at: t.expires_at,
                session: None,
            }),
            _ => Err(ApiError::Unauthorized),
        };
    }
    let claims = state.auth.sessions.verify(token).ok_or(ApiError::Unauthorized)?;
    let id: i64 = claims.sub.parse().map_err(|_| ApiError::Unauthorized)?;
    if state.auth.revoked.contains(&claims.sid) {
        return Err(ApiError::Unauthorized);
    }
    // A role change or disabling ends every session of the user: the claims of a live session are current.
    Ok(Caller {
        expires_at: Some(claims.exp.saturating_mul(1000)),
        actor: Actor::user(&claims.email),
        role: claims.role,
        principal: Principal::User { id, email: claims.email },
        session: Some(claims.sid),
    })
}

/// The header the dashboard sends with every request, which a cross-site form cannot.
pub const CSRF_HEADER: &str = "x-pennon-csrf";

/// Refuses (403) a change carried by the session cookie alone unless it looks like the dashboard's own: it
/// must say `Content-Type: application/json` or carry [`CSRF_HEADER`], and an `Origin`, when present, must
/// be this server's. Reads, and requests with an `Authorization` header, are not concerned.
pub fn check_forgery(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if method.is_safe() || headers.contains_key(AUTHORIZATION) || bearer(headers).is_none() {
        return Ok(());
    }
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json && !headers.contains_key(CSRF_HEADER) {
        return Err(ApiError::Forbidden(format!(
            "a change made with the session cookie must be sent as application/json or with the {CSRF_HEADER} header"
        )));
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let own = headers.get(HOST).and_then(|h| h.to_str().ok());
        let origin_host =
            origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, rest)| rest.trim_end_matches('/'));
        if own.is_none() || origin_host.is_none_or(|o| !o.eq_ignore_ascii_case(own.unwrap_or_default())) {
            return Err(ApiError::Forbidden(
                "a change made with the session cookie must come from this server's own origin".into(),
            ));
        }
    }
    Ok(())
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

/// The header naming the environment a relay credential reads (or the `environment` query parameter).
pub const ENVIRONMENT_HEADER: &str = "x-pennon-environment";

/// Checks a relay credential, if the request carries one (in memory, like SDK keys): `None` for any other
/// credential. The environment comes from [`ENVIRONMENT_HEADER`] or the `environment` query parameter; none
/// answers 400 naming `environment`, an unknown, revoked or expired credential 401, an environment it does not
/// name 403.
pub fn relay_key(parts: &axum::http::request::Parts, state: &AppState) -> Result<Option<KeyGrant>, ApiError> {
    let Some(key) = bearer(&parts.headers).filter(|k| k.starts_with(secrets::RELAY_KEY_PREFIX)) else {
        return Ok(None);
    };
    let from_header = parts.headers.get(ENVIRONMENT_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let from_query = || {
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .find(|(name, _)| name == "environment")
            .map(|(_, value)| value.into_owned())
    };
    let environment = from_header.or_else(from_query).map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
    let Some(environment) = environment else {
        return Err(ApiError::invalid(
            "environment",
            format!("a relay key names the environment with the {ENVIRONMENT_HEADER} header or ?environment="),
        ));
    };
    match state.auth.keys.check_relay(key, &environment) {
        Ok(grant) => Ok(Some(grant)),
        Err(super::sdk_keys::RelayRefusal::Unknown) => Err(ApiError::Unauthorized),
        Err(super::sdk_keys::RelayRefusal::NotNamed) => {
            Err(ApiError::Forbidden(format!("this relay key does not name environment \"{environment}\"")))
        }
    }
}

/// Checks an SDK key (in memory: works while the database is down).
pub fn sdk_key(headers: &HeaderMap, state: &AppState) -> Result<KeyGrant, ApiError> {
    let key = bearer(headers).ok_or(ApiError::Unauthorized)?;
    state.auth.keys.check(key).ok_or(ApiError::Unauthorized)
}
