//! `GET .../history` and `POST .../revert`: every version a config has had, and going back to one.

use axum::extract::State;
use axum::response::IntoResponse;
use pennon_engine::FlagConfig;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::common::{IfMatch, Page, cursor_param, not_our_cursor, page_limit, rfc3339};
use super::{ChangeHeaders, ChangeRequestBody, ConfigBody, ConfigPath, write};
use crate::api::change_requests::ApprovalHeaders;
use crate::app::state::AppState;
use crate::auth::{Editor, Viewer};
use crate::http::error::{ApiError, Json, Path, ProblemBody, Query};

/// One version of a config.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// The version.
    pub version: u64,
    /// The edit that produced it, e.g. `config.toggle`; `flag.create` or `environment.create` for version 1.
    pub action: String,
    /// Who made it.
    pub actor: String,
    /// RFC 3339.
    pub time: String,
    /// The config as it was at this version.
    pub config: FlagConfig,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryParams {
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The version to go back to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revert {
    /// The version whose content becomes current again.
    #[serde(deserialize_with = "pennon_engine::whole_numbers::integer")]
    pub version: u64,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub base_version: Option<u64>,
}

/// A config's versions, newest first.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/history", tag = "configs", security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        HistoryParams),
    responses((status = 200, body = Page<HistoryEntry>), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody)))]
pub(super) async fn history(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<Page<HistoryEntry>>, ApiError> {
    let limit = page_limit(params.limit)?;
    let before = match cursor_param(params.cursor.as_deref())? {
        Some(text) => Some(text.parse::<u64>().map_err(|_| not_our_cursor())?),
        None => None,
    };
    let versions = state.store.config_history(&at.flag, &at.env, before, limit + 1).await?;
    let items = versions
        .into_iter()
        .map(|v| HistoryEntry {
            version: v.config.version,
            action: v.action,
            actor: v.actor,
            time: rfc3339(v.created_at),
            config: v.config,
        })
        .collect();
    Ok(Json(Page::from_overfetch(items, limit, |e: &HistoryEntry| e.version.to_string())))
}

/// Make an earlier version's content current again, as a new version (audited as `config.revert`). The
/// content is validated as any edit is: a variant removed since then, for instance, gives 422.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/revert", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = Revert,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody, description = "No such flag, environment or version"),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn revert(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    if_match: IfMatch,
    Json(body): Json<Revert>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = match (if_match.0, body.base_version) {
        (Some(h), Some(b)) if h != b => {
            return Err(ApiError::invalid("base_version", "If-Match and base_version disagree"));
        }
        (h, b) => h.or(b),
    };
    let old = state.store.config_version(&at.flag, &at.env, body.version).await?;
    // The store gives the result its flag, environment and next version.
    write(&state, &at, expected, "config.revert", (&caller, change), move |_, _| Ok(old)).await
}
