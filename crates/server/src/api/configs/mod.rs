//! `/flags/{flag}/environments/{env}`: a flag's config in one environment, the small edits to it, its history,
//! and promotion between environments.
//!
//! Every edit is one `update_config` call: one transaction that checks the version the edit was based on
//! (`If-Match` or `version` in the body; a stale one answers 409 with `current_version`), validates the
//! result (422 lists every problem with its path, e.g. `rules[2].serve.split.weights`), records history, the
//! change log and an audit row named after the edit (`config.toggle`, `config.rule.add`, ...). The snapshot
//! evaluation reads is caught up before the answer goes out.
//!
//! In an environment that requires approvals (`approvals_required` above 0), an edit by an editor, or by an
//! admin without an `X-Pennon-Bypass-Reason` header, is validated the same way but not applied: it answers
//! 202 with a change request (`/api/v1/change-requests`), which may carry the `X-Pennon-Comment` header's
//! text. An admin's bypass applies at once and the audit row keeps the reason.

mod history;
mod promote;
pub(super) mod replace;
mod rules;
pub(super) mod serve;
pub(super) mod toggle;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pennon_engine::{Flag, FlagConfig, Problem};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::change_requests::{ChangeHeaders, ChangeRequestBody, location};
use super::common::{etag, rfc3339};
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Json, is_json, parse_object};
use crate::store::{ChangeOutcome, ConfigRecord, StoreError};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(replace::get_config, replace::replace_config))
        .routes(routes!(toggle::toggle))
        .routes(routes!(serve::set_default))
        .routes(routes!(serve::set_targets))
        .routes(routes!(serve::set_prerequisites))
        .routes(routes!(rules::add_rule))
        .routes(routes!(rules::update_rule, rules::delete_rule))
        .routes(routes!(rules::reorder_rules))
        .routes(routes!(history::history))
        .routes(routes!(history::revert))
        .routes(routes!(promote::promote))
}

/// A flag's config in one environment, as in the wire format, with who changed it last.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigBody {
    /// The config; its `version` is also the `ETag`.
    #[serde(flatten)]
    pub config: FlagConfig,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
    /// Who made the last change.
    pub updated_by: String,
}

impl From<ConfigRecord> for ConfigBody {
    fn from(r: ConfigRecord) -> Self {
        ConfigBody { config: r.config, updated_at: rfc3339(r.updated_at), updated_by: r.updated_by }
    }
}

/// The path parameters of a config.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ConfigPath {
    flag: String,
    env: String,
}

/// A rule with this id could not be addressed: `.../rules/reorder` is the reorder action.
const RESERVED_RULE_ID: &str = "reorder";

/// Applies one edit through the store and catches the environment's snapshot up before answering; where
/// the environment requires approvals, keeps it as a change request instead and answers 202 with it.
async fn write(
    state: &AppState,
    at: &ConfigPath,
    expected: Option<u64>,
    action: &str,
    (caller, change): (&Editor, ChangeHeaders),
    edit: impl FnOnce(&Flag, &FlagConfig) -> Result<FlagConfig, StoreError>,
) -> Result<Response, ApiError> {
    let mode = change.mode(&caller.0, &state.config.approvals)?;
    let edit = |flag: &Flag, current: &FlagConfig| {
        let next = edit(flag, current)?;
        if let Some(i) = next.rules.iter().position(|r| r.id == RESERVED_RULE_ID) {
            let message = "\"reorder\" is reserved: it would clash with .../rules/reorder".to_owned();
            return Err(StoreError::Invalid(vec![Problem { path: format!("rules[{i}].id"), message }]));
        }
        Ok(next)
    };
    let outcome = state.store.change_config(&at.flag, &at.env, expected, action, caller.actor(), mode, edit).await?;
    Ok(match outcome {
        ChangeOutcome::Applied(record, revisions) => {
            state.snapshots.after_commit(&revisions).await;
            (etag(record.config.version), Json(ConfigBody::from(*record))).into_response()
        }
        ChangeOutcome::Proposed(request) => {
            let id = request.id;
            (StatusCode::ACCEPTED, location(id), Json(ChangeRequestBody::from(*request))).into_response()
        }
    })
}

/// A JSON body that may be left out entirely (`None`); when present, it is read like [`Json`].
#[derive(Debug)]
pub(crate) struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            _ => ApiError::BadRequest { detail: e.body_text(), field: None },
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType("expected Content-Type: application/json".into()));
        }
        parse_object(&bytes).map(|value| OptionalJson(Some(value)))
    }
}
