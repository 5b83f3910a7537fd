//! `POST /sdk/metrics`: exposure counts and tracked metrics from SDKs, added to this replica's in-memory
//! aggregation (the database is written by the periodic flush, never per request).

use axum::extract::State;
use axum::http::StatusCode;
use pennon_engine::protocol::{MAX_COUNT, MAX_SUM, MAX_SUM_SQUARES, MetricsBatch};
use pennon_engine::{Problem, SLUG_RULE, is_slug};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::auth::ServerKey;
use crate::delivery::snapshots::EnvSnapshot;
use crate::http::error::{ApiError, Json, ProblemBody};
use crate::ingest::{Exposure, Tracked};
use crate::store::now_millis;
use crate::telemetry::metrics::DropReason;

/// Most entries (exposures and metrics together) in one batch.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest metric name, in bytes.
pub const MAX_METRIC_NAME: usize = 128;
/// Problems reported for one refused batch.
const MAX_PROBLEMS: usize = 20;

/// What happened to a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsAccepted {
    /// Entries added to the aggregation.
    pub accepted: usize,
    /// Entries dropped: for flags or variants the environment does not have (deleted, archived), or metrics
    /// that no guard of the flag in the environment watches.
    pub ignored: usize,
}

/// Reads a batch from a JSON document: an object whose `exposures` and `metrics` are arrays of objects
/// (serde would also take arrays for objects, in field order). The document's depth is bounded by the JSON
/// reader (128 levels), including fields the batch does not have.
fn batch_of(document: Value) -> Result<MetricsBatch, ApiError> {
    let Value::Object(fields) = &document else {
        return Err(ApiError::BadRequest { detail: "a metrics batch is a JSON object".into(), field: None });
    };
    for list in ["exposures", "metrics"] {
        let Some(entries) = fields.get(list) else { continue };
        let Value::Array(entries) = entries else {
            return Err(ApiError::bad_field(list, format!("{list} must be an array of objects")));
        };
        if let Some(i) = entries.iter().position(|e| !e.is_object()) {
            return Err(ApiError::bad_field(format!("{list}[{i}]"), format!("{list}[{i}] must be an object")));
        }
    }
    serde_path_to_error::deserialize(document).map_err(|e| {
        let field = e.path().to_string();
        ApiError::bad_field(field.clone(), format!("{field}: {}", e.inner()))
    })
}

