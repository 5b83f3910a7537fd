//! `GET /environments/{env}/flag-states`: where every flag of an environment stands — on or off, its rollout
//! plan's step, its guards' states — in one answer, so that a list of flags needs one request per environment.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::rfc3339;
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::domain::plans::PlanState;
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::{FlagState, PlanRecord};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(flag_states))
}

/// Every flag's state in one environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagStateList {
    /// Environment key.
    pub environment: String,
    /// By flag key.
    pub items: Vec<FlagStateBody>,
}

/// One flag's state in an environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagStateBody {
    /// Flag key.
    pub flag: String,
    /// Whether the config is on.
    pub enabled: bool,
    /// The config's version.
    pub version: u64,
    /// Its rollout plan's step, when it has a plan.
    pub plan: Option<PlanStepBody>,
    /// How many of its guards are in each state.
    pub guards: GuardCounts,
}

/// Where a rollout plan stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanStepBody {
    /// `pending`, `running`, `paused`, `halted`, `aborted` or `completed`.
    pub state: PlanState,
    /// The index of the step served last.
    pub current_step: usize,
    /// How many steps the plan has.
    pub step_count: usize,
    /// The share of contexts that get the ramped variant now.
    pub current_percent: f64,
    /// The variant ramped up.
    pub variant: String,
    /// While running: when the next step is due (RFC 3339).
    pub next_step_at: Option<String>,
}

/// Guards by state.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct GuardCounts {
    /// Guards whose metric is within its threshold.
    pub healthy: u64,
    /// Guards still waiting for `min_samples` in each arm.
    pub insufficient_data: u64,
    /// Guards that found the metric past its threshold.
    pub breached: u64,
}

impl From<PlanRecord> for PlanStepBody {
    fn from(plan: PlanRecord) -> Self {
        PlanStepBody {
            current_percent: plan.current_percent(),
            state: plan.state,
            current_step: plan.current_step,
            step_count: plan.spec.steps.len(),
            variant: plan.spec.variant,
            next_step_at: plan.step_ends_at.filter(|_| plan.state == PlanState::Running).map(rfc3339),
        }
    }
}

impl From<FlagState> for FlagStateBody {
    fn from(s: FlagState) -> Self {
        let count = |state: &str| s.guards.get(state).copied().unwrap_or(0);
        let guards = GuardCounts {
            healthy: count("healthy"),
            insufficient_data: count("insufficient_data"),
            breached: count("breached"),
        };
        FlagStateBody { flag: s.flag, enabled: s.enabled, version: s.version, plan: s.plan.map(Into::into), guards }
    }
}

/// Every flag's state in an environment: on or off, config version, rollout plan step and guard states.
#[utoipa::path(get, path = "/api/v1/environments/{env}/flag-states", tag = "configs",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("env" = String, Path, description = "Environment key")),
    responses((status = 200, body = FlagStateList), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn flag_states(
    _: Viewer,
    State(state): State<AppState>,
    Path(env): Path<String>,
) -> Result<Json<FlagStateList>, ApiError> {
    let items = state.store.flag_states(&env).await?;
    Ok(Json(FlagStateList { environment: env, items: items.into_iter().map(FlagStateBody::from).collect() }))
}
