//! The relay's HTTP side: the server's own SDK, evaluation and OFREP handlers and its route layer (request
//! metrics, the CORS step of the evaluation routes, the body limit), with `/healthz`, `/metrics` and a
//! `/readyz` of the relay's: ready once every environment has a snapshot and keys, `degraded` while any is
//! served without a live upstream stream (or from the cache).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tower::{Layer as _, Service};
use utoipa_axum::router::OpenApiRouter;

use super::Relay;
use super::status::{SlotView, Source};
use crate::app::state::AppState;
use crate::http::catch_panic::CatchPanicLayer;

/// The answer of the relay's `/readyz`.
#[derive(Debug, Serialize)]
pub struct RelayReadiness {
    /// `starting` (503) until every environment has a snapshot and keys; then `ready` while every upstream
    /// stream is open, else `degraded` (still 200: the relay serves what it holds).
    pub status: &'static str,
    /// The upstream's URL.
    pub upstream: String,
    /// One per `--key`, in their order.
    pub environments: Vec<SlotView>,
}

/// The server's handlers the relay serves.
fn routes() -> OpenApiRouter<AppState> {
    crate::api::sdk::router().merge(crate::api::evaluate::router()).merge(crate::api::evaluate::ofrep::router())
}

/// The whole application, with the request span and panic catching around it as in the server.
pub fn app(
    relay: Arc<Relay>,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let metrics = relay.state.metrics.clone();
    crate::http::request_span::RequestSpanLayer::new().layer(CatchPanicLayer { metrics }.layer(router(relay)))
}

/// The routes with the server's route layer.
pub fn router(relay: Arc<Relay>) -> Router {
    let state = relay.state.clone();
    let cors = crate::http::cors::ClientCors::new(state.snapshots.clone(), state.auth.clone());
    let (routes, _) = routes().split_for_parts();
    let ops = Router::new().route("/readyz", get(readyz)).with_state(relay);
    routes
        .route("/healthz", get(crate::http::ops::healthz))
        .route("/metrics", get(crate::http::ops::metrics))
        .with_state(state.clone())
        .merge(ops)
        .fallback(not_found)
        .layer(crate::http::route_layer::RequestMetricsLayer {
            metrics: state.metrics.clone(),
            max_body: state.config.max_body_bytes,
            cors: Some(cors),
        })
}

async fn not_found() -> Response {
    crate::http::error::ApiError::NotFound("route".to_owned()).problem_response()
}

/// Readiness of the relay, per environment.
async fn readyz(State(relay): State<Arc<Relay>>) -> (StatusCode, Json<RelayReadiness>) {
    let environments: Vec<SlotView> = relay
        .ties
        .iter()
        .map(|t| {
            let has_snapshot = t.slot.environment().is_some_and(|e| relay.state.snapshots.get(&e).is_some());
            t.slot.view(has_snapshot)
        })
        .collect();
    let serving = environments.iter().all(|e| e.has_snapshot && e.has_keys);
    let live = environments.iter().all(|e| e.upstream_connected && e.source == Source::Upstream);
    let (code, status) = match (serving, live) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        (true, true) => (StatusCode::OK, "ready"),
        (true, false) => (StatusCode::OK, "degraded"),
    };
    (code, Json(RelayReadiness { status, upstream: relay.config.upstream.to_string(), environments }))
}
