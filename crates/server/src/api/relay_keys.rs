//! `/relay-keys` (admin): relay credentials (`pnn_rly_...`) — one secret naming several environments, which
//! lets a `pennon relay` read, for each, what a server key of that environment may read for relaying (the
//! snapshot, the stream, the relay information) and post its SDK metrics. Create (shown once), list, rotate
//! with an overlap, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::rfc3339;
use super::credentials::{RotateKey, reload_keys};
use crate::api::rules::Label;
use crate::app::state::AppState;
use crate::auth::Admin;
use crate::auth::secrets::{NewSecret, RELAY_KEY_PREFIX};
use crate::http::error::{ApiError, Json, OptionalJson, Path, ProblemBody};
use crate::store::{RelayKey, now_millis};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_relay_keys, create_relay_key))
        .routes(routes!(rotate_relay_key))
        .routes(routes!(revoke_relay_key))
}

/// A relay credential (never its secret, except once at creation or rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct RelayKeyBody {
    /// Id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// The environments it may read.
    pub environments: Vec<String>,
    /// The first characters of the secret.
    pub prefix: String,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: after a rotation the old credential works until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<RelayKey> for RelayKeyBody {
    fn from(k: RelayKey) -> Self {
        RelayKeyBody {
            id: k.id,
            name: k.name,
            environments: k.environments,
            prefix: k.prefix,
            created_by: k.created_by,
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// Relay credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelayKeyList {
    /// Newest first.
    pub items: Vec<RelayKeyBody>,
}

/// A new relay credential.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRelayKey {
    /// What it is for.
    #[schema(value_type = Label)]
    pub name: String,
    /// The environments it may read (at least one; each must exist).
    pub environments: Vec<String>,
}

/// A relay credential just created: the secret is in `key`, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedRelayKey {
    /// The secret (`pnn_rly_...`). It cannot be shown again.
    pub key: String,
    /// The credential's record.
    #[serde(flatten)]
    pub record: RelayKeyBody,
}

/// Each environment must be a key; the store checks that it exists (404), and so bounds their number.
fn check_environments(environments: &[String]) -> Result<(), ApiError> {
    if environments.is_empty() {
        return Err(ApiError::invalid("environments", "name at least one environment"));
    }
    for (i, environment) in environments.iter().enumerate() {
        crate::api::common::check_key(&format!("environments[{i}]"), environment)?;
    }
    Ok(())
}

/// List the relay credentials.
#[utoipa::path(get, path = "/api/v1/relay-keys", tag = "relay-keys", security(("bearer" = ["admin"])),
    responses((status = 200, body = RelayKeyList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_relay_keys(_: Admin, State(state): State<AppState>) -> Result<Json<RelayKeyList>, ApiError> {
    Ok(Json(RelayKeyList { items: state.store.list_relay_keys().await?.into_iter().map(Into::into).collect() }))
}

/// Create a relay credential naming one or more environments.
#[utoipa::path(post, path = "/api/v1/relay-keys", tag = "relay-keys", request_body = CreateRelayKey,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = CreatedRelayKey), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn create_relay_key(
    caller: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreateRelayKey>,
) -> Result<impl IntoResponse, ApiError> {
    crate::api::common::check_name("name", &body.name)?;
    check_environments(&body.environments)?;
    let new = NewSecret::generate(RELAY_KEY_PREFIX);
    let record = state
        .store
        .create_relay_key(body.name.trim(), &body.environments, &new.hash, &new.prefix, caller.actor())
        .await?;
    reload_keys(&state).await;
    Ok((StatusCode::CREATED, Json(CreatedRelayKey { key: new.secret, record: record.into() })))
}

/// Rotate a relay credential: a new one naming the same environments replaces it; the old one keeps working
/// until `old_key_expires_at`.
#[utoipa::path(post, path = "/api/v1/relay-keys/{id}/rotate", tag = "relay-keys",
    request_body = Option<RotateKey>,
    params(("id" = i64, Path, description = "Relay key id")), security(("bearer" = ["admin"])),
    responses((status = 201, body = CreatedRelayKey), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn rotate_relay_key(
    caller: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    OptionalJson(body): OptionalJson<RotateKey>,
) -> Result<impl IntoResponse, ApiError> {
    let old_expires = body.old_key_expiry(now_millis())?;
    let new = NewSecret::generate(RELAY_KEY_PREFIX);
    let record = state.store.rotate_relay_key(id, &new.hash, &new.prefix, old_expires, caller.actor()).await?;
    reload_keys(&state).await;
    Ok((StatusCode::CREATED, Json(CreatedRelayKey { key: new.secret, record: record.into() })))
}

/// Revoke a relay credential: it stops working at once, and the streams opened with it end.
#[utoipa::path(delete, path = "/api/v1/relay-keys/{id}", tag = "relay-keys",
    params(("id" = i64, Path, description = "Relay key id")), security(("bearer" = ["admin"])),
    responses((status = 204), (status = 404, body = ProblemBody)))]
async fn revoke_relay_key(
    caller: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_relay_key(id, caller.actor()).await?;
    reload_keys(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
