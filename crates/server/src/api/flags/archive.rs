//! `POST /flags/{flag}/archive`, `POST /flags/{flag}/unarchive` and `DELETE /flags/{flag}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::super::common::etag;
use super::FlagBody;
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Json, Path, ProblemBody};

async fn set_archived(
    state: &AppState,
    caller: &Editor,
    flag: &str,
    archived: bool,
) -> Result<impl IntoResponse + use<>, ApiError> {
    let (record, revisions) = state.store.set_archived(flag, archived, caller.actor()).await?;
    state.snapshots.after_commit(&revisions).await;
    Ok((etag(record.version), Json(FlagBody::from(record))))
}

/// Archive a flag: it leaves every environment's snapshot (SDKs see it deleted and evaluate it as unknown),
/// drops out of the default list, and cannot be changed until unarchived. Its configs and history stay.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/archive", tag = "flags", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key")),
    responses((status = 200, body = FlagBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Archived already")))]
pub(super) async fn archive_flag(
    caller: Editor,
    State(state): State<AppState>,
    Path(flag): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_archived(&state, &caller, &flag, true).await
}

/// Unarchive a flag: it returns to every environment with the configs it had.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/unarchive", tag = "flags", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key")),
    responses((status = 200, body = FlagBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Not archived")))]
pub(super) async fn unarchive_flag(
    caller: Editor,
    State(state): State<AppState>,
    Path(flag): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_archived(&state, &caller, &flag, false).await
}

/// Delete a flag for good, with its configs and their history (the audit log keeps its story). Only an
/// archived flag that no other flag names as a prerequisite can be deleted.
#[utoipa::path(delete, path = "/api/v1/flags/{flag}", tag = "flags", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key")),
    responses((status = 204), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Not archived, or another flag's prerequisite")))]
pub(super) async fn delete_flag(
    caller: Editor,
    State(state): State<AppState>,
    Path(flag): Path<String>,
) -> Result<StatusCode, ApiError> {
    let revisions = state.store.delete_flag(&flag, caller.actor()).await?;
    state.snapshots.after_commit(&revisions).await;
    Ok(StatusCode::NO_CONTENT)
}
