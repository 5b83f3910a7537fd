//! `GET /flags/{flag}/environments/{env}/results`: the experiment readout of a flag whose default serves a
//! split — per variant its exposures, per metric each variant's rate or mean and its difference to the
//! control with an always-valid interval (`pennon_engine::experiments`), and first of all the
//! sample-ratio-mismatch check of the exposures against the weights.
//!
//! An analysis period runs from the config version that set the split's current weights to now; a change of
//! weights starts a new period, and the older ones stay readable with `?period=1`, `2`, …. A period counts
//! the 10-second metric buckets that start at or after its start and before the bucket of its end, so no
//! bucket mixes two periods.

mod period;
mod timeline;

use std::collections::HashSet;

use axum::extract::State;
use pennon_engine::experiments::{Comparison, SRM_ALPHA, SampleRatio, compare, sample_ratio};
use pennon_engine::guards::{ArmStats, Statistic};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::config::ResultsSettings;
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::http::error::{ApiError, Json, Path, ProblemBody, Query};
use crate::ingest::{bucket_of, first_bucket_from};
use crate::store::{MetricDirection, MetricKind, MetricRecord, VariantTotals};
use period::{Analysis, Period, ResultsPath, analysis};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_results)).routes(routes!(timeline::get_timeline))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ResultsParams {
    /// Metric keys, comma-separated (default: every metric).
    metrics: Option<String>,
    /// The variant the others are compared with (default: the off variant when the split serves it, else
    /// the split's first variant).
    control: Option<String>,
    /// 0 (default) is the current period, 1 the one before it, and so on.
    period: Option<usize>,
}

/// A variant's exposures.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantExposures {
    /// Variant key.
    pub variant: String,
    /// Its weight in the period's split.
    pub weight: u32,
    /// Evaluations that served it in the period.
    pub exposures: u64,
}

/// One variant's value of one metric.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantValue {
    /// Variant key.
    pub variant: String,
    /// Samples: exposures for a rate, tracked values for a mean.
    pub n: u64,
    /// Tracked values (events for a rate).
    pub count: u64,
    /// The rate or mean; absent without samples.
    pub value: Option<f64>,
    /// Whether this is the control.
    pub control: bool,
    /// The difference to the control, its always-valid interval and p-value; absent for the control and
    /// without enough data.
    #[schema(value_type = Option<Object>)]
    pub comparison: Option<Comparison>,
    /// `better`, `worse` or `inconclusive` (the interval holds 0, or there are too few data); absent for the
    /// control.
    pub verdict: Option<String>,
}

/// One metric across the variants.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricResult {
    /// Metric key.
    pub metric: String,
    /// `rate` or `mean`.
    pub kind: MetricKind,
    /// Display unit.
    pub unit: String,
    /// Which way is better.
    pub direction: MetricDirection,
    /// Control first.
    pub variants: Vec<VariantValue>,
}

/// The readout of an experiment.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentResults {
    /// Flag key.
    pub flag: String,
    /// Environment key.
    pub environment: String,
    /// The variant the others are compared with.
    pub control: String,
    /// The level of the intervals (they cover the true differences at every look with `1 − alpha`).
    pub alpha: f64,
    /// The sample-ratio-mismatch check; absent without exposures. Read it first: with a mismatch, the
    /// comparisons cannot be trusted.
    #[schema(value_type = Option<Object>)]
    pub sample_ratio: Option<SampleRatio>,
    /// The analysed period.
    pub period: Period,
    /// Every period, newest first.
    pub periods: Vec<Period>,
    /// Exposures per variant, in the split's order.
    pub variants: Vec<VariantExposures>,
    /// One entry per metric.
    pub metrics: Vec<MetricResult>,
}

fn arm(totals: &[VariantTotals], variant: &str) -> ArmStats {
    totals.iter().find(|t| t.variant == variant).map_or_else(ArmStats::default, |t| ArmStats {
        exposures: t.exposures,
        count: t.count,
        sum: t.sum,
        sum_squares: t.sum_squares,
    })
}

fn verdict(c: &Comparison, direction: MetricDirection) -> &'static str {
    let higher = c.lower > 0.0;
    let lower = c.upper < 0.0;
    match (higher, lower, direction) {
        (true, _, MetricDirection::HigherIsBetter) | (_, true, MetricDirection::LowerIsBetter) => "better",
        (true, _, MetricDirection::LowerIsBetter) | (_, true, MetricDirection::HigherIsBetter) => "worse",
        _ => "inconclusive",
    }
}

