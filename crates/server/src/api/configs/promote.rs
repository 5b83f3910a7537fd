//! `POST /flags/{flag}/promote`: copy a config from one environment to another.

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::common::IfMatch;
use super::{ChangeHeaders, ChangeRequestBody, ConfigBody, ConfigPath, write};
use crate::api::change_requests::ApprovalHeaders;
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Json, Path, ProblemBody};

/// Where from, where to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "from": "staging", "to": "production", "version": 12 }))]
pub struct Promote {
    /// The environment whose config is copied.
    pub from: String,
    /// The environment whose config is replaced.
    pub to: String,
    /// The version of the config in `to` this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// Copy a flag's config (on/off, targets, rules, default, prerequisites, off variant) from one environment
/// to another, as a new version there (audited as `config.promote`). It is validated in the target
/// environment, so a prerequisite that is missing there gives 422.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/promote", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = Promote,
    params(("flag" = String, Path, description = "Flag key"),
        ("If-Match" = Option<String>, Header, description = "The target config's version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody, description = "The config in `to`"),
        (status = 400, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn promote(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(flag): Path<String>,
    if_match: IfMatch,
    Json(body): Json<Promote>,
) -> Result<impl IntoResponse, ApiError> {
    if body.from == body.to {
        return Err(ApiError::invalid("to", "to must be another environment than from"));
    }
    let expected = if_match.or(body.version)?;
    let source = state.store.get_config(&flag, &body.from).await?.config;
    let target = ConfigPath { flag, env: body.to };
    // The store gives the copy its environment and next version.
    write(&state, &target, expected, "config.promote", (&caller, change), move |_, _| Ok(source)).await
}
