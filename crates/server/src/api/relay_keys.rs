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

use super::common::{parse_time, rfc3339};
use crate::api::rules::Label;
use crate::app::state::AppState;
use crate::auth::{Admin, secrets};
use crate::http::error::{ApiError, Json, OptionalJson, Path, ProblemBody};
use crate::store::{RelayKey, now_millis};

/// How long an old credential keeps working after a rotation when the request does not say.
const DEFAULT_OVERLAP_MS: i64 = 24 * 60 * 60 * 1000;

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

/// A rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRelayKey {
    /// RFC 3339: until when the old credential keeps working (default: 24 hours from now; now = at once).
    #[schema(format = DateTime)]
    pub old_key_expires_at: Option<String>,
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

async fn reload_keys(state: &AppState) {
    if let Err(e) = state.auth.keys.reload(&state.store).await {
        tracing::warn!(error = %e, "could not reload SDK and relay keys; the refresh loop will");
    }
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
    let secret = secrets::generate(secrets::RELAY_KEY_PREFIX);
    let hash = secrets::hash(&secret);
    let prefix = secrets::display_prefix(&secret);
    let record =
        state.store.create_relay_key(body.name.trim(), &body.environments, &hash, &prefix, caller.actor()).await?;
    reload_keys(&state).await;
    Ok((StatusCode::CREATED, Json(CreatedRelayKey { key: secret, record: record.into() })))
}

/// Rotate a relay credential: a new one naming the same environments replaces it; the old one keeps working
/// until `old_key_expires_at`.
#[utoipa::path(post, path = "/api/v1/relay-keys/{id}/rotate", tag = "relay-keys",
    request_body = Option<RotateRelayKey>,
    params(("id" = i64, Path, description = "Relay key id")), security(("bearer" = ["admin"])),
    responses((status = 201, body = CreatedRelayKey), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn rotate_relay_key(
    caller: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    OptionalJson(body): OptionalJson<RotateRelayKey>,
) -> Result<impl IntoResponse, ApiError> {
    let now = now_millis();
    let old_expires = match body.old_key_expires_at.as_deref() {
        Some(t) => parse_time("old_key_expires_at", t)?.max(now),
        None => now + DEFAULT_OVERLAP_MS,
    };
    let secret = secrets::generate(secrets::RELAY_KEY_PREFIX);
    let hash = secrets::hash(&secret);
    let prefix = secrets::display_prefix(&secret);
    let record = state.store.rotate_relay_key(id, &hash, &prefix, old_expires, caller.actor()).await?;
    reload_keys(&state).await;
    Ok((StatusCode::CREATED, Json(CreatedRelayKey { key: secret, record: record.into() })))
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
