//! The handlers of scheduled changes: schedule, list, read, edit while pending, cancel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::super::common::{IfMatch, Page, check_text, cursor_param, etag, not_our_cursor, page_limit, parse_time};
use super::{ChangeRequest, ScheduledChangeBody, under};
use crate::app::state::AppState;
use crate::auth::{Editor, Viewer};
use crate::domain::scheduled::ScheduleState;
use crate::http::error::{ApiError, Json, Path, ProblemBody, Query};
use crate::store::{EditMaker, now_millis};

/// The longest comment, in characters.
const MAX_COMMENT_CHARS: usize = 1000;

/// A change to schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "at": "2030-01-01T09:00:00Z", "change": { "kind": "toggle", "enabled": true },
    "comment": "launch" }))]
pub struct NewScheduledChange {
    /// When to apply it (RFC 3339): in the future, within `--schedule-max-ahead`.
    pub at: String,
    /// The change.
    pub change: ChangeRequest,
    /// Free text, at most 1000 characters.
    #[serde(default)]
    pub comment: Option<String>,
}

/// What to change of a pending scheduled change; what is left out stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledChangePatch {
    /// A new time (RFC 3339).
    pub at: Option<String>,
    /// A new change, validated against the current config, which it is then based on.
    pub change: Option<ChangeRequest>,
    /// A new comment.
    pub comment: Option<String>,
    /// The scheduled change's version this edit is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ConfigAt {
    flag: String,
    env: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChangeAt {
    flag: String,
    env: String,
    id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    /// Only changes in this state.
    state: Option<ScheduleState>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Checks a time to schedule at: in the future, within the setting's bound.
fn check_at(state: &AppState, text: &str) -> Result<i64, ApiError> {
    // The document states `at` as a string (its date-time format is not asserted), so a string that is not a
    // time is a rule the document cannot state: 422, as for a time in the past.
    let at = parse_time("at", text)
        .map_err(|_| ApiError::invalid("at", "at must be an RFC 3339 time, e.g. 2026-12-24T09:00:00Z"))?;
    let now = now_millis();
    if at <= now {
        return Err(ApiError::invalid("at", "at must be in the future"));
    }
    let ahead = i64::try_from(state.config.schedule_max_ahead.as_millis()).unwrap_or(i64::MAX);
    if at - now > ahead {
        let days = state.config.schedule_max_ahead.as_secs() / 86_400;
        return Err(ApiError::invalid("at", format!("at must be within {days} days (--schedule-max-ahead)")));
    }
    Ok(at)
}

fn check_comment(comment: &str) -> Result<(), ApiError> {
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(ApiError::invalid("comment", format!("comment is at most {MAX_COMMENT_CHARS} characters")));
    }
    check_text("comment", comment, true)
}

/// Schedule a config change (audited as `scheduled_change.create`). It is validated now as the immediate
/// change would be, and records the config version it is based on. At its time the leader applies it as an
/// ordinary change by `schedule:<id> by <author>`; if the config changed in between, a toggle or a default
/// still applies, while targets, rules or a whole config fail (state `failed`, with the reason) rather than
/// overwrite those edits.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/scheduled-changes", tag = "scheduled-changes",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = NewScheduledChange,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key")),
    responses((status = 201, body = ScheduledChangeBody), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody, description = "The environment needs approvals and the caller is no admin"),
        (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "The change's `version` is stale, the flag is archived, or too many changes wait"),
        (status = 422, body = ProblemBody, description = "`at` is past or too far, or the change is invalid (`change.<field>`)")))]
pub(super) async fn create(
    caller: Editor,
    State(state): State<AppState>,
    Path(p): Path<ConfigAt>,
    Json(body): Json<NewScheduledChange>,
) -> Result<impl IntoResponse, ApiError> {
    crate::api::change_requests::only_approved_paths(&state, caller.0.role, &p.env).await?;
    let at = check_at(&state, &body.at)?;
    let comment = body.comment.unwrap_or_default();
    check_comment(&comment)?;
    let prefix = body.change.prefix();
    let expected = body.change.version();
    let place = (p.flag.clone(), p.env.clone());
    let change = body.change;
    let created = state
        .store
        .create_scheduled(
            &p.flag,
            &p.env,
            at,
            &comment,
            expected,
            state.config.schedule_max_pending,
            caller.actor(),
            move |flag, current| change.resolve(&place, flag, current),
        )
        .await
        .map_err(under(prefix))?;
    Ok((StatusCode::CREATED, etag(created.version), Json(ScheduledChangeBody::from(created))))
}

