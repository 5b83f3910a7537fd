//! `/environments/{env}/keys` (admin): SDK keys — create (shown once), list, rotate with an overlap, revoke.

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
use crate::auth::secrets::{self, NewSecret};
use crate::http::error::{ApiError, Json, OptionalJson, Path, ProblemBody};
use crate::store::{KeyKind, SdkKey, now_millis};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_keys, create_key)).routes(routes!(rotate_key)).routes(routes!(revoke_key))
}

/// An SDK key (never its secret, except once at creation or rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyBody {
    /// Id.
    pub id: i64,
    /// The environment.
    pub environment: String,
    /// `server` (full config, stream, metrics) or `client` (evaluated values only).
    pub kind: KeyKind,
    /// What it is for.
    pub name: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: after a rotation the old key works until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<SdkKey> for KeyBody {
    fn from(k: SdkKey) -> Self {
        KeyBody {
            id: k.id,
            environment: k.environment,
            kind: k.kind,
            name: k.name,
            prefix: k.prefix,
            created_by: k.created_by,
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// Keys list.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The environment's keys, newest first.
    pub items: Vec<KeyBody>,
}

/// A new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Server or client.
    pub kind: KeyKind,
    /// What it is for.
    #[schema(value_type = Label)]
    pub name: String,
}

/// A key just created: the secret is in `key`, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The secret (`pnn_srv_...` or `pnn_cli_...`). It cannot be shown again.
    pub key: String,
    /// The key's record.
    #[serde(flatten)]
    pub record: KeyBody,
}

fn new_secret(kind: KeyKind) -> NewSecret {
    NewSecret::generate(match kind {
        KeyKind::Server => secrets::SERVER_KEY_PREFIX,
        KeyKind::Client => secrets::CLIENT_KEY_PREFIX,
    })
}

/// List an environment's SDK keys.
#[utoipa::path(get, path = "/api/v1/environments/{env}/keys", tag = "keys",
    params(("env" = String, Path, description = "Environment key")), security(("bearer" = ["admin"])),
    responses((status = 200, body = KeyList), (status = 404, body = ProblemBody)))]
async fn list_keys(
    _: Admin,
    State(state): State<AppState>,
    Path(env): Path<String>,
) -> Result<Json<KeyList>, ApiError> {
    state.store.get_environment(&env).await?;
    Ok(Json(KeyList { items: state.store.list_sdk_keys(&env).await?.into_iter().map(Into::into).collect() }))
}

/// Create an SDK key.
#[utoipa::path(post, path = "/api/v1/environments/{env}/keys", tag = "keys", request_body = CreateKey,
    params(("env" = String, Path, description = "Environment key")), security(("bearer" = ["admin"])),
    responses((status = 201, body = CreatedKey), (status = 400, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn create_key(
    caller: Admin,
    State(state): State<AppState>,
    Path(env): Path<String>,
    Json(body): Json<CreateKey>,
) -> Result<impl IntoResponse, ApiError> {
    crate::api::common::check_name("name", &body.name)?;
    let name = body.name.trim();
    let new = new_secret(body.kind);
    let record = state.store.create_sdk_key(&env, body.kind, name, &new.hash, &new.prefix, caller.actor()).await?;
    reload_keys(&state).await;
    Ok((StatusCode::CREATED, Json(CreatedKey { key: new.secret, record: record.into() })))
}

/// Rotate an SDK key: a new key replaces it; the old one keeps working until `old_key_expires_at`.
#[utoipa::path(post, path = "/api/v1/environments/{env}/keys/{id}/rotate", tag = "keys", request_body = Option<RotateKey>,
    params(("env" = String, Path, description = "Environment key"), ("id" = i64, Path, description = "Key id")),
    security(("bearer" = ["admin"])),
    responses((status = 201, body = CreatedKey), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn rotate_key(
    caller: Admin,
    State(state): State<AppState>,
    Path((env, id)): Path<(String, i64)>,
    OptionalJson(body): OptionalJson<RotateKey>,
) -> Result<impl IntoResponse, ApiError> {
    let old_expires = body.old_key_expiry(now_millis())?;
    let old = state.store.sdk_key(&env, id).await?;
    let new = new_secret(old.kind);
    let record = state.store.rotate_sdk_key(&env, id, &new.hash, &new.prefix, old_expires, caller.actor()).await?;
    reload_keys(&state).await;
    Ok((StatusCode::CREATED, Json(CreatedKey { key: new.secret, record: record.into() })))
}

/// Revoke an SDK key: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/environments/{env}/keys/{id}", tag = "keys",
    params(("env" = String, Path, description = "Environment key"), ("id" = i64, Path, description = "Key id")),
    security(("bearer" = ["admin"])), responses((status = 204), (status = 404, body = ProblemBody)))]
async fn revoke_key(
    caller: Admin,
    State(state): State<AppState>,
    Path((env, id)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_sdk_key(&env, id, caller.actor()).await?;
    reload_keys(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
