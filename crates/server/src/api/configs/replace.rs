//! `GET` and `PUT /flags/{flag}/environments/{env}`: read a config, or replace it whole.

use axum::extract::State;
use axum::response::IntoResponse;
use pennon_engine::{FlagConfig, Prerequisite, Rule, Serve, Target};
use serde::Deserialize;
use serde::de::IgnoredAny;
use utoipa::ToSchema;

use super::super::common::{IfMatch, etag};
use super::{ChangeHeaders, ChangeRequestBody, ConfigBody, ConfigPath, write};
use crate::api::change_requests::ApprovalHeaders;
use crate::app::state::AppState;
use crate::auth::{Editor, Viewer};
use crate::http::error::{ApiError, Json, Path, ProblemBody};

/// A whole config. What `GET` answers can be sent back changed: `flag` and `environment` must then name
/// this config, `version` is the version the change is based on, and `updated_at`/`updated_by` are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "version": 3, "enabled": true, "off_variant": "off",
    "targets": [{ "variant": "on", "keys": ["user-1"] }],
    "rules": [{ "id": "pro", "conditions": [{ "attribute": "plan", "operator": "in", "values": ["pro"] }],
        "serve": { "variant": "on" } }],
    "default": { "variant": "off" }, "prerequisites": [] }))]
pub struct ReplaceConfig {
    /// The flag's key, if given.
    pub flag: Option<String>,
    /// The environment's key, if given.
    pub environment: Option<String>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
    /// Whether the flag is on.
    pub enabled: bool,
    /// Served when disabled or when a prerequisite fails.
    pub off_variant: String,
    /// Individual targets.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Rules, in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What everybody else gets.
    pub default: Serve,
    /// Flags that must serve a given variant for this one to be on.
    #[serde(default)]
    pub prerequisites: Vec<Prerequisite>,
    /// Ignored (read-only).
    #[serde(default, rename = "updated_at")]
    #[schema(value_type = Option<String>)]
    pub _updated_at: Option<IgnoredAny>,
    /// Ignored (read-only).
    #[serde(default, rename = "updated_by")]
    #[schema(value_type = Option<String>)]
    pub _updated_by: Option<IgnoredAny>,
}

/// Get a flag's config in an environment; `ETag` is its version.
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}", tag = "configs", security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key")),
    responses((status = 200, body = ConfigBody), (status = 404, body = ProblemBody)))]
pub(super) async fn get_config(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
) -> Result<impl IntoResponse, ApiError> {
    let record = state.store.get_config(&at.flag, &at.env).await?;
    Ok((etag(record.config.version), Json(ConfigBody::from(record))))
}

/// Replace a flag's config in an environment (audited as `config.replace`).
#[utoipa::path(put, path = "/api/v1/flags/{flag}/environments/{env}", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = ReplaceConfig,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Stale version (`current_version` says the current one), or the flag is archived"),
        (status = 422, body = ProblemBody, description = "Every problem, each with its path")))]
pub(super) async fn replace_config(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    if_match: IfMatch,
    Json(body): Json<ReplaceConfig>,
) -> Result<impl IntoResponse, ApiError> {
    if body.flag.as_ref().is_some_and(|f| *f != at.flag) {
        return Err(ApiError::invalid("flag", "flag does not match the flag in the path"));
    }
    if body.environment.as_ref().is_some_and(|e| *e != at.env) {
        return Err(ApiError::invalid("environment", "environment does not match the environment in the path"));
    }
    let expected = if_match.or(body.version)?;
    write(&state, &at, expected, "config.replace", (&caller, change), move |_, current| {
        Ok(FlagConfig {
            enabled: body.enabled,
            off_variant: body.off_variant,
            targets: body.targets,
            rules: body.rules,
            default: body.default,
            prerequisites: body.prerequisites,
            ..current.clone()
        })
    })
    .await
}
