//! `POST .../{id}/approve`, `.../reject`, `.../rebase` and `DELETE .../{id}`: what editors and admins do with a
//! change request.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ChangeRequestBody, RequestPath};
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::{ChangeRequest, Role};

/// Why a change request is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    /// The reason, shown with the request (required).
    pub comment: String,
}

async fn request(state: &AppState, id: i64) -> Result<ChangeRequest, ApiError> {
    Ok(state.store.get_change_request(id).await?)
}

/// Approve a change request (another editor or an admin; its author cannot: 403). The approval that reaches
/// the number the environment requires applies the change in the same transaction, as an ordinary versioned
/// change audited with the author and every approver, and SDKs receive it. A stale request (the config
/// changed since it was based on it) answers 409 and nothing is recorded: its author must rebase it.
#[utoipa::path(post, path = "/api/v1/change-requests/{id}/approve", tag = "change-requests",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("id" = i64, Path, description = "Change request id")),
    responses((status = 200, body = ChangeRequestBody, description = "`state` says whether it was applied"),
        (status = 403, body = ProblemBody, description = "The author's own request"),
        (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Stale, approved by the caller already, or no longer pending"),
        (status = 422, body = ProblemBody, description = "The change is no longer valid")))]
pub(super) async fn approve(
    caller: Editor,
    State(state): State<AppState>,
    Path(path): Path<RequestPath>,
) -> Result<Json<ChangeRequestBody>, ApiError> {
    if request(&state, path.id).await?.author == caller.actor().as_str() {
        return Err(ApiError::Forbidden("the author of a change request cannot approve it".into()));
    }
    let (after, revisions) = state.store.approve_change_request(path.id, caller.actor()).await?;
    if let Some(revisions) = revisions {
        state.snapshots.after_commit(&revisions).await;
    }
    Ok(Json(after.into()))
}

/// Reject a change request, with a reason; it is never applied.
#[utoipa::path(post, path = "/api/v1/change-requests/{id}/reject", tag = "change-requests",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = Reject,
    params(("id" = i64, Path, description = "Change request id")),
    responses((status = 200, body = ChangeRequestBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody, description = "No longer pending")))]
pub(super) async fn reject(
    caller: Editor,
    State(state): State<AppState>,
    Path(path): Path<RequestPath>,
    Json(body): Json<Reject>,
) -> Result<Json<ChangeRequestBody>, ApiError> {
    let comment = body.comment.trim();
    let max = state.config.approvals.max_comment as usize;
    if comment.is_empty() || comment.chars().count() > max {
        return Err(ApiError::bad_field("comment", format!("comment must be 1 to {max} characters")));
    }
    crate::api::common::check_text("comment", comment, true)?;
    Ok(Json(state.store.reject_change_request(path.id, caller.actor(), comment).await?.into()))
}

/// Rebase a stale change request onto the config as it is now (its author only): every field the request
/// changes is set on the current config, validated as the change would be, and its approvals start again.
/// Refused (409) when the config changed one of those fields meanwhile: then cancel it and make the change
/// again.
#[utoipa::path(post, path = "/api/v1/change-requests/{id}/rebase", tag = "change-requests",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("id" = i64, Path, description = "Change request id")),
    responses((status = 200, body = ChangeRequestBody), (status = 403, body = ProblemBody, description = "Not the author"),
        (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Not stale, no longer pending, or the same fields changed meanwhile"),
        (status = 422, body = ProblemBody, description = "The change is not valid on the current config")))]
pub(super) async fn rebase(
    caller: Editor,
    State(state): State<AppState>,
    Path(path): Path<RequestPath>,
) -> Result<Json<ChangeRequestBody>, ApiError> {
    if request(&state, path.id).await?.author != caller.actor().as_str() {
        return Err(ApiError::Forbidden("only the author of a change request can rebase it".into()));
    }
    Ok(Json(state.store.rebase_change_request(path.id, caller.actor()).await?.into()))
}

/// Cancel a change request (its author or an admin).
#[utoipa::path(delete, path = "/api/v1/change-requests/{id}", tag = "change-requests",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("id" = i64, Path, description = "Change request id")),
    responses((status = 200, body = ChangeRequestBody), (status = 403, body = ProblemBody, description = "Neither the author nor an admin"),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody, description = "No longer pending")))]
pub(super) async fn cancel(
    caller: Editor,
    State(state): State<AppState>,
    Path(path): Path<RequestPath>,
) -> Result<Json<ChangeRequestBody>, ApiError> {
    if caller.0.role < Role::Admin && request(&state, path.id).await?.author != caller.actor().as_str() {
        return Err(ApiError::Forbidden("only the author of a change request or an admin can cancel it".into()));
    }
    Ok(Json(state.store.cancel_change_request(path.id, caller.actor()).await?.into()))
}
