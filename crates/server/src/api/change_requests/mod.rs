//! `/change-requests`: config changes waiting for approvals in environments that require them.
//!
//! In an environment whose `approvals_required` is above 0, a config change by an editor (or by an admin who
//! gives no bypass reason) does not apply: it answers 202 with a change request. Others approve it
//! (`POST .../{id}/approve`; the author cannot); the approval that reaches the number required applies it
//! as an ordinary versioned change, if the config is still at the version it was based on. A request whose
//! config moved on is `stale` and must be rebased by its author first.

mod actions;
mod headers;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::LOCATION;
use pennon_engine::FlagConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use headers::{ApprovalHeaders, ChangeHeaders, only_approved_paths};

use super::common::{Page, check_key, cursor_param, not_our_cursor, page_limit, rfc3339};
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::domain::config_diff;
use crate::http::error::{ApiError, Json, Path, ProblemBody, Query};
use crate::store::{ChangeRequest, RequestFilter, RequestState};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get, actions::cancel))
        .routes(routes!(actions::approve))
        .routes(routes!(actions::reject))
        .routes(routes!(actions::rebase))
}

/// One field a change request changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChangeBody {
    /// The config field: `enabled`, `off_variant`, `targets`, `rules`, `default` or `prerequisites`.
    pub field: String,
    /// Its value in the config the request is based on (any JSON value: `enabled` is a boolean).
    #[schema(value_type = serde_json::Value)]
    pub before: Value,
    /// Its value in the proposed config.
    #[schema(value_type = serde_json::Value)]
    pub after: Value,
}

/// One approval.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalBody {
    /// Who approved.
    pub actor: String,
    /// RFC 3339.
    pub time: String,
}

/// A change request.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "id": 7, "flag": "new-checkout", "environment": "production", "state": "pending",
    "action": "config.toggle", "author": "user:ann@example.com", "comment": "launch",
    "base_version": 4, "current_version": 4, "proposed": { "flag": "new-checkout", "environment": "production",
    "version": 5, "enabled": true, "off_variant": "off", "targets": [], "rules": [], "default": { "variant": "on" },
    "prerequisites": [] }, "diff": [{ "field": "enabled", "before": false, "after": true }], "approvals": [],
    "approvals_required": 1, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z" }))]
pub struct ChangeRequestBody {
    /// Its id.
    pub id: i64,
    /// The flag.
    pub flag: String,
    /// The environment.
    pub environment: String,
    /// `pending`; `stale` (the config changed since it was based on it: its author must rebase it);
    /// `applied`; `rejected`; `cancelled`.
    #[schema(example = "pending")]
    pub state: String,
    /// The edit, as the audit log and history name it (`config.toggle`, `config.rule.add`, ...).
    pub action: String,
    /// Who asked for it.
    pub author: String,
    /// The author's comment (the `X-Pennon-Comment` header of the change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The config version it is based on.
    pub base_version: u64,
    /// The config's version now.
    pub current_version: u64,
    /// The config it makes when applied.
    pub proposed: FlagConfig,
    /// The fields it changes, from the config it is based on to the proposed one.
    pub diff: Vec<FieldChangeBody>,
    /// Its approvals, oldest first.
    pub approvals: Vec<ApprovalBody>,
    /// The approvals the environment requires (the last one applies the change; at least one is needed).
    pub approvals_required: u32,
    /// Who applied, rejected or cancelled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// The reason given with a rejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The config version it made, once applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_version: Option<u64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<ChangeRequest> for ChangeRequestBody {
    fn from(r: ChangeRequest) -> Self {
        let diff = config_diff::diff(&r.base, &r.proposed)
            .into_iter()
            .map(|c| FieldChangeBody { field: c.field.to_owned(), before: c.before, after: c.after })
            .collect();
        ChangeRequestBody {
            id: r.id,
            flag: r.flag,
            environment: r.environment,
            state: r.state.as_str().to_owned(),
            action: r.action,
            author: r.author,
            comment: r.comment,
            base_version: r.base.version,
            current_version: r.current_version,
            proposed: r.proposed,
            diff,
            approvals: r.approvals.into_iter().map(|a| ApprovalBody { actor: a.actor, time: rfc3339(a.at) }).collect(),
            approvals_required: r.approvals_required,
            decided_by: r.decided_by,
            reason: r.decision,
            applied_version: r.applied_version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// The `Location` of a change request.
pub(crate) fn location(id: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(LOCATION, format!("/api/v1/change-requests/{id}").parse().expect("digits are valid header text"));
    headers
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// Of this environment only.
    environment: Option<String>,
    /// Of this flag only.
    flag: Option<String>,
    /// In this state only: `pending`, `stale`, `applied`, `rejected` or `cancelled`.
    state: Option<String>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Change requests, newest first.
#[utoipa::path(get, path = "/api/v1/change-requests", tag = "change-requests",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])), params(ListParams),
    responses((status = 200, body = Page<ChangeRequestBody>), (status = 400, body = ProblemBody),
        (status = 422, body = ProblemBody)))]
async fn list(
    _: Viewer,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Page<ChangeRequestBody>>, ApiError> {
    let limit = page_limit(params.limit)?;
    for (field, key) in [("environment", &params.environment), ("flag", &params.flag)] {
        if let Some(key) = key {
            check_key(field, key)?;
        }
    }
    let wanted = match params.state.as_deref() {
        None => None,
        Some(text) => Some(RequestState::parse(text).ok_or_else(|| {
            ApiError::bad_field("state", "state must be pending, stale, applied, rejected or cancelled")
        })?),
    };
    let before = match cursor_param(params.cursor.as_deref())? {
        Some(text) => Some(text.parse::<i64>().map_err(|_| not_our_cursor())?),
        None => None,
    };
    let filter =
        RequestFilter { environment: params.environment, flag: params.flag, state: wanted, before, limit: limit + 1 };
    let items = state.store.list_change_requests(&filter).await?.into_iter().map(ChangeRequestBody::from).collect();
    Ok(Json(Page::from_overfetch(items, limit, |r: &ChangeRequestBody| r.id.to_string())))
}

/// A change request's id in a path.
#[derive(Debug, Deserialize)]
struct RequestPath {
    id: i64,
}

/// A change request, with its diff.
#[utoipa::path(get, path = "/api/v1/change-requests/{id}", tag = "change-requests",
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("id" = i64, Path, description = "Change request id")),
    responses((status = 200, body = ChangeRequestBody), (status = 404, body = ProblemBody)))]
async fn get(
    _: Viewer,
    State(state): State<AppState>,
    Path(path): Path<RequestPath>,
) -> Result<Json<ChangeRequestBody>, ApiError> {
    Ok(Json(state.store.get_change_request(path.id).await?.into()))
}
