//! `/auth`: sign in (a session token, also set as an HttpOnly cookie), sign out, who am I.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::rfc3339;
use crate::api::rules::Plain;
use crate::app::state::AppState;
use crate::auth::{Authenticated, Principal, SESSION_COOKIE, bearer, check_forgery, passwords};
use crate::http::error::{ApiError, Json, ProblemBody};
use crate::store::{Actor, Role, SessionRecord, now_millis};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(logout)).routes(routes!(me))
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email.
    #[schema(value_type = Plain)]
    pub email: String,
    /// Its password.
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The session token: send it as `Authorization: Bearer ...` (the dashboard uses the cookie instead).
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Who signed in.
    pub user: Me,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `user` or `token`.
    pub kind: &'static str,
    /// User or token id.
    pub id: i64,
    /// The user's email or the token's name.
    pub name: String,
    /// What the caller may do.
    pub role: Role,
    /// When the credential stops working (RFC 3339): the session's expiry, an API token's expiry, or null for
    /// a token that does not expire. The dashboard uses it to say "session expired" before the next action.
    pub expires_at: Option<String>,
}

fn cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).expect("cookie text is ASCII")
}

/// Sign in. A wrong email and a wrong password answer alike. Failures slow further attempts down per account
/// and client address (429 with `Retry-After`; the policy is in `docs/operations.md`), but never refuse the
/// right password from an address that has not been failing.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, body = LoginResponse), (status = 401, body = ProblemBody),
        (status = 429, body = ProblemBody), (status = 503, body = ProblemBody)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    crate::api::common::check_text("email", &body.email, false)?;
    let auth = &state.auth;
    let account = body.email.trim().to_lowercase();
    let address = peer.ip().to_string();
    if let Err(retry) = auth.limiter.admit(&account, &address) {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from(retry.as_secs().max(1)));
        return Ok((StatusCode::TOO_MANY_REQUESTS, headers, ApiError::TooManyRequests).into_response());
    }
    let found = state.store.user_for_login(&account).await?;
    let hash = found.as_ref().map_or_else(|| auth.decoy_hash.clone(), |(_, h)| h.clone());
    let matches = passwords::verify(body.password, hash).await;
    let user = match found {
        Some((user, _)) if matches && !user.disabled => user,
        _ => {
            auth.limiter.failed(&account, &address);
            let actor = crate::store::Actor::user(&account);
            if let Err(e) = state.store.record_denied(&actor, "auth.login_failed", &account, "bad credentials").await {
                tracing::warn!(error = %e, "could not record a failed login");
            }
            return Err(ApiError::Unauthorized);
        }
    };
    auth.limiter.succeeded(&account, &address);
    let issued = auth.sessions.issue(user.id, &user.email, user.role, now_millis() / 1000);
    let record = SessionRecord { id: issued.id, user_id: user.id, expires_at: issued.expires_at * 1000 };
    state.store.create_session(&record, &Actor::user(&user.email)).await?;
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, cookie(&issued.token, auth.sessions.ttl_secs, auth.secure_cookie));
    let expires_at = rfc3339(record.expires_at);
    let me = Me { kind: "user", id: user.id, name: user.email, role: user.role, expires_at: Some(expires_at.clone()) };
    let body = LoginResponse { token: issued.token, expires_at, user: me };
    Ok((headers, Json(body)).into_response())
}

/// Sign out: ends the session the request carries (bearer token or cookie) on every replica, and clears the
/// session cookie. Without a valid session it only clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(()),
    responses((status = 204), (status = 403, body = ProblemBody), (status = 503, body = ProblemBody)))]
async fn logout(State(state): State<AppState>, request_headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    check_forgery(&Method::POST, &request_headers)?;
    let claims = bearer(&request_headers).and_then(|token| state.auth.sessions.verify(token));
    if let Some(claims) = claims {
        state.auth.revoked.add(&claims.sid, claims.exp * 1000);
        state.store.revoke_session(&claims.sid, &Actor::user(&claims.email)).await?;
    }
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, cookie("", 0, state.auth.secure_cookie));
    Ok((StatusCode::NO_CONTENT, headers))
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = ["viewer"])),
    responses((status = 200, body = Me), (status = 401, body = ProblemBody)))]
async fn me(caller: Authenticated) -> Json<Me> {
    let c = caller.0;
    let (kind, id, name) = match c.principal {
        Principal::User { id, email } => ("user", id, email),
        Principal::Token { id, name } => ("token", id, name),
    };
    Json(Me { kind, id, name, role: c.role, expires_at: c.expires_at.map(rfc3339) })
}
