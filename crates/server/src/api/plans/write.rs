//! `GET PUT DELETE .../rollout-plan`: read, write and delete a plan.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::common::{IfMatch, etag};
use super::{PlanBody, PlanPath, StepDoc};
use crate::app::state::AppState;
use crate::auth::{Editor, Viewer};
use crate::domain::plans::{PlanDraft, PlanSpec, format_hold};
use crate::http::error::{ApiError, Json, Path, ProblemBody};

/// A plan as written: the variant to ramp, the control, and the steps; also a plan of a flags document
/// (without `version`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "variant": "on",
    "steps": [{ "percent": 1, "hold": "10m" }, { "percent": 5, "hold": "30m" }, { "percent": 25, "hold": "1h" },
        { "percent": 50, "hold": "1h" }, { "percent": 100 }]
}))]
pub struct PutPlan {
    /// The variant ramped up.
    pub variant: String,
    /// The variant everybody else gets; boolean flags default to the other variant, other flags must name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// The context attribute hashed into a bucket (default `key`, the context key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
    /// The steps: percentages increasing, the last at 100 with no hold, every other with a hold.
    pub steps: Vec<StepDoc>,
    /// The plan version this replaces (or `If-Match`).
    #[serde(
        default,
        deserialize_with = "pennon_engine::whole_numbers::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<u64>,
}

impl PutPlan {
    /// A plan's definition as a document states it: control and `bucket_by` filled in, holds as `format_hold`
    /// writes them, no version.
    pub fn of(spec: &PlanSpec) -> PutPlan {
        PutPlan {
            variant: spec.variant.clone(),
            control: Some(spec.control.clone()),
            bucket_by: Some(spec.bucket_by.clone()),
            steps: spec
                .steps
                .iter()
                .map(|s| StepDoc { percent: s.percent, hold: s.hold_ms.map(format_hold) })
                .collect(),
            version: None,
        }
    }

    /// The draft the store checks and writes.
    pub fn draft(&self) -> PlanDraft {
        PlanDraft {
            variant: self.variant.clone(),
            control: self.control.clone(),
            bucket_by: self.bucket_by.clone(),
            steps: self.steps.iter().map(|s| (s.percent, s.hold.clone())).collect(),
        }
    }
}

/// Read a flag's rollout plan in an environment: the steps, where it stands, and its history.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/rollout-plan", tag = "plans", security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key")),
    responses((status = 200, body = PlanBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody)))]
pub(super) async fn get_plan(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<PlanPath>,
) -> Result<impl IntoResponse, ApiError> {
    let (plan, history) = state.store.get_plan(&at.flag, &at.env).await?;
    Ok((etag(plan.version), Json(PlanBody::new(plan, history))))
}

/// Write a flag's rollout plan in an environment (audited as `plan.create` or `plan.replace`). A plan that
/// is running or paused cannot be replaced: abort it first. A written plan is `pending` until started.
#[utoipa::path(put, path = "/api/v1/flags/{flag}/environments/{env}/rollout-plan", tag = "plans", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    request_body = PutPlan,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The plan version this replaces")),
    responses((status = 200, description = "Replaced", body = PlanBody), (status = 201, description = "Created", body = PlanBody),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn put_plan(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<PlanPath>,
    if_match: IfMatch,
    Json(body): Json<PutPlan>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.version)?;
    let draft = body.draft();
    let (_, created) = state.store.put_plan(&at.flag, &at.env, expected, caller.actor(), &draft).await?;
    let (plan, history) = state.store.get_plan(&at.flag, &at.env).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, etag(plan.version), Json(PlanBody::new(plan, history))))
}

/// Delete a flag's rollout plan and its history (audited as `plan.delete`); refused while it is running or
/// paused. The config keeps the default the plan left.
#[utoipa::path(delete, path = "/api/v1/flags/{flag}/environments/{env}/rollout-plan", tag = "plans", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The plan version deleted")),
    responses((status = 204), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub(super) async fn delete_plan(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<PlanPath>,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    state.store.delete_plan(&at.flag, &at.env, if_match.0, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
