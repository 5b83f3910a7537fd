//! `/environments`: create, list, get, rename, set allowed origins or position, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{IfMatch, check_key, etag, rfc3339};
use crate::api::rules::{Name, Slug};
use crate::app::state::AppState;
use crate::auth::{Admin, Viewer};
use crate::domain::origins::check_origins;
use crate::http::error::{ApiError, Json, Path, ProblemBody, Query};
use crate::store::{Environment, EnvironmentPatch, NewEnvironment};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_environments, create_environment)).routes(routes!(
        get_environment,
        update_environment,
        delete_environment
    ))
}

/// An environment as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentBody {
    /// Slug key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Whether changes here ask for confirmation in the dashboard.
    pub production: bool,
    /// Web origins whose pages may call the client-key endpoints (`/api/v1/evaluate`, OFREP) with this
    /// environment's client key: `scheme://host[:port]`, or `"*"` alone for every origin.
    pub allowed_origins: Vec<String>,
    /// Where it stands among the environments: lists (and the dashboard) order by it, then by key.
    pub position: u32,
    /// Approvals an editor's config change needs here before it applies (0: none; changes apply at once).
    /// Changes wait as change requests (`/api/v1/change-requests`) meanwhile.
    pub approvals_required: u32,
    /// Bumped by every change in the environment (the SDK snapshot revision).
    pub revision: u64,
    /// Version of the environment itself, for `If-Match`.
    pub version: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Environment> for EnvironmentBody {
    fn from(e: Environment) -> Self {
        EnvironmentBody {
            key: e.key,
            name: e.name,
            production: e.production,
            allowed_origins: e.allowed_origins,
            position: e.position,
            approvals_required: e.approvals_required,
            revision: e.revision,
            version: e.version,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// A new environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    /// Slug key, e.g. `production`.
    #[schema(value_type = Slug)]
    pub key: String,
    /// Display name; the key when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// Whether it is production.
    #[serde(default)]
    pub production: bool,
    /// Web origins allowed to call the client-key endpoints: `scheme://host[:port]` (no path), or `"*"`
    /// alone for every origin. None when omitted.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Where it stands among the environments (lists order by it, then by key); after the last one when
    /// omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
}

/// Changes to an environment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnvironment {
    /// New name.
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// New production mark.
    pub production: Option<bool>,
    /// New allowed origins, replacing the old ones (`[]` for none).
    pub allowed_origins: Option<Vec<String>>,
    /// New position among the environments.
    pub position: Option<u32>,
    /// Approvals an editor's config change needs (0 turns approvals off; at most the server's
    /// `--max-approvals-required`). Change requests waiting already then need the new number.
    pub approvals_required: Option<u32>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// Environments list.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentList {
    /// Every environment, by position, then by key.
    pub items: Vec<EnvironmentBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteParams {
    /// Delete the environment's flag configs too.
    force: Option<bool>,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    crate::api::common::check_name("name", name)
}

/// After a change to an environment itself: reloads the snapshots' list of environments and the allowed
/// origins at once (other replicas do on the change's notification). A failure is repaired by the periodic
/// refresh.
async fn environments_changed(state: &AppState) {
    if let Err(e) = state.snapshots.refresh_all().await {
        tracing::warn!(error = %e, "could not reload the environments after a change; the refresh loop will");
    }
}

/// List environments.
#[utoipa::path(get, path = "/api/v1/environments", tag = "environments", security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    responses((status = 200, body = EnvironmentList)))]
async fn list_environments(_: Viewer, State(state): State<AppState>) -> Result<Json<EnvironmentList>, ApiError> {
    let items = state.store.list_environments().await?.into_iter().map(Into::into).collect();
    Ok(Json(EnvironmentList { items }))
}

/// Create an environment; every flag gets its initial (off) config in it.
#[utoipa::path(post, path = "/api/v1/environments", tag = "environments", security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])), request_body = CreateEnvironment,
    responses((status = 201, body = EnvironmentBody), (status = 400, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn create_environment(
    caller: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreateEnvironment>,
) -> Result<impl IntoResponse, ApiError> {
    check_key("key", &body.key)?;
    let name = body.name.unwrap_or_else(|| body.key.clone());
    check_name(&name)?;
    let allowed_origins = check_origins(&body.allowed_origins).map_err(ApiError::Invalid)?;
    let new =
        NewEnvironment { key: body.key, name, production: body.production, allowed_origins, position: body.position };
    let created = state.store.create_environment(&new, caller.actor()).await?;
    environments_changed(&state).await;
    Ok((StatusCode::CREATED, etag(created.version), Json(EnvironmentBody::from(created))))
}

/// Get an environment.
#[utoipa::path(get, path = "/api/v1/environments/{env}", tag = "environments", security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("env" = String, Path, description = "Environment key")),
    responses((status = 200, body = EnvironmentBody), (status = 404, body = ProblemBody)))]
async fn get_environment(
    _: Viewer,
    State(state): State<AppState>,
    Path(env): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let e = state.store.get_environment(&env).await?;
    Ok((etag(e.version), Json(EnvironmentBody::from(e))))
}

/// Rename an environment, change its production mark, its allowed origins, its position or the approvals
/// its config changes need (audited as `environment.update`).
#[utoipa::path(patch, path = "/api/v1/environments/{env}", tag = "environments", security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])), request_body = UpdateEnvironment,
    params(("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    responses((status = 200, body = EnvironmentBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn update_environment(
    caller: Admin,
    State(state): State<AppState>,
    Path(env): Path<String>,
    if_match: IfMatch,
    Json(body): Json<UpdateEnvironment>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    let allowed_origins = body.allowed_origins.as_deref().map(check_origins).transpose().map_err(ApiError::Invalid)?;
    let max = state.config.approvals.max_required;
    if body.approvals_required.is_some_and(|n| n > max) {
        return Err(ApiError::invalid("approvals_required", format!("approvals_required must be 0 to {max}")));
    }
    let expected = if_match.or(body.version)?;
    let patch = EnvironmentPatch {
        name: body.name,
        production: body.production,
        allowed_origins,
        position: body.position,
        approvals_required: body.approvals_required,
    };
    let e = state.store.update_environment(&env, patch, expected, caller.actor()).await?;
    environments_changed(&state).await;
    Ok((etag(e.version), Json(EnvironmentBody::from(e))))
}

/// Delete an environment (refused while it holds flag configs, unless `force=true`).
#[utoipa::path(delete, path = "/api/v1/environments/{env}", tag = "environments", security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])),
    params(("env" = String, Path, description = "Environment key"), DeleteParams),
    responses((status = 204), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn delete_environment(
    caller: Admin,
    State(state): State<AppState>,
    Path(env): Path<String>,
    Query(params): Query<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_environment(&env, params.force.unwrap_or(false), caller.actor()).await?;
    environments_changed(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
