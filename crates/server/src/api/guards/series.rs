//! `GET .../guards/{id}/series`: the values behind a guard's charts.

use axum::extract::State;
use pennon_engine::guards::{GuardState, Statistic};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::GuardPath;
use super::validate::parse_window;
use crate::api::common::rfc3339;
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::http::error::{ApiError, Json, Path, ProblemBody, Query};
use crate::ingest::{BUCKET_MS, bucket_of};
use crate::store::{BucketTotals, now_millis};

/// The most points one answer holds.
const MAX_POINTS: i64 = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SeriesParams {
    /// How far back: `15m`, `1h`, `1d` (default: the guard's window).
    range: Option<String>,
    /// Width of one point, rounded up to whole 10-second buckets (default: the range in about 60 points).
    step: Option<String>,
}

/// One arm in one step.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct ArmPoint {
    /// Samples: exposures for a rate, tracked values for a mean.
    pub samples: u64,
    /// The rate or mean in this step alone; absent without samples.
    pub value: Option<f64>,
}

/// Both arms in one step.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// RFC 3339 start of the step.
    pub start: String,
    /// The treatment variant.
    pub treatment: ArmPoint,
    /// The control variant (empty for an absolute threshold).
    pub control: ArmPoint,
}

/// A change of the guard's state, with the numbers of that check (cumulative since the guard's data start).
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionPoint {
    /// RFC 3339.
    pub at: String,
    /// The state entered.
    #[schema(value_type = String)]
    pub state: GuardState,
    /// The treatment at that check.
    pub treatment: ArmPoint,
    /// The control at that check.
    pub control: ArmPoint,
    /// The always-valid p-value at that check.
    pub p_value: Option<f64>,
}

/// A guard's values per time step and its state history.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuardSeries {
    /// Guard id.
    pub guard: i64,
    /// Its state now.
    #[schema(value_type = String)]
    pub state: GuardState,
    /// RFC 3339 time its data start.
    pub since: String,
    /// Step width in seconds.
    pub step_seconds: u64,
    /// Oldest first; steps without data are included (no value).
    pub points: Vec<SeriesPoint>,
    /// The newest state changes, oldest first.
    pub transitions: Vec<TransitionPoint>,
}

fn value_of(statistic: Statistic, t: &BucketTotals) -> ArmPoint {
    match statistic {
        Statistic::Rate => {
            ArmPoint { samples: t.exposures, value: (t.exposures > 0).then(|| t.count as f64 / t.exposures as f64) }
        }
        Statistic::Mean => ArmPoint { samples: t.count, value: (t.count > 0).then(|| t.sum / t.count as f64) },
    }
}

fn duration_param(field: &str, text: &str) -> Result<i64, ApiError> {
    parse_window(text).map_err(|message| ApiError::bad_field(field, format!("{field} {message}")))
}

/// A guard's recent values per time step for both arms (samples and value), and its state transitions.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/guards/{id}/series", tag = "guards",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("id" = i64, Path, description = "Guard id"), SeriesParams),
    responses((status = 200, body = GuardSeries), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub(super) async fn guard_series(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<GuardPath>,
    Query(params): Query<SeriesParams>,
) -> Result<Json<GuardSeries>, ApiError> {
    let guard = state.store.get_guard(&at.env, &at.flag, at.id).await?;
    let range =
        params.range.as_deref().map(|r| duration_param("range", r)).transpose()?.unwrap_or(guard.draft.window_ms);
    let step = match params.step.as_deref() {
        Some(s) => duration_param("step", s)?,
        None => range / 60,
    };
    let step = ((step + BUCKET_MS - 1) / BUCKET_MS).max(1) * BUCKET_MS;
    let now = now_millis();
    let end = bucket_of(now) + BUCKET_MS;
    let start = end - ((range + step - 1) / step) * step;
    if (end - start) / step > MAX_POINTS {
        return Err(ApiError::bad_field("step", format!("at most {MAX_POINTS} points: make step longer")));
    }
    let d = &guard.draft;
    let mut variants = vec![d.variant.as_str()];
    variants.extend(d.control.as_deref());
    let buckets =
        state.store.metric_buckets_of(&guard.environment, &guard.flag, &d.spec.metric, &variants, start, end).await?;
    let steps = usize::try_from((end - start) / step).unwrap_or(0);
    let mut sums = vec![(BucketTotals::default(), BucketTotals::default()); steps];
    for b in &buckets {
        let Ok(i) = usize::try_from((b.bucket - start) / step) else { continue };
        let Some(slot) = sums.get_mut(i) else { continue };
        let arm = if b.variant == d.variant { &mut slot.0 } else { &mut slot.1 };
        arm.exposures += b.exposures;
        arm.count += b.count;
        arm.sum += b.sum;
    }
    let points = sums
        .iter()
        .enumerate()
        .map(|(i, (t, c))| SeriesPoint {
            start: rfc3339(start + i as i64 * step),
            treatment: value_of(d.spec.statistic, t),
            control: value_of(d.spec.statistic, c),
        })
        .collect();
    let transitions = state
        .store
        .guard_transitions(guard.id)
        .await?
        .into_iter()
        .map(|t| TransitionPoint {
            at: rfc3339(t.at),
            state: t.state,
            treatment: ArmPoint { samples: t.treatment_n, value: t.treatment_value },
            control: ArmPoint { samples: t.control_n, value: t.control_value },
            p_value: t.p_value,
        })
        .collect();
    Ok(Json(GuardSeries {
        guard: guard.id,
        state: guard.state,
        since: rfc3339(guard.since),
        step_seconds: u64::try_from(step / 1000).unwrap_or(0),
        points,
        transitions,
    }))
}
