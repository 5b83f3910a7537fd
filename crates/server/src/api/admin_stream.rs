//! `GET /admin/stream`: the dashboard's live feed of changes and audit rows.

use axum::extract::State;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::delivery::streams::{Subscriber, frames};
use crate::http::error::{ApiError, ProblemBody};
use crate::store::Role;
use crate::telemetry::metrics::StreamKind;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_stream))
}

/// Live changes and audit rows, for the dashboard.
///
/// Server-Sent Events (`text/event-stream`), for any signed-in user (the session cookie works, so a
/// browser's `EventSource` can use it):
///
/// - `event: change` when an environment's snapshot moves on this server (after a write here or on another
///   replica): `{"environment", "revision", "kind": "flag"|"segment", "key", "op": "put"|"delete"}`; a whole
///   environment reloaded or removed gives `"kind": "environment"` with `"op": "reload"` or `"delete"`.
/// - `event: audit` for each new audit row (from any replica, within about a second), as in `GET /audit`
///   (rows about accounts and credentials redacted for non-admins, as there).
/// - a `: heartbeat` comment at the configured interval.
///
/// Events are not replayed on reconnection: a client reloads what it shows, then follows the stream.
#[utoipa::path(get, path = "/api/v1/admin/stream", tag = "audit",
    security(("bearer" = ["viewer"]), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream"),
        (status = 401, body = ProblemBody),
        (status = 503, description = "The server is shutting down", body = ProblemBody)))]
async fn admin_stream(caller: Viewer, State(state): State<AppState>) -> Result<Response, ApiError> {
    let admin = caller.0.role >= Role::Admin;
    let rx = state.streams.admin.subscribe(&state.store, admin).await.ok_or(ApiError::Unavailable)?;
    let subscriber = Subscriber::new(rx, 0, StreamKind::Admin, &state.metrics);
    Ok(crate::delivery::streams::response(vec![frames::retry()], subscriber))
}