/// A config's scheduled changes, newest first.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/scheduled-changes", tag = "scheduled-changes",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ListParams),
    responses((status = 200, body = Page<ScheduledChangeBody>), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn list(
    _: Viewer,
    State(state): State<AppState>,
    Path(p): Path<ConfigAt>,
    Query(params): Query<ListParams>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let before = match cursor_param(params.cursor.as_deref())? {
        Some(text) => Some(text.parse::<i64>().map_err(|_| not_our_cursor())?),
        None => None,
    };
    let items = state.store.list_scheduled(&p.flag, &p.env, params.state, before, limit + 1).await?;
    let items: Vec<ScheduledChangeBody> = items.into_iter().map(ScheduledChangeBody::from).collect();
    Ok(Json(Page::from_overfetch(items, limit, |c| c.id.to_string())))
}

/// One scheduled change; `ETag` is its version.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/scheduled-changes/{id}", tag = "scheduled-changes",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("id" = i64, Path, description = "The scheduled change's id")),
    responses((status = 200, body = ScheduledChangeBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody)))]
pub(super) async fn get_one(
    _: Viewer,
    State(state): State<AppState>,
    Path(p): Path<ChangeAt>,
) -> Result<impl IntoResponse, ApiError> {
    let found = state.store.get_scheduled(&p.flag, &p.env, p.id).await?;
    Ok((etag(found.version), Json(ScheduledChangeBody::from(found))))
}

/// Edit a pending scheduled change: its time, its change or its comment (audited as
/// `scheduled_change.update`). Name its version (`If-Match` or `version`) so that two edits do not cross.
#[utoipa::path(patch, path = "/api/v1/flags/{flag}/environments/{env}/scheduled-changes/{id}", tag = "scheduled-changes",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = ScheduledChangePatch,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("id" = i64, Path, description = "The scheduled change's id"),
        ("If-Match" = Option<String>, Header, description = "The scheduled change's version the edit is based on")),
    responses((status = 200, body = ScheduledChangeBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Stale version, or the change is no longer pending"),
        (status = 422, body = ProblemBody)))]
pub(super) async fn update(
    caller: Editor,
    State(state): State<AppState>,
    Path(p): Path<ChangeAt>,
    if_match: IfMatch,
    Json(body): Json<ScheduledChangePatch>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.version)?;
    let at = body.at.as_deref().map(|text| check_at(&state, text)).transpose()?;
    if let Some(comment) = &body.comment {
        check_comment(comment)?;
    }
    let prefix = body.change.as_ref().map_or("change.", ChangeRequest::prefix);
    let place = (p.flag.clone(), p.env.clone());
    let make: Option<EditMaker> =
        body.change.map(|change| -> EditMaker { Box::new(move |flag, current| change.resolve(&place, flag, current)) });
    let updated = state
        .store
        .update_scheduled(&p.flag, &p.env, p.id, expected, at, body.comment, make, caller.actor())
        .await
        .map_err(under(prefix))?;
    Ok((etag(updated.version), Json(ScheduledChangeBody::from(updated))))
}

/// Cancel a pending scheduled change (audited as `scheduled_change.cancel`); it stays listed as cancelled.
#[utoipa::path(delete, path = "/api/v1/flags/{flag}/environments/{env}/scheduled-changes/{id}", tag = "scheduled-changes",
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("id" = i64, Path, description = "The scheduled change's id"),
        ("If-Match" = Option<String>, Header, description = "The scheduled change's version")),
    responses((status = 200, body = ScheduledChangeBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Stale version, or the change is no longer pending")))]
pub(super) async fn cancel(
    caller: Editor,
    State(state): State<AppState>,
    Path(p): Path<ChangeAt>,
    if_match: IfMatch,
) -> Result<impl IntoResponse, ApiError> {
    let cancelled = state.store.cancel_scheduled(&p.flag, &p.env, p.id, if_match.0, caller.actor()).await?;
    Ok((etag(cancelled.version), Json(ScheduledChangeBody::from(cancelled))))
}
