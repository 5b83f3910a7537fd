//! `/flags/{flag}/environments/{env}/guards`: metric guards of a flag in one environment.
//!
//! A guard watches one tracked metric of a treatment variant, alone (absolute threshold) or against a control
//! variant (relative threshold), and the guard loop ([`crate::jobs::guard_loop`]) turns the flag off or halts its
//! rollout when the metric is significantly past the threshold. Editors create, change and delete guards
//! (versioned with `If-Match`, audited); viewers read them, their state and the series behind their charts.
//! Changing a guard starts its test over.

mod crud;
mod series;
mod validate;

pub use validate::{GuardInput, draft as guard_draft, input_of};

use pennon_engine::guards::{Evidence, GuardSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::rfc3339;
use crate::app::state::AppState;
use crate::domain::guard_sources::GuardSource;
use crate::store::{Guard, GuardAction};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list_guards, crud::create_guard))
        .routes(routes!(crud::get_guard, crud::update_guard, crud::delete_guard))
        .routes(routes!(series::guard_series))
}

/// The path of a flag's guards in an environment.
#[derive(Debug, Deserialize)]
pub(crate) struct GuardsPath {
    flag: String,
    env: String,
}

/// The path of one guard.
#[derive(Debug, Deserialize)]
pub(crate) struct GuardPath {
    flag: String,
    env: String,
    id: i64,
}

/// A guard as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuardBody {
    /// Its id.
    pub id: i64,
    /// Flag key.
    pub flag: String,
    /// Environment key.
    pub environment: String,
    /// The tracked metric's name, as `track()` reports it.
    pub metric: String,
    /// `rate` (events per exposure) or `mean` (average tracked value).
    #[schema(value_type = crate::api::rules::GuardStatistic, example = "rate")]
    pub statistic: pennon_engine::guards::Statistic,
    /// `higher_is_worse` or `lower_is_worse`.
    #[schema(value_type = crate::api::rules::GuardDirection, example = "higher_is_worse")]
    pub direction: pennon_engine::guards::Direction,
    /// `{"absolute": 0.02}` (the treatment must not pass 2%) or `{"relative": 0.1}` (not more than 10% worse
    /// than the control).
    #[schema(value_type = crate::api::rules::GuardThreshold)]
    pub threshold: pennon_engine::guards::Threshold,
    /// Samples each compared arm needs before a verdict.
    pub min_samples: u64,
    /// The significance level over the guard's whole life, however often it is checked.
    pub alpha: f64,
    /// The sample size per arm at which the sequential test is sharpest.
    pub tuning_samples: u64,
    /// The variant under watch (the treatment).
    pub variant: String,
    /// The variant it is compared with; absent for an absolute threshold.
    pub control: Option<String>,
    /// How far back the guard's charts look by default, e.g. `1h`; the test counts all data since `since`.
    pub window: String,
    /// What a breach does.
    pub action: GuardAction,
    /// Where the guard reads its numbers: the SDK metrics, or Prometheus.
    pub source: GuardSource,
    /// Why the last check could not read the source (a Prometheus query that failed, answered an error or
    /// found no series); absent when it read. Such a check decides nothing: the state is the previous one.
    pub source_error: Option<String>,
    /// `insufficient_data`, `healthy` or `breached`.
    #[schema(value_type = String, example = "healthy")]
    pub state: pennon_engine::guards::GuardState,
    /// The numbers behind the last check: both arms' samples and values, the limit, test statistic, p-value
    /// and bound.
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Evidence>,
    /// RFC 3339 time of the last check.
    pub checked_at: Option<String>,
    /// RFC 3339 time the guard's data start: its creation, last change, or reset after a breach. Its test
    /// counts the 10-second metric buckets that start at or after it.
    pub since: String,
    /// Bumped by every change (a person's edit, a breach, a reset), for `If-Match`.
    pub version: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A window as people write it: `90s`, `10m`, `1h`.
pub(crate) fn window_text(millis: i64) -> String {
    let d = std::time::Duration::from_millis(u64::try_from(millis).unwrap_or(0));
    humantime::format_duration(d).to_string().replace(' ', "")
}

impl From<Guard> for GuardBody {
    fn from(g: Guard) -> Self {
        let d = g.draft;
        let GuardSpec { metric, statistic, direction, threshold, min_samples, alpha, tuning_samples } = d.spec;
        GuardBody {
            id: g.id,
            flag: g.flag,
            environment: g.environment,
            metric,
            statistic,
            direction,
            threshold,
            min_samples,
            alpha,
            tuning_samples,
            variant: d.variant,
            control: d.control,
            window: window_text(d.window_ms),
            action: d.action,
            source: d.source,
            source_error: g.source_error,
            state: g.state,
            evidence: g.evidence,
            checked_at: g.checked_at.map(rfc3339),
            since: rfc3339(g.since),
            version: g.version,
            created_at: rfc3339(g.created_at),
            updated_at: rfc3339(g.updated_at),
        }
    }
}
