//! `/flags/{flag}/environments/{env}/triggers` (editor; viewer to list): trigger URLs that turn a flag off (or
//! on) when POSTed to — create (the URL shown once), list, revoke — and `/triggers/{secret}`, the URL itself
//! ([`fire`]).

mod fire;

use axum::extract::State;
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{check_name, rfc3339};
use crate::api::rules::Label;
use crate::app::state::AppState;
use crate::auth::{Editor, Viewer, secrets};
use crate::domain::triggers::{OnResolved, TriggerAction};
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::{Trigger, TriggerDraft};

/// Where trigger URLs live: the secret follows.
pub const TRIGGER_PATH: &str = "/api/v1/triggers/";

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_triggers, create_trigger))
        .routes(routes!(revoke_trigger))
        .routes(routes!(fire::fire))
}

/// A trigger (never its secret, except once at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerBody {
    /// Id.
    pub id: i64,
    /// The flag it changes.
    pub flag: String,
    /// The environment it changes the flag in.
    pub environment: String,
    /// What it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What a POST to it (or a firing Alertmanager alert) does to the flag.
    pub action: TriggerAction,
    /// What a resolved Alertmanager alert does.
    pub on_resolved: OnResolved,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the last time it changed the flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fired_at: Option<String>,
}

impl From<Trigger> for TriggerBody {
    fn from(t: Trigger) -> Self {
        TriggerBody {
            id: t.id,
            flag: t.flag,
            environment: t.environment,
            name: t.name,
            action: t.action,
            on_resolved: t.on_resolved,
            prefix: t.prefix,
            created_by: t.created_by,
            created_at: rfc3339(t.created_at),
            last_fired_at: t.last_fired_at.map(rfc3339),
        }
    }
}

/// The triggers of a flag in an environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerList {
    /// The triggers not revoked, oldest first.
    pub items: Vec<TriggerBody>,
}

/// A new trigger.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTrigger {
    /// What a POST to it (or a firing Alertmanager alert) does to the flag.
    pub action: TriggerAction,
    /// What it is for; its changes are recorded as by `trigger:<name>` (`trigger:<id>` without one).
    #[schema(value_type = Option<Label>)]
    pub name: Option<String>,
    /// What a resolved Alertmanager alert does (default `none`: the flag stays as the alert left it).
    #[serde(default)]
    pub on_resolved: OnResolved,
}

/// A trigger just created: its URL holds the secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTrigger {
    /// The URL to POST to. It cannot be shown again.
    pub url: String,
    /// The URL's path (`/api/v1/triggers/pnn_trg_...`).
    pub path: String,
    /// The trigger's record.
    #[serde(flatten)]
    pub record: TriggerBody,
}

/// The path parameters of a flag in an environment.
#[derive(Debug, Deserialize)]
struct ConfigPath {
    flag: String,
    env: String,
}

/// The path parameters of one trigger.
#[derive(Debug, Deserialize)]
struct TriggerPath {
    flag: String,
    env: String,
    id: i64,
}

async fn reload_triggers(state: &AppState) {
    if let Err(e) = state.auth.trigger_table.reload(&state.store).await {
        tracing::warn!(error = %e, "could not reload the trigger URLs; the refresh loop will");
    }
}

/// Where this server is reached: `--public-url`, or `http://` and the request's `Host`.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(public) = &state.config.public_url {
        return public.trim_end_matches('/').to_owned();
    }
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).filter(|h| {
        !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    host.map(|h| format!("http://{h}")).unwrap_or_default()
}

/// List the triggers of a flag in an environment (never their secrets).
#[utoipa::path(get, path = "/api/v1/flags/{flag}/environments/{env}/triggers", tag = "triggers",
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key")),
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    responses((status = 200, body = TriggerList), (status = 404, body = ProblemBody)))]
async fn list_triggers(
    _: Viewer,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
) -> Result<Json<TriggerList>, ApiError> {
    let items = state.store.list_triggers(&at.flag, &at.env).await?;
    Ok(Json(TriggerList { items: items.into_iter().map(Into::into).collect() }))
}

/// Create a trigger URL for a flag in an environment (audited as `trigger.create`). A POST to the URL turns
/// the flag off (or on); the URL is answered this once.
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/triggers", tag = "triggers",
    request_body = CreateTrigger,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key")),
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    responses((status = 201, body = CreatedTrigger), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn create_trigger(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    headers: HeaderMap,
    Json(body): Json<CreateTrigger>,
) -> Result<impl IntoResponse, ApiError> {
    // A trigger URL changes the config without a change request: where config changes need approval, only an
    // admin may hand one out.
    crate::api::change_requests::only_approved_paths(&state, caller.0.role, &at.env).await?;
    let name = match body.name.as_deref() {
        Some(name) => {
            check_name("name", name)?;
            Some(name.trim().to_owned())
        }
        None => None,
    };
    let draft = TriggerDraft { name, action: body.action, on_resolved: body.on_resolved };
    let secrets::NewSecret { secret, hash, prefix } = secrets::NewSecret::generate(secrets::TRIGGER_PREFIX);
    let record = state.store.create_trigger(&at.flag, &at.env, &draft, &hash, &prefix, caller.actor()).await?;
    reload_triggers(&state).await;
    let path = format!("{TRIGGER_PATH}{secret}");
    let url = format!("{}{path}", base_url(&state, &headers));
    Ok((StatusCode::CREATED, Json(CreatedTrigger { url, path, record: record.into() })))
}

/// Revoke a trigger (audited as `trigger.revoke`): its URL answers 404 from now on.
#[utoipa::path(delete, path = "/api/v1/flags/{flag}/environments/{env}/triggers/{id}", tag = "triggers",
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("id" = i64, Path, description = "Trigger id")),
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    responses((status = 204), (status = 404, body = ProblemBody)))]
async fn revoke_trigger(
    caller: Editor,
    State(state): State<AppState>,
    Path(at): Path<TriggerPath>,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_trigger(&at.flag, &at.env, at.id, caller.actor()).await?;
    reload_triggers(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
