//! `POST /flags/{flag}/environments/{env}/toggle`: turn a flag on or off.

use axum::extract::State;
use axum::response::IntoResponse;
use pennon_engine::FlagConfig;
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::common::IfMatch;
use super::{ChangeHeaders, ChangeRequestBody, ConfigBody, ConfigPath, OptionalJson, write};
use crate::api::change_requests::ApprovalHeaders;
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Path, ProblemBody};

/// What to switch to. The whole body is optional: without one the flag flips.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Toggle {
    /// On or off; flips when omitted.
    pub enabled: Option<bool>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// Turn a flag on or off in an environment (audited as `config.toggle`). `{"enabled": true}` turns it on
/// whatever it was; no body flips it. Name the version it is based on (`If-Match`) so that two people
/// flipping at once do not cancel each other out.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/toggle", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    request_body(content = Option<Toggle>, description = "Optional; without it the flag flips"),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub(super) async fn toggle(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    if_match: IfMatch,
    OptionalJson(body): OptionalJson<Toggle>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.unwrap_or_default();
    let expected = if_match.or(body.version)?;
    write(&state, &at, expected, "config.toggle", (&caller, change), move |_, current| {
        Ok(FlagConfig { enabled: body.enabled.unwrap_or(!current.enabled), ..current.clone() })
    })
    .await
}
