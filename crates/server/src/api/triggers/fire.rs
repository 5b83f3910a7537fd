//! `POST /triggers/{secret}`: a trigger URL. The secret is the only credential; the change it makes goes
//! through the same write as a toggle (version, history, audit row, the change pushed to SDKs).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::auth::secrets;
use crate::domain::triggers::read_notification;
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::Fired;

/// What a POST to a trigger did.
#[derive(Debug, Serialize, ToSchema)]
pub struct FireBody {
    /// The trigger's id.
    pub trigger: i64,
    /// The flag.
    pub flag: String,
    /// The environment.
    pub environment: String,
    /// How the body was read: `plain` (empty or any JSON), or an Alertmanager `firing` or `resolved`.
    pub notification: String,
    /// `turned_off`, `turned_on`, `unchanged` (the flag was already so: nothing written) or `ignored` (a
    /// resolved alert and `on_resolved` is `none`).
    pub result: String,
    /// Whether the flag is on now.
    pub enabled: bool,
    /// The config's version now.
    pub version: u64,
}

fn not_found() -> ApiError {
    ApiError::NotFound("trigger".to_owned())
}

/// Reads the body, refusing one over `limit` bytes (413) as soon as it passes the limit.
async fn read_body(request: Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut stream = request.into_body().into_data_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest { detail: format!("reading the body: {e}"), field: None })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Fire a trigger: turn its flag off (or on).
///
/// No body, or any JSON, performs the trigger's action. An Alertmanager webhook notification (`{"version":
/// "4", "status": "firing" | "resolved", "alerts": [...]}`) performs the action when firing and the
/// trigger's `on_resolved` when resolved. The change is recorded as by `trigger:<name>` and reaches SDKs like
/// any other; a flag already in that state is left as it is. An unknown or revoked secret answers 404; a
/// trigger used more than `--trigger-rate-limit` times a minute answers 429.
#[utoipa::path(post, path = "/api/v1/triggers/{secret}", tag = "triggers", security(()),
    request_body(content = Option<Object>, description = "Optional: any JSON, or an Alertmanager webhook notification"),
    params(("secret" = String, Path, description = "The secret of the trigger's URL")),
    responses((status = 200, body = FireBody), (status = 400, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 413, body = ProblemBody),
        (status = 429, description = "Used too often this minute (`Retry-After`)", body = ProblemBody)))]
pub(super) async fn fire(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    // One hash and one lookup in memory, whatever the secret: no database work for an unknown one.
    if secret.len() != secrets::TRIGGER_PREFIX.len() + 64 {
        return Err(not_found());
    }
    let trigger = state.auth.trigger_table.check(&secret).ok_or_else(not_found)?;
    if let Err(wait) = state.auth.triggers.allow(trigger.id, Instant::now()) {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        return Ok((StatusCode::TOO_MANY_REQUESTS, headers, ApiError::TooManyRequests).into_response());
    }
    let body = read_body(request, state.config.trigger_max_body_bytes).await?;
    let notification = read_notification(&body).map_err(|bad| match bad.field {
        Some(field) => ApiError::bad_field(field, bad.detail),
        None => ApiError::BadRequest { detail: bad.detail, field: None },
    })?;
    let answer = |result: &str, enabled: bool, version: u64| FireBody {
        trigger: trigger.id,
        flag: trigger.flag.clone(),
        environment: trigger.environment.clone(),
        notification: notification.as_str().to_owned(),
        result: result.to_owned(),
        enabled,
        version,
    };
    let Some(action) = notification.action(trigger.action, trigger.on_resolved) else {
        let config = state.store.get_config(&trigger.flag, &trigger.environment).await?.config;
        return Ok(Json(answer("ignored", config.enabled, config.version)).into_response());
    };
    match state.store.fire_trigger(&trigger, action, notification).await.map_err(|e| match e {
        crate::store::StoreError::NotFound(_) => not_found(),
        other => other.into(),
    })? {
        Fired::Unchanged(config) => Ok(Json(answer("unchanged", config.enabled, config.version)).into_response()),
        Fired::Changed(record, revisions) => {
            state.snapshots.after_commit(&revisions).await;
            let result = if record.config.enabled { "turned_on" } else { "turned_off" };
            tracing::info!(trigger = trigger.id, flag = %trigger.flag, environment = %trigger.environment,
                notification = notification.as_str(), result, "trigger fired");
            Ok(Json(answer(result, record.config.enabled, record.config.version)).into_response())
        }
    }
}
