//! `GET /sdk/stream`: the environment's changes as Server-Sent Events.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::current::at_least;
use crate::app::state::AppState;
use crate::auth::ServerKey;
use crate::delivery::snapshots::EnvSnapshot;
use crate::delivery::streams::{Subscriber, frames};
use crate::http::error::{ApiError, ProblemBody};
use crate::telemetry::metrics::StreamKind;

/// How long a replay from the change log may take before the subscriber gets a `put` instead.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(2);

/// The revision a reconnecting client holds, from `Last-Event-ID`.
fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers.get("last-event-id")?.to_str().ok()?.trim().parse().ok()
}

/// The environment's changes, as they are committed.
///
/// Server-Sent Events (`text/event-stream`) as in `docs/sdk-protocol.md`: `retry:` first; then `event: put`
/// with the whole snapshot; then `event: patch` (one flag or segment, `{revision, kind, key, version,
/// object}`) and `event: delete` (`{revision, kind, key}`) per changed object, each with `id:` = the
/// environment revision; a `: heartbeat` comment at the configured interval (15 s by default). With
/// `Last-Event-ID` the changes since that revision are replayed instead of the `put` (nothing when it is
/// current), or a `put` comes when they are no longer known. A subscriber that falls too far behind, or
/// stops reading, is disconnected and resumes with `Last-Event-ID`. A `Last-Event-ID` ahead of this server
/// makes it catch up first, or answer 503 with `Retry-After`: it never sends an older `put`. The stream ends
/// when its key is revoked, rotated out or expires.
#[utoipa::path(get, path = "/api/v1/sdk/stream", tag = "sdk",
    security(("sdk_key" = ["server"])),
    params(("Last-Event-ID" = Option<String>, Header, description = "The revision held, on reconnection")),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 503, description = "The server is shutting down, or has not reached the revision of `Last-Event-ID` \
            and cannot catch up now (with `Retry-After`)", body = ProblemBody)))]
pub(super) async fn stream(
    ServerKey(grant): ServerKey,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let environment = grant.environment.clone();
    let held = last_event_id(&headers);
    // Subscribed before the snapshot is read: nothing committed after it can be missed, and frames the
    // snapshot already holds are skipped by revision.
    let rx = state.streams.sdk.subscribe(&environment).ok_or(ApiError::Unavailable)?;
    let snapshot = match at_least(&state, &environment, held).await {
        Ok(snapshot) => snapshot,
        Err(response) => return Ok(response),
    };
    let revision = snapshot.revision();
    let mut first = vec![frames::retry()];
    match held {
        Some(held) if held == revision => {}
        Some(held) if held < revision => match replay(&state, &environment, held, revision).await {
            Some(frames) => first.extend(frames),
            None => first.extend(put(&state, &snapshot)),
        },
        _ => first.extend(put(&state, &snapshot)),
    }
    let keys = state.clone();
    let subscriber = Subscriber::new(rx, revision, StreamKind::Sdk, &state.metrics)
        .until(async move { keys.auth.keys.until_unusable(&grant).await });
    Ok(crate::delivery::streams::response(first, subscriber))
}

/// A `put` of the snapshot, in three buffers: the encoded snapshot is shared, not copied.
fn put(state: &AppState, snapshot: &EnvSnapshot) -> [Bytes; 3] {
    let json = state.streams.sdk.snapshot_json(snapshot);
    [frames::put_head(snapshot.revision()), json, frames::EVENT_END]
}

/// The changes after `held` up to `revision`: from memory when the hub still has them, else from the change
/// log; `None` when neither reaches back that far (or the database does not answer).
async fn replay(state: &AppState, environment: &str, held: u64, revision: u64) -> Option<Vec<Bytes>> {
    if let Some(frames) = state.streams.sdk.replay(environment, held, revision) {
        return Some(frames);
    }
    let read = tokio::time::timeout(REPLAY_TIMEOUT, state.store.changes_since(environment, held)).await;
    let (rows, _) = match read {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return None,
        Ok(Err(e)) => {
            tracing::debug!(environment, error = %e, "cannot replay from the change log; sending a snapshot");
            return None;
        }
        Err(_) => {
            tracing::debug!(environment, "the change log did not answer in time; sending a snapshot");
            return None;
        }
    };
    // Later revisions arrive through the subscription once the snapshot has them.
    let rows: Vec<_> = rows.into_iter().filter(|row| row.revision <= revision).collect();
    if rows.last().is_none_or(|row| row.revision < revision) {
        return None;
    }
    Some(frames::changes(&rows).into_iter().map(|(_, bytes)| bytes).collect())
}
