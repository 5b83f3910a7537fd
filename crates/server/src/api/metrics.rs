//! `/metrics`: the metrics SDKs track, as objects — key (the name `track()` reports), kind (`rate` of events
//! per exposure or `mean` of values), unit, which way is better, description. Guards and experiment results
//! name a metric by key; the SDK metrics intake keeps data of known metrics only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{IfMatch, check_text, etag, rfc3339};
use crate::app::state::AppState;
use crate::auth::{Editor, Viewer};
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::{MetricDirection, MetricDraft, MetricKind, MetricRecord};

/// The longest metric key, in bytes (as for a guard's metric).
const MAX_KEY_BYTES: usize = 128;
/// The longest unit, in characters.
const MAX_UNIT_CHARS: usize = 32;
/// The longest description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_metrics, create_metric)).routes(routes!(
        get_metric,
        update_metric,
        delete_metric
    ))
}

/// A metric as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricBody {
    /// The name SDKs report with `track()`.
    pub key: String,
    /// `rate` (events per exposure) or `mean` (average tracked value).
    pub kind: MetricKind,
    /// Display unit, e.g. `ms`; may be empty.
    pub unit: String,
    /// `higher_is_better` or `lower_is_better`.
    pub direction: MetricDirection,
    /// Free text.
    pub description: String,
    /// Bumped by every change, for `If-Match`.
    pub version: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<MetricRecord> for MetricBody {
    fn from(m: MetricRecord) -> Self {
        MetricBody {
            key: m.key,
            kind: m.draft.kind,
            unit: m.draft.unit,
            direction: m.draft.direction,
            description: m.draft.description,
            version: m.version,
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
        }
    }
}

/// Every metric, by key.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricList {
    /// By key.
    pub items: Vec<MetricBody>,
}

/// A new metric; also a metric of a flags document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMetric {
    /// The name SDKs report with `track()`: 1 to 128 bytes without control characters.
    pub key: String,
    /// `rate` or `mean`.
    pub kind: MetricKind,
    /// Display unit, e.g. `ms`.
    #[serde(default)]
    pub unit: String,
    /// `higher_is_better` or `lower_is_better`.
    pub direction: MetricDirection,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// Changes to a metric; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMetric {
    /// `rate` or `mean` (not while guards use the metric as the other kind).
    pub kind: Option<MetricKind>,
    /// Display unit.
    pub unit: Option<String>,
    /// `higher_is_better` or `lower_is_better`.
    pub direction: Option<MetricDirection>,
    /// Free text.
    pub description: Option<String>,
    /// The version this change is based on (or `If-Match`).
    pub version: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct MetricPath {
    key: String,
}

/// Checks a metric key: the guard's rule for metric names, so that every name a guard used stays valid.
pub fn check_metric_key(field: &str, key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.chars().any(char::is_control) {
        return Err(ApiError::bad_field(field, format!("{field} must be 1 to 128 bytes without control characters")));
    }
    Ok(())
}

pub(crate) fn check_draft(draft: &MetricDraft) -> Result<(), ApiError> {
    if draft.unit.chars().count() > MAX_UNIT_CHARS {
        return Err(ApiError::bad_field("unit", format!("unit must be at most {MAX_UNIT_CHARS} characters")));
    }
    check_text("unit", &draft.unit, false)?;
    if draft.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::bad_field(
            "description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    check_text("description", &draft.description, true)
}

/// List the metrics, by key.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "metrics",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    responses((status = 200, body = MetricList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_metrics(_: Viewer, State(state): State<AppState>) -> Result<Json<MetricList>, ApiError> {
    let items = state.store.list_metrics().await?.into_iter().map(MetricBody::from).collect();
    Ok(Json(MetricList { items }))
}

/// Create a metric (audited as `metric.create`). From then on the intake keeps its data for the flags whose
/// guards watch it and for flags that serve a split.
#[utoipa::path(post, path = "/api/v1/metrics", tag = "metrics", request_body = CreateMetric,
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    responses((status = 201, body = MetricBody), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn create_metric(
    caller: Editor,
    State(state): State<AppState>,
    Json(body): Json<CreateMetric>,
) -> Result<impl IntoResponse, ApiError> {
    check_metric_key("key", &body.key)?;
    let draft =
        MetricDraft { kind: body.kind, unit: body.unit, direction: body.direction, description: body.description };
    check_draft(&draft)?;
    let created = state.store.create_metric(&body.key, &draft, caller.actor()).await?;
    reload_watched(&state).await;
    Ok((StatusCode::CREATED, etag(created.version), Json(MetricBody::from(created))))
}

/// Get a metric.
#[utoipa::path(get, path = "/api/v1/metrics/{key}", tag = "metrics",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("key" = String, Path, description = "Metric key")),
    responses((status = 200, body = MetricBody), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn get_metric(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<MetricPath>,
) -> Result<impl IntoResponse, ApiError> {
    let metric = state.store.get_metric(&at.key).await?;
    Ok((etag(metric.version), Json(MetricBody::from(metric))))
}

/// Change a metric's kind, unit, direction or description (audited as `metric.update`), based on the version
/// in `If-Match` or the body when given.
#[utoipa::path(patch, path = "/api/v1/metrics/{key}", tag = "metrics", request_body = UpdateMetric,
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("key" = String, Path, description = "Metric key")),
    responses((status = 200, body = MetricBody), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody)))]
async fn update_metric(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<MetricPath>,
    if_match: IfMatch,
    Json(body): Json<UpdateMetric>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.version)?;
    let current = state.store.get_metric(&at.key).await?;
    let draft = MetricDraft {
        kind: body.kind.unwrap_or(current.draft.kind),
        unit: body.unit.unwrap_or(current.draft.unit),
        direction: body.direction.unwrap_or(current.draft.direction),
        description: body.description.unwrap_or(current.draft.description),
    };
    check_draft(&draft)?;
    let next = state.store.update_metric(&at.key, expected.or(Some(current.version)), &draft, caller.actor()).await?;
    Ok((etag(next.version), Json(MetricBody::from(next))))
}

/// Delete a metric (audited as `metric.delete`); refused (409) while a guard uses it.
#[utoipa::path(delete, path = "/api/v1/metrics/{key}", tag = "metrics",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("key" = String, Path, description = "Metric key")),
    responses((status = 204), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn delete_metric(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<MetricPath>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_metric(&at.key, caller.actor()).await?;
    reload_watched(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// After a metric came or went: what the intake keeps changes. Other replicas hear of it from PostgreSQL; a
/// failure here is repaired by the periodic refresh.
async fn reload_watched(state: &AppState) {
    if let Err(e) = state.snapshots.reload_watched().await {
        tracing::warn!(error = %e, "could not reload the metrics the intake keeps; the refresh loop will");
    }
}
