//! `/audit`: who changed what, newest first.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{Page, cursor_param, not_our_cursor, page_limit, parse_time, rfc3339};
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::http::error::{ApiError, Json, ProblemBody, Query};
use crate::store::{AuditEntry, AuditFilter, Role};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// One audit log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditBody {
    /// Increasing id.
    pub id: i64,
    /// When, RFC 3339.
    pub at: String,
    /// Who: `user:...`, `token:...`, `system:...` or `anonymous`.
    pub actor: String,
    /// What, e.g. `segment.update`, `config.toggle`.
    pub action: String,
    /// The kind of object: `environment`, `flag`, `config`, `segment`.
    pub resource: String,
    /// The object's key (`flag/environment` for configs).
    pub resource_key: String,
    /// The flag concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// The environment concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The object's version after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The object before (absent when created).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The object after (absent when deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Anything else recorded (e.g. a guard's evidence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl From<AuditEntry> for AuditBody {
    fn from(e: AuditEntry) -> Self {
        AuditBody {
            id: e.id,
            at: rfc3339(e.at),
            actor: e.actor,
            action: e.action,
            resource: e.resource,
            resource_key: e.resource_key,
            flag: e.flag,
            environment: e.environment,
            version: e.version,
            before: e.before,
            after: e.after,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// Only entries about this flag.
    flag: Option<String>,
    /// Only entries about this environment.
    environment: Option<String>,
    /// Only entries by this actor, e.g. `user:ada@example.com`.
    actor: Option<String>,
    /// From this time on (RFC 3339, inclusive).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before this time (RFC 3339, exclusive).
    #[param(format = DateTime)]
    until: Option<String>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The audit log, newest first, filtered by flag, environment, actor and time. Rows about users, sessions,
/// API tokens, SDK keys and failed sign-ins are shown in full to admins only: others see when and what,
/// with the actor and key `(redacted)` and no contents.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams), security(("bearer" = ["viewer"])),
    responses((status = 200, body = Page<AuditBody>), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_audit(
    caller: Viewer,
    State(state): State<AppState>,
    Query(params): Query<AuditParams>,
) -> Result<Json<Page<AuditBody>>, ApiError> {
    let limit = page_limit(params.limit)?;
    let since = params.since.as_deref().map(|t| parse_time("since", t)).transpose()?;
    let until = params.until.as_deref().map(|t| parse_time("until", t)).transpose()?;
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Err(ApiError::bad_field("until", "until must not be before since"));
    }
    let before_id = match cursor_param(params.cursor.as_deref())? {
        None => None,
        Some(position) => Some(position.parse::<i64>().map_err(|_| not_our_cursor())?),
    };
    let empty_is_none = |v: Option<String>| v.filter(|s| !s.is_empty());
    let filter = AuditFilter {
        flag: empty_is_none(params.flag),
        environment: empty_is_none(params.environment),
        actor: empty_is_none(params.actor),
        since,
        until,
        before_id,
        limit: limit + 1,
    };
    let admin = caller.0.role >= Role::Admin;
    let entries = state
        .store
        .list_audit(&filter)
        .await?
        .into_iter()
        .map(|e| if admin { e } else { e.for_non_admins() })
        .map(AuditBody::from)
        .collect();
    Ok(Json(Page::from_overfetch(entries, limit, |e| e.id.to_string())))
}