fn metric_result(
    metric: &MetricRecord,
    totals: &[VariantTotals],
    control: &str,
    order: &[String],
    settings: &ResultsSettings,
) -> MetricResult {
    let statistic = match metric.draft.kind {
        MetricKind::Rate => Statistic::Rate,
        MetricKind::Mean => Statistic::Mean,
    };
    let control_arm = arm(totals, control);
    let variants = std::iter::once(control)
        .chain(order.iter().map(String::as_str).filter(|v| *v != control))
        .map(|variant| {
            let a = arm(totals, variant);
            let n = if statistic == Statistic::Rate { a.exposures } else { a.count };
            let value = (n > 0).then(|| if statistic == Statistic::Rate { a.count as f64 } else { a.sum } / n as f64);
            let is_control = variant == control;
            let comparison = (!is_control)
                .then(|| compare(statistic, &control_arm, &a, settings.alpha, settings.tuning_samples))
                .flatten();
            let verdict = (!is_control)
                .then(|| comparison.as_ref().map_or("inconclusive", |c| verdict(c, metric.draft.direction)).to_owned());
            VariantValue {
                variant: variant.to_owned(),
                n,
                count: a.count,
                value,
                control: is_control,
                comparison,
                verdict,
            }
        })
        .collect();
    MetricResult {
        metric: metric.key.clone(),
        kind: metric.draft.kind,
        unit: metric.draft.unit.clone(),
        direction: metric.draft.direction,
        variants,
    }
}

/// The experiment readout of a flag that serves a split by default: the sample-ratio-mismatch check, exposures
/// per variant, and per metric each variant's value and its difference to the control with an always-valid
/// interval (95% by default, `--results-alpha`) and a verdict. Data since the split's current weights were set (`period=0`), or of an older
/// period.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/results", tag = "results",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ResultsParams),
    responses((status = 200, body = ExperimentResults), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn get_results(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<ResultsPath>,
    Query(params): Query<ResultsParams>,
) -> Result<Json<ExperimentResults>, ApiError> {
    let Analysis { period, periods, order, control } = analysis(&state, &at, params.period, params.control).await?;
    let settings = &state.config.results;
    let known = state.store.list_metrics().await?;
    let metrics: Vec<MetricRecord> = match params.metrics.as_deref().filter(|m| !m.is_empty()) {
        None => known,
        Some(list) => {
            let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
            if wanted.len() > settings.max_metrics as usize {
                return Err(ApiError::invalid("metrics", format!("at most {} metrics", settings.max_metrics)));
            }
            let names: HashSet<&str> = known.iter().map(|m| m.key.as_str()).collect();
            if let Some(unknown) = wanted.iter().find(|w| !names.contains(*w)) {
                return Err(ApiError::invalid("metrics", format!("metric \"{unknown}\" is not known")));
            }
            known.into_iter().filter(|m| wanted.contains(&m.key.as_str())).collect()
        }
    };
    let since = first_bucket_from(period.from);
    let until = period.until.map_or(i64::MAX, bucket_of);
    // Exposures do not depend on the metric: read them with the first metric (or with none).
    let exposure_totals = state.store.metric_totals(&at.env, &at.flag, "", since, until).await?;
    let variants: Vec<VariantExposures> = period
        .weights
        .iter()
        .map(|w| VariantExposures {
            variant: w.variant.clone(),
            weight: w.weight,
            exposures: arm(&exposure_totals, &w.variant).exposures,
        })
        .collect();
    let observed: Vec<(u64, f64)> = variants.iter().map(|v| (v.exposures, f64::from(v.weight))).collect();
    let mut results = Vec::with_capacity(metrics.len());
    for metric in &metrics {
        let totals = state.store.metric_totals(&at.env, &at.flag, &metric.key, since, until).await?;
        results.push(metric_result(metric, &totals, &control, &order, settings));
    }
    Ok(Json(ExperimentResults {
        flag: at.flag,
        environment: at.env,
        control,
        alpha: settings.alpha,
        sample_ratio: sample_ratio(&observed, SRM_ALPHA),
        period: Period::from(&period),
        periods: periods.iter().map(Period::from).collect(),
        variants,
        metrics: results,
    }))
}
