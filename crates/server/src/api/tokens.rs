//! `/tokens` (admin): API tokens for automation, shown once, stored as SHA-256.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{parse_time, rfc3339};
use crate::api::rules::Label;
use crate::app::state::AppState;
use crate::auth::{Admin, secrets};
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::{ApiToken, Role, now_millis};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tokens, create_token)).routes(routes!(revoke_token))
}

/// An API token (never its secret, except once at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    /// Id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The first characters of the secret.
    pub prefix: String,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent when it never expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<ApiToken> for TokenBody {
    fn from(t: ApiToken) -> Self {
        TokenBody {
            id: t.id,
            name: t.name,
            role: t.role,
            prefix: t.prefix,
            created_by: t.created_by,
            created_at: rfc3339(t.created_at),
            expires_at: t.expires_at.map(rfc3339),
            revoked_at: t.revoked_at.map(rfc3339),
        }
    }
}

/// Tokens list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Every token, newest first.
    pub items: Vec<TokenBody>,
}

/// A new token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What it is for.
    #[schema(value_type = Label)]
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// RFC 3339 expiry; never expires when omitted.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// A token just created: the secret is in `token`, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The secret (`pnn_api_...`). It cannot be shown again.
    pub token: String,
    /// The token's record.
    #[serde(flatten)]
    pub record: TokenBody,
}

/// List API tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = ["admin"])),
    responses((status = 200, body = TokenList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_tokens(_: Admin, State(state): State<AppState>) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList { items: state.store.list_tokens().await?.into_iter().map(Into::into).collect() }))
}

/// Create an API token.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken, security(("bearer" = ["admin"])),
    responses((status = 201, body = CreatedToken), (status = 400, body = ProblemBody)))]
async fn create_token(
    caller: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    crate::api::common::check_name("name", &body.name)?;
    let name = body.name.trim();
    let expires_at = body.expires_at.as_deref().map(|t| parse_time("expires_at", t)).transpose()?;
    if expires_at.is_some_and(|t| t <= now_millis()) {
        return Err(ApiError::invalid("expires_at", "expires_at must be in the future"));
    }
    let new = secrets::NewSecret::generate(secrets::API_TOKEN_PREFIX);
    let record = state.store.create_token(name, body.role, &new.hash, &new.prefix, expires_at, caller.actor()).await?;
    reload_tokens(&state).await;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: new.secret, record: record.into() })))
}

/// Revoke an API token: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = i64, Path, description = "Token id")),
    security(("bearer" = ["admin"])), responses((status = 204), (status = 404, body = ProblemBody)))]
async fn revoke_token(
    caller: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_token(id, caller.actor()).await?;
    reload_tokens(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Brings this replica's tokens in memory up to date after a change (the others reload on notification).
async fn reload_tokens(state: &AppState) {
    if let Err(e) = state.auth.tokens.reload(&state.store).await {
        tracing::warn!(error = %e, "could not reload the API tokens; the refresh loop will");
    }
}
