//! `/auth`: sign in (a session token, also set as an HttpOnly cookie), sign out, who am I.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::rfc3339;
use crate::app::state::AppState;
use crate::auth::{Authenticated, Principal, SESSION_COOKIE, passwords};
use crate::http::error::{ApiError, Json, ProblemBody};
use crate::store::{Role, now_millis};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(logout)).routes(routes!(me))
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email.
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
}

fn cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).expect("cookie text is ASCII")
}

/// Sign in. A wrong email and a wrong password answer alike; repeated failures per account and per client
/// address are refused for a while (429 with `Retry-After`).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, body = LoginResponse), (status = 401, body = ProblemBody),
        (status = 429, body = ProblemBody)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    crate::api::common::check_text("email", &body.email, false)?;
    let auth = &state.auth;
    let account = body.email.trim().to_lowercase();
    let address = peer.ip().to_string();
    if let Err(retry) = auth.limiter.check(&account, &address) {
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
    auth.limiter.succeeded(&account);
    let now = now_millis() / 1000;
    let token = auth.sessions.issue(user.id, &user.email, user.role, now);
    let expires = now + auth.sessions.ttl_secs;
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, cookie(&token, auth.sessions.ttl_secs, auth.secure_cookie));
    let me = Me { kind: "user", id: user.id, name: user.email, role: user.role };
    let body = LoginResponse { token, expires_at: rfc3339(expires * 1000), user: me };
    Ok((headers, Json(body)).into_response())
}

/// Sign out: clears the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(()), responses((status = 204)))]
async fn logout(State(state): State<AppState>) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, cookie("", 0, state.auth.secure_cookie));
    (StatusCode::NO_CONTENT, headers)
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
    Json(Me { kind, id, name, role: c.role })
}
