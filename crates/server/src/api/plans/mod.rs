//! `/flags/{flag}/environments/{env}/rollout-plan`: a gradual rollout plan on a flag's config — write it (`PUT`, while
//! it is not in progress), read it with its state and history, delete it, and `POST .../rollout-plan/start`, `pause`,
//! `resume`, `abort`. Every write is one audited transaction; the moves that change what users get (start,
//! each step, abort, halt) are ordinary config changes by `system:plan`, pushed to SDKs like any other.

mod actions;
mod write;

pub use write::PutPlan;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::rfc3339;
use crate::app::state::AppState;
use crate::domain::plans::{PlanState, format_hold};
use crate::store::{PlanEvent, PlanRecord};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(write::get_plan, write::put_plan, write::delete_plan))
        .routes(routes!(actions::start))
        .routes(routes!(actions::pause))
        .routes(routes!(actions::resume))
        .routes(routes!(actions::abort))
}

/// The path parameters of a plan.
#[derive(Debug, Deserialize)]
pub(crate) struct PlanPath {
    flag: String,
    env: String,
}

/// One step as written and shown: `{"percent": 5, "hold": "30m"}`; the last step has no hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    /// The share of contexts that get the ramped variant: above 0, at most 100, larger than the step before;
    /// the last step is 100.
    pub percent: f64,
    /// How long the step is held before the next, e.g. `"10m"`, `"1h 30m"`; left out on the last step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
}

/// One event of a plan's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanEventBody {
    /// RFC 3339.
    pub at: String,
    /// `created`, `updated`, `started`, `advanced`, `paused`, `resumed`, `halted`, `aborted` or `completed`.
    pub event: String,
    /// The step the plan stood at afterwards (index into `steps`).
    pub step: Option<usize>,
    /// The percentage served afterwards.
    pub percent: Option<f64>,
    /// Who: `user:...`, `token:...`, `system:plan`, or the guard loop.
    pub actor: String,
    /// Why, for halts: the guard and its evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
}

impl From<PlanEvent> for PlanEventBody {
    fn from(e: PlanEvent) -> Self {
        PlanEventBody {
            at: rfc3339(e.at),
            event: e.event,
            step: e.step,
            percent: e.percent,
            actor: e.actor,
            detail: e.detail,
        }
    }
}

/// A plan, where it stands, and its history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "flag": "new-checkout", "environment": "production", "variant": "on", "control": "off", "bucket_by": "key",
    "steps": [{ "percent": 1, "hold": "10m" }, { "percent": 5, "hold": "30m" }, { "percent": 100 }],
    "state": "running", "current_step": 1, "current_percent": 5.0,
    "step_started_at": "2026-11-22T03:10:00Z", "next_step_at": "2026-11-22T03:40:00Z",
    "version": 3, "created_at": "2026-11-22T02:55:00Z", "updated_at": "2026-11-22T03:10:00Z",
    "updated_by": "system:plan", "history": []
}))]
pub struct PlanBody {
    /// The flag ramped.
    pub flag: String,
    /// The environment.
    pub environment: String,
    /// The variant ramped up.
    pub variant: String,
    /// The variant everybody else gets.
    pub control: String,
    /// The context attribute hashed into a bucket.
    pub bucket_by: String,
    /// The steps.
    pub steps: Vec<StepDoc>,
    /// `pending`, `running`, `paused`, `halted`, `aborted` or `completed`.
    pub state: PlanState,
    /// The index of the step served last.
    pub current_step: usize,
    /// The share of contexts that get the ramped variant now (0 when pending, halted or aborted).
    pub current_percent: f64,
    /// When the current step was served (RFC 3339).
    pub step_started_at: Option<String>,
    /// While running: when the next step is due.
    pub next_step_at: Option<String>,
    /// While paused: what is left of the current step's hold.
    pub remaining_hold: Option<String>,
    /// Bumped on every change; also the `ETag`.
    pub version: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Who changed the plan last.
    pub updated_by: String,
    /// What happened to the plan, oldest first.
    pub history: Vec<PlanEventBody>,
}

impl PlanBody {
    fn new(plan: PlanRecord, history: Vec<PlanEvent>) -> Self {
        let current_percent = plan.current_percent();
        PlanBody {
            current_percent,
            steps: plan
                .spec
                .steps
                .iter()
                .map(|s| StepDoc { percent: s.percent, hold: s.hold_ms.map(format_hold) })
                .collect(),
            flag: plan.flag,
            environment: plan.environment,
            variant: plan.spec.variant,
            control: plan.spec.control,
            bucket_by: plan.spec.bucket_by,
            state: plan.state,
            current_step: plan.current_step,
            step_started_at: plan.step_started_at.map(rfc3339),
            next_step_at: plan.step_ends_at.map(rfc3339),
            remaining_hold: plan.remaining_ms.map(|ms| format_hold(ms.max(0) as u64)),
            version: plan.version,
            created_at: rfc3339(plan.created_at),
            updated_at: rfc3339(plan.updated_at),
            updated_by: plan.updated_by,
            history: history.into_iter().map(PlanEventBody::from).collect(),
        }
    }
}
