//! `/segments`: reusable sets of contexts, shared by every environment.
//!
//! Every write reaches all environments (each gets a new revision), and the in-memory snapshots are caught up
//! before the response, so an evaluation made after a write sees it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pennon_engine::{Condition, Segment, validate_segment};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{IfMatch, Page, check_key, cursor_param, etag, page_limit, rfc3339};
use crate::api::rules::{Description, Name, Slug};
use crate::app::state::AppState;
use crate::auth::{Editor, Viewer};
use crate::http::error::{ApiError, Json, Path, ProblemBody, Query};
use crate::store::SegmentRecord;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_segments, create_segment)).routes(routes!(
        get_segment,
        replace_segment,
        delete_segment
    ))
}

/// A segment as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentBody {
    /// Slug key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// A context not listed below is in the segment when all of these hold (and there is at least one).
    pub conditions: Vec<Condition>,
    /// Context keys always in the segment.
    pub included: Vec<String>,
    /// Context keys never in the segment (unless also included).
    pub excluded: Vec<String>,
    /// Bumped by every change, for `If-Match`.
    pub version: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<SegmentRecord> for SegmentBody {
    fn from(r: SegmentRecord) -> Self {
        let s = r.segment;
        SegmentBody {
            key: s.key,
            name: s.name,
            description: s.description,
            conditions: s.conditions,
            included: s.included,
            excluded: s.excluded,
            version: s.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// A new segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSegment {
    /// Slug key, e.g. `internal-staff`.
    #[schema(value_type = Slug)]
    pub key: String,
    /// Display name; the key when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    #[schema(value_type = Description)]
    pub description: String,
    /// All must hold for a context not listed explicitly.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Context keys always in the segment.
    #[serde(default)]
    pub included: Vec<String>,
    /// Context keys never in the segment.
    #[serde(default)]
    pub excluded: Vec<String>,
}

/// A segment's new content: replaces the whole segment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceSegment {
    /// May repeat the key in the path; it cannot change.
    #[serde(default)]
    #[schema(value_type = Option<Slug>)]
    pub key: Option<String>,
    /// Display name; the key when omitted.
    #[serde(default)]
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    #[schema(value_type = Description)]
    pub description: String,
    /// All must hold for a context not listed explicitly.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Context keys always in the segment.
    #[serde(default)]
    pub included: Vec<String>,
    /// Context keys never in the segment.
    #[serde(default)]
    pub excluded: Vec<String>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default)]
    #[serde(deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Checks what validation of the engine does not: name, and context keys that could never match.
pub(crate) fn check_segment(segment: &Segment) -> Result<(), ApiError> {
    check_key("key", &segment.key)?;
    crate::api::common::check_name("name", &segment.name)?;
    crate::api::flags::check_description(&segment.description)?;
    let lists = [("included", &segment.included), ("excluded", &segment.excluded)];
    let mut problems = validate_segment(segment);
    for (field, keys) in lists {
        for (i, key) in keys.iter().enumerate() {
            if key.is_empty() {
                problems.push(pennon_engine::Problem {
                    path: format!("{field}[{i}]"),
                    message: "must not be empty".into(),
                });
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(ApiError::Invalid(problems)) }
}

/// List segments, by key.
#[utoipa::path(get, path = "/api/v1/segments", tag = "segments", params(ListParams), security(("bearer" = ["viewer"])),
    responses((status = 200, body = Page<SegmentBody>), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_segments(
    _: Viewer,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Page<SegmentBody>>, ApiError> {
    let limit = page_limit(params.limit)?;
    let after = cursor_param(params.cursor.as_deref())?;
    let items: Vec<SegmentBody> = state
        .store
        .list_segments()
        .await?
        .into_iter()
        .filter(|r| after.as_ref().is_none_or(|a| r.segment.key.as_str() > a.as_str()))
        .take(limit as usize + 1)
        .map(Into::into)
        .collect();
    Ok(Json(Page::from_overfetch(items, limit, |s| s.key.clone())))
}

/// Create a segment; every environment sees it at once.
#[utoipa::path(post, path = "/api/v1/segments", tag = "segments", request_body = CreateSegment,
    security(("bearer" = ["editor"])),
    responses((status = 201, body = SegmentBody), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn create_segment(
    caller: Editor,
    State(state): State<AppState>,
    Json(body): Json<CreateSegment>,
) -> Result<impl IntoResponse, ApiError> {
    let segment = Segment {
        name: body.name.unwrap_or_else(|| body.key.clone()),
        key: body.key,
        description: body.description,
        conditions: body.conditions,
        included: body.included,
        excluded: body.excluded,
        version: 1,
    };
    check_segment(&segment)?;
    let (created, revisions) = state.store.create_segment(&segment, caller.actor()).await?;
    state.snapshots.after_commit(&revisions).await;
    Ok((StatusCode::CREATED, etag(created.segment.version), Json(SegmentBody::from(created))))
}

/// Get a segment.
#[utoipa::path(get, path = "/api/v1/segments/{segment}", tag = "segments",
    params(("segment" = String, Path, description = "Segment key")), security(("bearer" = ["viewer"])),
    responses((status = 200, body = SegmentBody), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn get_segment(
    _: Viewer,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let r = state.store.get_segment(&key).await?;
    Ok((etag(r.segment.version), Json(SegmentBody::from(r))))
}

/// Replace a segment's conditions and lists (based on the version in `If-Match` or the body, when given).
#[utoipa::path(put, path = "/api/v1/segments/{segment}", tag = "segments", request_body = ReplaceSegment,
    params(("segment" = String, Path, description = "Segment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    security(("bearer" = ["editor"])),
    responses((status = 200, body = SegmentBody), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn replace_segment(
    caller: Editor,
    State(state): State<AppState>,
    Path(key): Path<String>,
    if_match: IfMatch,
    Json(body): Json<ReplaceSegment>,
) -> Result<impl IntoResponse, ApiError> {
    if body.key.as_ref().is_some_and(|k| *k != key) {
        return Err(ApiError::invalid("key", "a segment's key cannot change"));
    }
    let expected = if_match.or(body.version)?;
    let segment = Segment {
        name: body.name.unwrap_or_else(|| key.clone()),
        key,
        description: body.description,
        conditions: body.conditions,
        included: body.included,
        excluded: body.excluded,
        version: 0,
    };
    check_segment(&segment)?;
    let (updated, revisions) = state.store.update_segment(&segment, expected, caller.actor()).await?;
    state.snapshots.after_commit(&revisions).await;
    Ok((etag(updated.segment.version), Json(SegmentBody::from(updated))))
}

/// Delete a segment; refused (409) while a rule of any flag uses it, naming the flags.
#[utoipa::path(delete, path = "/api/v1/segments/{segment}", tag = "segments",
    params(("segment" = String, Path, description = "Segment key")), security(("bearer" = ["editor"])),
    responses((status = 204), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
async fn delete_segment(
    caller: Editor,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let revisions = state.store.delete_segment(&key, caller.actor()).await?;
    state.snapshots.after_commit(&revisions).await;
    Ok(StatusCode::NO_CONTENT)
}
