//! `GET .../results/{metric}/timeline`: one metric's comparison over the period, as the readout would have
//! shown it at the end of each step — the always-valid interval of each variant's difference to the control,
//! cumulative since the period's start. Because the interval is valid at every look, the whole line may be
//! read, not only its last point.

use axum::extract::State;
use pennon_engine::experiments::compare;
use pennon_engine::guards::{ArmStats, Statistic};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::period::{Analysis, Period, ResultsPath, analysis};
use crate::api::common::rfc3339;
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::http::error::{ApiError, Json, Path, ProblemBody, Query};
use crate::ingest::{BUCKET_MS, bucket_of, first_bucket_from};
use crate::store::{BucketTotals, MetricKind, now_millis};

/// Points when the request does not say.
const DEFAULT_POINTS: u32 = 60;

#[derive(Debug, Deserialize)]
pub(super) struct TimelinePath {
    flag: String,
    env: String,
    metric: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TimelineParams {
    /// The variant the others are compared with (default as for the readout).
    control: Option<String>,
    /// 0 (default) is the current period, 1 the one before it, and so on.
    period: Option<usize>,
    /// How many steps to cut the period into (default 60, at most `--results-max-points`); a step is at
    /// least one 10-second bucket.
    #[param(minimum = 2)]
    points: Option<u32>,
}

/// One variant's comparison at the end of a step.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineVariant {
    /// Variant key.
    pub variant: String,
    /// Samples so far: exposures for a rate, tracked values for a mean.
    pub n: u64,
    /// Treatment minus control; absent while either arm has too few samples.
    pub difference: Option<f64>,
    /// The always-valid interval's lower end.
    pub lower: Option<f64>,
    /// Its upper end.
    pub upper: Option<f64>,
}

/// The comparisons at the end of one step.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePoint {
    /// RFC 3339 end of the step.
    pub at: String,
    /// The control's samples so far.
    pub control_n: u64,
    /// Every variant but the control, in the split's order.
    pub variants: Vec<TimelineVariant>,
}

/// A metric's comparison over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultsTimeline {
    /// Metric key.
    pub metric: String,
    /// The variant the others are compared with.
    pub control: String,
    /// The level of the intervals.
    pub alpha: f64,
    /// The analysed period.
    pub period: Period,
    /// Step width in seconds.
    pub step_seconds: u64,
    /// Oldest first, cumulative since the period's start.
    pub points: Vec<TimelinePoint>,
}

/// One metric's comparison to the control over the period, cumulative at the end of each step: the interval
/// over time behind the Results tab's chart.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/results/{metric}/timeline", tag = "results",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("metric" = String, Path, description = "Metric key"), TimelineParams),
    responses((status = 200, body = ResultsTimeline), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn get_timeline(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<TimelinePath>,
    Query(params): Query<TimelineParams>,
) -> Result<Json<ResultsTimeline>, ApiError> {
    let settings = &state.config.results;
    let points = params.points.unwrap_or(DEFAULT_POINTS.min(settings.max_points));
    if points < 2 || points > settings.max_points {
        return Err(ApiError::invalid("points", format!("must be 2 to {}", settings.max_points)));
    }
    let metric = state.store.get_metric(&at.metric).await?;
    let path = ResultsPath { flag: at.flag, env: at.env };
    let Analysis { period, order, control, .. } = analysis(&state, &path, params.period, params.control).await?;
    let since = first_bucket_from(period.from);
    let end = period.until.map_or_else(|| bucket_of(now_millis()) + BUCKET_MS, bucket_of);
    let buckets = ((end - since).max(BUCKET_MS) + BUCKET_MS - 1) / BUCKET_MS;
    let step = ((buckets + i64::from(points) - 1) / i64::from(points)).max(1) * BUCKET_MS;
    let variants: Vec<&str> = order.iter().map(String::as_str).collect();
    let rows = state.store.metric_buckets_of(&path.env, &path.flag, &metric.key, &variants, since, end).await?;
    let statistic = match metric.draft.kind {
        MetricKind::Rate => Statistic::Rate,
        MetricKind::Mean => Statistic::Mean,
    };
    let mut arms: Vec<ArmStats> = vec![ArmStats::default(); order.len()];
    let control_index = order.iter().position(|v| *v == control).unwrap_or(0);
    let mut rows = rows.iter().peekable();
    let mut out = Vec::new();
    let mut step_end = since + step;
    while step_end < end + step {
        while let Some(row) = rows.next_if(|r| r.bucket < step_end) {
            add(&mut arms, &order, row);
        }
        out.push(point(
            statistic,
            &arms,
            &order,
            control_index,
            step_end.min(end),
            settings.alpha,
            settings.tuning_samples,
        ));
        step_end += step;
    }
    Ok(Json(ResultsTimeline {
        metric: metric.key,
        control,
        alpha: settings.alpha,
        period: Period::from(&period),
        step_seconds: u64::try_from(step / 1000).unwrap_or(0),
        points: out,
    }))
}

fn add(arms: &mut [ArmStats], order: &[String], row: &BucketTotals) {
    if let Some(i) = order.iter().position(|v| *v == row.variant) {
        let arm = &mut arms[i];
        arm.exposures += row.exposures;
        arm.count += row.count;
        arm.sum += row.sum;
        arm.sum_squares += row.sum_squares;
    }
}

fn point(
    statistic: Statistic,
    arms: &[ArmStats],
    order: &[String],
    control: usize,
    at: i64,
    alpha: f64,
    tuning_samples: u64,
) -> TimelinePoint {
    let samples = |a: &ArmStats| if statistic == Statistic::Rate { a.exposures } else { a.count };
    let variants = order
        .iter()
        .zip(arms)
        .enumerate()
        .filter(|(i, _)| *i != control)
        .map(|(_, (variant, arm))| {
            let c = compare(statistic, &arms[control], arm, alpha, tuning_samples);
            TimelineVariant {
                variant: variant.clone(),
                n: samples(arm),
                difference: c.as_ref().map(|c| c.difference),
                lower: c.as_ref().map(|c| c.lower),
                upper: c.as_ref().map(|c| c.upper),
            }
        })
        .collect();
    TimelinePoint { at: rfc3339(at), control_n: samples(&arms[control]), variants }
}
