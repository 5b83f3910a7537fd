//! `GET /sdk/snapshot`: the whole environment, with the revision as its ETag.

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::current::at_least;
use crate::app::state::AppState;
use crate::auth::ServerKey;
use crate::http::error::{ApiError, ProblemBody};

/// The highest revision an `If-None-Match` header names (what the client holds), if any.
pub(super) fn held_revision(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|tag| {
            let tag = tag.trim();
            tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"').parse::<u64>().ok()
        })
        .max()
}

/// Whether an `If-None-Match` header names the revision (`"42"`, `W/"42"`, a list of them, or `*`).
pub(super) fn matches_revision(headers: &HeaderMap, revision: u64) -> bool {
    let wanted = revision.to_string();
    headers.get_all(IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|tag| {
        let tag = tag.trim();
        let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
        tag == "*" || tag == wanted
    })
}

/// The environment's snapshot.
///
/// Every flag (not archived) with its config, and every segment, as `pennon-engine`'s `Snapshot`:
/// `{environment, revision, flags: [{definition, config}], segments}`. Served from memory (it keeps working
/// while the database is down). `ETag` is the revision; with `If-None-Match` naming it the answer is 304.
/// An `If-None-Match` naming a revision this server has not reached makes it catch up first, or answer 503
/// with `Retry-After`: it never answers with an older snapshot than the client holds.
#[utoipa::path(get, path = "/api/v1/sdk/snapshot", tag = "sdk",
    security(("sdk_key" = ["server"])),
    params(("If-None-Match" = Option<String>, Header, description = "The revision held, e.g. \"42\"")),
    responses(
        (status = 200, description = "The snapshot", body = Object, content_type = "application/json",
            headers(("ETag" = String, description = "The revision, quoted"))),
        (status = 304, description = "The revision named by If-None-Match is still current"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 503, description = "This server has not reached the revision of `If-None-Match` and cannot catch up \
            now (with `Retry-After`)", body = ProblemBody)))]
pub(super) async fn get_snapshot(
    ServerKey(grant): ServerKey,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snapshot = match at_least(&state, &grant.environment, held_revision(&headers)).await {
        Ok(snapshot) => snapshot,
        Err(response) => return Ok(response),
    };
    let revision = snapshot.revision();
    let etag = HeaderValue::from_str(&format!("\"{revision}\"")).expect("digits are a valid header");
    if matches_revision(&headers, revision) {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response());
    }
    let json = state.streams.sdk.snapshot_json(&snapshot);
    Ok(([(ETAG, etag), (CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(matches_revision(&with("\"42\""), 42));
        assert!(matches_revision(&with("W/\"42\""), 42));
        assert!(matches_revision(&with("\"41\", \"42\""), 42));
        assert!(matches_revision(&with("*"), 42));
        assert!(!matches_revision(&with("\"41\""), 42));
        assert!(!matches_revision(&HeaderMap::new(), 42));
        assert_eq!(held_revision(&with("W/\"41\", \"43\", *")), Some(43));
        assert_eq!(held_revision(&with("*")), None);
    }
}
