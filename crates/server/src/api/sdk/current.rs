//! Monotonic delivery: a client that holds a revision this replica has not reached (it was served by another
//! replica, and this one's notifications are late) is never sent an older state. The replica catches the
//! environment up from the database first; when the database does not answer in time, the client is told to
//! come back (`503` with `Retry-After`) and keeps what it holds.

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use crate::app::state::AppState;
use crate::delivery::snapshots::EnvSnapshot;
use crate::http::error::{ApiError, ProblemBody};

/// The `Retry-After` of that answer, in seconds.
const RETRY_AFTER_SECONDS: u32 = 1;

/// The environment's snapshot at revision `held` or later. When this replica is behind `held` it catches up
/// from the database; if the database confirms a lower revision (an id it never issued, or a database restored
/// from a backup), its state is the truth and is returned. When the database does not answer in time, the
/// answer is a 503 with `Retry-After`.
pub(super) async fn at_least(
    state: &AppState,
    environment: &str,
    held: Option<u64>,
) -> Result<Arc<EnvSnapshot>, Response> {
    let not_found = || ApiError::NotFound(format!("environment \"{environment}\"")).into_response();
    let snapshot = state.snapshots.get(environment).ok_or_else(not_found)?;
    let Some(held) = held.filter(|held| *held > snapshot.revision()) else { return Ok(snapshot) };
    match tokio::time::timeout(state.config.catch_up_timeout, state.snapshots.catch_up(environment)).await {
        Ok(Ok(())) => state.snapshots.get(environment).ok_or_else(not_found),
        Ok(Err(e)) => {
            tracing::debug!(environment, held, error = %e, "behind the client and cannot catch up; answering 503");
            Err(behind(held))
        }
        Err(_) => {
            tracing::debug!(environment, held, "behind the client and the database is slow; answering 503");
            Err(behind(held))
        }
    }
}

/// 503 with `Retry-After`: this replica has not reached the revision the client holds.
fn behind(held: u64) -> Response {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let body = ProblemBody {
        kind: "/problems/behind".to_owned(),
        title: status.canonical_reason().unwrap_or("error").to_owned(),
        status: status.as_u16(),
        detail: format!("this server has not reached revision {held} yet; keep what you hold and try again"),
        field: None,
        errors: Vec::new(),
        current_version: None,
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}
