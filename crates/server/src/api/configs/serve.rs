//! `PUT .../default`, `PUT .../targets` and `PUT .../prerequisites`: replace one part of a config.

use axum::extract::State;
use axum::response::IntoResponse;
use pennon_engine::{Flag, FlagConfig, FlagKind, Prerequisite, Serve, Split, Target};
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::common::IfMatch;
use super::{ChangeHeaders, ChangeRequestBody, ConfigBody, ConfigPath, write};
use crate::api::change_requests::ApprovalHeaders;
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::StoreError;

/// The new default: exactly one of `variant`, `split` or `rollout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "rollout": { "variant": "on", "percent": 25 }, "version": 4 }))]
pub struct SetDefault {
    /// Everyone gets this variant.
    pub variant: Option<String>,
    /// Contexts are bucketed and the bucket picks the variant.
    pub split: Option<Split>,
    /// Boolean flags only: a shorthand for a split of `on` and `off`.
    pub rollout: Option<Rollout>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// A percentage rollout of a boolean flag: `{"variant": "on", "percent": 25}` is the split
/// `[{"variant": "on", "weight": 25000}, {"variant": "off", "weight": 75000}]` (weights in units of 1/100000,
/// so percentages are kept to three decimals). The named variant comes first, so raising the percentage
/// later only adds contexts to it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// `on` or `off`: the variant rolled out.
    pub variant: String,
    /// Its share, 0 to 100.
    pub percent: f64,
    /// The attribute hashed into a bucket (default `key`, the context key).
    pub bucket_by: Option<String>,
}

impl Rollout {
    pub(crate) fn into_split(self, flag: &Flag) -> Result<Split, StoreError> {
        let invalid = |path: &str, message: &str| {
            StoreError::Invalid(vec![pennon_engine::Problem { path: path.to_owned(), message: message.to_owned() }])
        };
        if flag.kind != FlagKind::Boolean {
            return Err(invalid("rollout", "a rollout is for boolean flags; other flags give a split"));
        }
        let other = match self.variant.as_str() {
            "on" => "off",
            "off" => "on",
            _ => return Err(invalid("rollout.variant", "must be \"on\" or \"off\"")),
        };
        if !(self.percent.is_finite() && (0.0..=100.0).contains(&self.percent)) {
            return Err(invalid("rollout.percent", "must be between 0 and 100"));
        }
        let bucket_by = self.bucket_by.as_deref().unwrap_or("key");
        Ok(crate::domain::plans::ramp_split(
            &self.variant,
            other,
            crate::domain::plans::weight(self.percent),
            bucket_by,
        ))
    }
}

/// Which of the three forms a new default came in.
enum Choice {
    Serve(Serve),
    Rollout(Rollout),
}

/// Set the default, what contexts no target or rule matched get (audited as `config.default`).
#[utoipa::path(put, path = "/api/v1/flags/{flag}/environments/{env}/default", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = SetDefault,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn set_default(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    if_match: IfMatch,
    Json(body): Json<SetDefault>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.version)?;
    let choice = match (body.variant, body.split, body.rollout) {
        (Some(v), None, None) => Choice::Serve(Serve::Variant(v)),
        (None, Some(s), None) => Choice::Serve(Serve::Split(s)),
        (None, None, Some(r)) => Choice::Rollout(r),
        _ => return Err(ApiError::invalid("default", "give exactly one of variant, split or rollout")),
    };
    write(&state, &at, expected, "config.default", (&caller, change), move |flag, current| {
        let default = match choice {
            Choice::Serve(serve) => serve,
            Choice::Rollout(rollout) => Serve::Split(rollout.into_split(flag)?),
        };
        Ok(FlagConfig { default, ..current.clone() })
    })
    .await
}

/// The new individual targets.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTargets {
    /// Replace the targets with these; a context key may appear once.
    pub targets: Vec<Target>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// Replace the individual targets (audited as `config.targets`).
#[utoipa::path(put, path = "/api/v1/flags/{flag}/environments/{env}/targets", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = SetTargets,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn set_targets(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    if_match: IfMatch,
    Json(body): Json<SetTargets>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.version)?;
    write(&state, &at, expected, "config.targets", (&caller, change), move |_, current| {
        Ok(FlagConfig { targets: body.targets, ..current.clone() })
    })
    .await
}

/// The new prerequisites.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPrerequisites {
    /// Replace the prerequisites with these; cycles are refused.
    pub prerequisites: Vec<Prerequisite>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// Replace the prerequisites (audited as `config.prerequisites`).
#[utoipa::path(put, path = "/api/v1/flags/{flag}/environments/{env}/prerequisites", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    request_body = SetPrerequisites,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn set_prerequisites(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    if_match: IfMatch,
    Json(body): Json<SetPrerequisites>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.version)?;
    write(&state, &at, expected, "config.prerequisites", (&caller, change), move |_, current| {
        Ok(FlagConfig { prerequisites: body.prerequisites, ..current.clone() })
    })
    .await
}
