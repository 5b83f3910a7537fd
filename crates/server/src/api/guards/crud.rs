//! List, create, get, update and delete guards.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::super::common::{IfMatch, etag};
use super::validate::{GuardInput, draft};
use super::{GuardBody, GuardPath, GuardsPath};
use crate::app::state::AppState;
use crate::auth::{Editor, Viewer};
use crate::http::error::{ApiError, Json, Path, ProblemBody};

/// The guards of a flag in an environment.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GuardList {
    /// Oldest first.
    pub items: Vec<GuardBody>,
}

/// List a flag's guards in an environment, with their state.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/guards", tag = "guards",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key")),
    responses((status = 200, body = GuardList), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub(super) async fn list_guards(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<GuardsPath>,
) -> Result<Json<GuardList>, ApiError> {
    let guards = state.store.list_guards(&at.env, &at.flag).await?;
    Ok(Json(GuardList { items: guards.into_iter().map(GuardBody::from).collect() }))
}

/// Create a guard (audited as `guard.create`). Its data start now; it says `insufficient_data` until both
/// arms have `min_samples`.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/guards", tag = "guards",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = GuardInput,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key")),
    responses((status = 201, body = GuardBody), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn create_guard(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<GuardsPath>,
    Json(input): Json<GuardInput>,
) -> Result<impl IntoResponse, ApiError> {
    if input.version.is_some() {
        return Err(ApiError::invalid("version", "a new guard has no version to name"));
    }
    let flag = state.store.get_flag(&at.flag).await?;
    let draft = draft(input, &flag.flag, &state.config)?;
    let guard = state.store.create_guard(&at.env, &at.flag, &draft, caller.actor()).await?;
    reload_watched(&state).await;
    Ok((StatusCode::CREATED, etag(guard.version), Json(GuardBody::from(guard))))
}

/// Get a guard: its definition, state and last evidence.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/guards/{id}", tag = "guards",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("id" = i64, Path, description = "Guard id")),
    responses((status = 200, body = GuardBody), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub(super) async fn get_guard(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<GuardPath>,
) -> Result<impl IntoResponse, ApiError> {
    let guard = state.store.get_guard(&at.env, &at.flag, at.id).await?;
    Ok((etag(guard.version), Json(GuardBody::from(guard))))
}

/// Replace a guard's definition (audited as `guard.update`), based on the version in `If-Match` or the body
/// when given. The test starts over: `insufficient_data`, data from now.
#[utoipa::path(put, path = "/api/v1/flags/{flag}/environments/{env}/guards/{id}", tag = "guards",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = GuardInput,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("id" = i64, Path, description = "Guard id"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    responses((status = 200, body = GuardBody), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn update_guard(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<GuardPath>,
    if_match: IfMatch,
    Json(input): Json<GuardInput>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(input.version)?;
    // 404 before 422: a guard that does not exist has nothing to validate against.
    state.store.get_guard(&at.env, &at.flag, at.id).await?;
    let flag = state.store.get_flag(&at.flag).await?;
    let draft = draft(input, &flag.flag, &state.config)?;
    let guard = state.store.update_guard(&at.env, &at.flag, at.id, expected, &draft, caller.actor()).await?;
    reload_watched(&state).await;
    Ok((etag(guard.version), Json(GuardBody::from(guard))))
}

/// Delete a guard (audited as `guard.delete`).
#[utoipa::path(delete, path = "/api/v1/flags/{flag}/environments/{env}/guards/{id}", tag = "guards",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("id" = i64, Path, description = "Guard id")),
    responses((status = 204), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub(super) async fn delete_guard(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<GuardPath>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_guard(&at.env, &at.flag, at.id, caller.actor()).await?;
    reload_watched(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// After a guard changed: the SDK metrics intake keeps what guards watch from now on. Other replicas hear of
/// it from PostgreSQL; a failure here is repaired by the periodic refresh.
async fn reload_watched(state: &AppState) {
    if let Err(e) = state.snapshots.reload_watched().await {
        tracing::warn!(error = %e, "could not reload the metrics guards watch; the refresh loop will");
    }
}