fn check_batch(batch: &MetricsBatch) -> Result<(), ApiError> {
    if batch.exposures.len() > MAX_ENTRIES {
        return Err(ApiError::invalid("exposures", format!("at most {MAX_ENTRIES} entries per batch")));
    }
    if batch.exposures.len() + batch.metrics.len() > MAX_ENTRIES {
        return Err(ApiError::invalid("metrics", format!("at most {MAX_ENTRIES} entries per batch, with exposures")));
    }
    let mut problems = Vec::new();
    let mut problem = |path: String, message: &str| problems.push(Problem { path, message: message.to_owned() });
    let count_rule = format!("count must be at most {MAX_COUNT}");
    for (i, e) in batch.exposures.iter().enumerate() {
        if !is_slug(&e.flag) {
            problem(format!("exposures[{i}].flag"), &format!("flag {SLUG_RULE}"));
        }
        if !is_slug(&e.variant) {
            problem(format!("exposures[{i}].variant"), &format!("variant {SLUG_RULE}"));
        }
        if e.count > MAX_COUNT {
            problem(format!("exposures[{i}].count"), &count_rule);
        }
    }
    for (i, m) in batch.metrics.iter().enumerate() {
        if !is_slug(&m.flag) {
            problem(format!("metrics[{i}].flag"), &format!("flag {SLUG_RULE}"));
        }
        if !is_slug(&m.variant) {
            problem(format!("metrics[{i}].variant"), &format!("variant {SLUG_RULE}"));
        }
        if m.metric.is_empty() || m.metric.len() > MAX_METRIC_NAME || m.metric.chars().any(char::is_control) {
            let rule = format!("metric must be 1 to {MAX_METRIC_NAME} bytes without control characters");
            problem(format!("metrics[{i}].metric"), &rule);
        }
        if m.count > MAX_COUNT {
            problem(format!("metrics[{i}].count"), &count_rule);
        }
        if !(m.sum.is_finite() && m.sum.abs() <= MAX_SUM) {
            problem(
                format!("metrics[{i}].sum"),
                &format!("sum must be a finite number from -{MAX_SUM:e} to {MAX_SUM:e}"),
            );
        }
        if !(m.sum_squares.is_finite() && (0.0..=MAX_SUM_SQUARES).contains(&m.sum_squares)) {
            let rule = format!("sum_squares must be a finite number from 0 to {MAX_SUM_SQUARES:e}");
            problem(format!("metrics[{i}].sum_squares"), &rule);
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.truncate(MAX_PROBLEMS);
    Err(ApiError::Invalid(problems))
}

/// Whether the environment's snapshot has this flag with this variant.
fn known(snapshot: &EnvSnapshot, flag: &str, variant: &str) -> bool {
    snapshot.flag(flag).is_some_and(|f| f.definition.variants.iter().any(|v| v.key == variant))
}

/// Report exposures and tracked metrics.
///
/// A batch as in `docs/sdk-protocol.md`: `exposures` count evaluations per (flag, variant); `metrics`
/// aggregate `track()` calls per (flag, variant served, metric) as count, sum and sum of squares. The body
/// must be a JSON object whose `exposures` and `metrics` are arrays of objects (400 otherwise). The batch is
/// checked whole — keys, names, bounds (counts up to 10^12, sums within ±10^18, sums of squares up to
/// 10^36, so that no total can overflow) — and refused whole (422 naming each field at fault).
/// Accepted entries are counted in the current 10-second bucket, in memory, and written to the database by
/// the next flush. Entries for flags or variants the environment does not have, and metrics no guard of the
/// flag in the environment watches, are dropped and counted as `ignored`.
#[utoipa::path(post, path = "/api/v1/sdk/metrics", tag = "sdk",
    security(("sdk_key" = ["server"])),
    request_body = MetricsBatch,
    responses(
        (status = 202, description = "Added to the aggregation", body = MetricsAccepted),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody),
        (status = 503, description = "Too much is waiting for the database; send later", body = ProblemBody)))]
pub(super) async fn post_metrics(
    ServerKey(grant): ServerKey,
    State(state): State<AppState>,
    Json(document): Json<Value>,
) -> Result<(StatusCode, Json<MetricsAccepted>), ApiError> {
    let batch = batch_of(document)?;
    check_batch(&batch)?;
    let environment = grant.environment;
    let snapshot = state
        .snapshots
        .get(&environment)
        .ok_or_else(|| ApiError::NotFound(format!("environment \"{environment}\"")))?;
    let raw = &*snapshot;
    let watched = state.snapshots.watched().of(&environment);
    let exposures: Vec<Exposure<'_>> = batch
        .exposures
        .iter()
        .filter(|e| known(raw, &e.flag, &e.variant))
        .map(|e| Exposure { flag: &e.flag, variant: &e.variant, count: e.count })
        .collect();
    let mut unknown = batch.exposures.len() - exposures.len();
    let mut unwatched = 0;
    let mut metrics: Vec<Tracked<'_>> = Vec::with_capacity(batch.metrics.len());
    for m in &batch.metrics {
        if !known(raw, &m.flag, &m.variant) {
            unknown += 1;
        } else if !watched.watches(&m.flag, &m.metric) {
            unwatched += 1;
        } else {
            metrics.push(Tracked {
                flag: &m.flag,
                variant: &m.variant,
                metric: &m.metric,
                count: m.count,
                sum: m.sum,
                sum_squares: m.sum_squares,
            });
        }
    }
    state.intake.record(&environment, &exposures, &metrics, now_millis()).map_err(|_| ApiError::Unavailable)?;
    // An SDK's exposures are its evaluations: they move the flag's last-seen time like the server's own.
    for e in &exposures {
        state.metrics.usage.add(&environment, e.flag, e.count);
    }
    state.metrics.sdk_metrics_dropped(DropReason::Unknown, unknown);
    state.metrics.sdk_metrics_dropped(DropReason::Unwatched, unwatched);
    state.metrics.sdk_metrics_accepted.inc_by((exposures.len() + metrics.len()) as u64);
    Ok((
        StatusCode::ACCEPTED,
        Json(MetricsAccepted { accepted: exposures.len() + metrics.len(), ignored: unknown + unwatched }),
    ))
}
