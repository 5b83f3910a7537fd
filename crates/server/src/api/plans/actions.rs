//! `POST .../rollout-plan/start|pause|resume|abort`.

use axum::extract::State;
use axum::response::IntoResponse;

use super::super::common::{IfMatch, etag};
use super::{PlanBody, PlanPath};
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::PlanAction;

async fn act(
    state: &AppState,
    caller: &Editor,
    at: &PlanPath,
    if_match: IfMatch,
    action: PlanAction,
) -> Result<impl IntoResponse + use<>, ApiError> {
    // Starting or resuming raises the share served by the config step by step, without a change request: where
    // config changes need approval, only an admin may. Pausing and aborting lower the risk and stay open.
    if matches!(action, PlanAction::Start | PlanAction::Resume) {
        crate::api::change_requests::only_approved_paths(state, caller.0.role, &at.env).await?;
    }
    let (_, revisions) = state.store.plan_action(&at.flag, &at.env, if_match.0, action, caller.actor()).await?;
    state.snapshots.after_commit(&revisions).await;
    let (plan, history) = state.store.get_plan(&at.flag, &at.env).await?;
    Ok((etag(plan.version), Json(PlanBody::new(plan, history))))
}

/// Start a plan (audited as `plan.start`): its first step is served at once, and the scheduler serves each
/// next one when the hold has passed and no guard of the flag is breached. A plan that ended (completed,
/// aborted, halted) starts again from its first step.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/rollout-plan/start", tag = "plans", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The plan version this is based on")),
    responses((status = 200, body = PlanBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn start(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<PlanPath>,
    if_match: IfMatch,
) -> Result<impl IntoResponse, ApiError> {
    act(&state, &caller, &at, if_match, PlanAction::Start).await
}

/// Pause a running plan (audited as `plan.pause`): the current percentage stays, and what is left of the
/// step's hold is kept for when it resumes.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/rollout-plan/pause", tag = "plans", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The plan version this is based on")),
    responses((status = 200, body = PlanBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub(super) async fn pause(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<PlanPath>,
    if_match: IfMatch,
) -> Result<impl IntoResponse, ApiError> {
    act(&state, &caller, &at, if_match, PlanAction::Pause).await
}

/// Resume a paused plan (audited as `plan.resume`): the next step comes when the rest of the hold has passed.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/rollout-plan/resume", tag = "plans", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The plan version this is based on")),
    responses((status = 200, body = PlanBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub(super) async fn resume(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<PlanPath>,
    if_match: IfMatch,
) -> Result<impl IntoResponse, ApiError> {
    act(&state, &caller, &at, if_match, PlanAction::Resume).await
}

/// Abort a running or paused plan (audited as `plan.abort`): back to 0% — everyone gets the control — in the
/// same transaction.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/rollout-plan/abort", tag = "plans", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The plan version this is based on")),
    responses((status = 200, body = PlanBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn abort(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<PlanPath>,
    if_match: IfMatch,
) -> Result<impl IntoResponse, ApiError> {
    act(&state, &caller, &at, if_match, PlanAction::Abort).await
}
