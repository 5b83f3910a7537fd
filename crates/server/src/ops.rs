//! Operations endpoints: `/healthz` (the process is up) and `/readyz` (it can serve: snapshots loaded and
//! the database reachable, else 503 saying why).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::state::AppState;

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let environments = state.snapshots.revisions();
    match state.store.ping().await {
        Ok(()) => {
            (StatusCode::OK, Json(json!({ "status": "ready", "database": "ok", "environments": environments.len() })))
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "degraded",
                "database": "unreachable",
                "detail": format!("{e}: evaluation and streaming serve the last snapshots; writes answer 503"),
                "environments": environments.len(),
            })),
        ),
    }
}
