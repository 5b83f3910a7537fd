//! `GET /sdk/relay`: what a relay needs besides the flags to serve an environment as this server does — the
//! digests of the environment's live SDK keys (never a secret), its allowed origins and the metrics its
//! guards watch. A relay polls it with `If-None-Match`; a relay answers it too, from what it learned, so that
//! relays chain.

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::auth::{RelayedKey, ServerKey};
use crate::http::error::{ApiError, ProblemBody};

/// A metric a guard of a flag watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WatchedMetric {
    /// The flag.
    pub flag: String,
    /// The metric.
    pub metric: String,
}

/// What a relay learns about one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RelayInfo {
    /// The environment the key belongs to.
    pub environment: String,
    /// Its live server and client keys, as SHA-256 digests, by id.
    pub keys: Vec<RelayedKey>,
    /// Web origins allowed to call the client-key endpoints.
    pub allowed_origins: Vec<String>,
    /// The (flag, metric) pairs its guards watch: SDK metrics for others are ignored.
    pub watched: Vec<WatchedMetric>,
}

/// What a relay needs to serve the environment of the key.
///
/// The digests (SHA-256, hex) of the environment's live SDK keys with their kind and expiry, its allowed
/// origins and the metrics its guards watch, from memory. `ETag` changes whenever any of it does; with
/// `If-None-Match` naming it the answer is 304. A revoked key leaves the list at once on the replica that
/// revoked it and within the refresh interval on the others.
#[utoipa::path(get, path = "/api/v1/sdk/relay", tag = "sdk",
    security(("sdk_key" = ["server"])),
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of the last answer")),
    responses(
        (status = 200, description = "What a relay needs", body = RelayInfo,
            headers(("ETag" = String, description = "Changes whenever the answer does"))),
        (status = 304, description = "Unchanged since the ETag of If-None-Match"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
pub(super) async fn get_relay_info(
    ServerKey(grant): ServerKey,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let environment = grant.environment;
    let info = RelayInfo {
        keys: state.auth.keys.live_of(&environment),
        allowed_origins: state.snapshots.origins().of(&environment),
        watched: state
            .snapshots
            .watched()
            .pairs_of(&environment)
            .into_iter()
            .map(|(flag, metric)| WatchedMetric { flag, metric })
            .collect(),
        environment,
    };
    let body = serde_json::to_vec(&info).map_err(|e| ApiError::Internal(e.into()))?;
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
    let etag = HeaderValue::from_str(&etag).expect("hex is a valid header");
    let unchanged = headers.get_all(IF_NONE_MATCH).iter().any(|v| v.as_bytes() == etag.as_bytes());
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response());
    }
    Ok(([(ETAG, etag), (CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}
