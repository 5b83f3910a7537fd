//! `GET /flags/{flag}`: the definition with its config in every environment.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::IntoResponse;
use pennon_engine::FlagConfig;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::common::etag;
use super::FlagBody;
use super::usage::FlagUsageBody;
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::http::error::{ApiError, Json, Path, ProblemBody};

/// A flag definition with its config in every environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagDetail {
    /// The definition.
    #[serde(flatten)]
    pub flag: FlagBody,
    /// The config in each environment, by environment key.
    pub environments: BTreeMap<String, FlagConfig>,
    /// When it was last evaluated, how often, and whether it is a cleanup candidate.
    pub usage: FlagUsageBody,
}

/// Get a flag: its definition (`ETag` is its version) and its config in every environment.
#[utoipa::path(get, path = "/api/v1/flags/{flag}", tag = "flags", security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("flag" = String, Path, description = "Flag key")),
    responses((status = 200, body = FlagDetail), (status = 404, body = ProblemBody)))]
pub(super) async fn get_flag(
    _: Viewer,
    State(state): State<AppState>,
    Path(flag): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (record, configs) = state.store.get_flag_with_configs(&flag).await?;
    let version = record.version;
    let environments = configs.into_iter().map(|c| (c.environment.clone(), c)).collect();
    let usage = super::usage::of_flag(&state, &flag).await?;
    Ok((etag(version), Json(FlagDetail { flag: record.into(), environments, usage })))
}
