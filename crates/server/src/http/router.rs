//! The HTTP application: every route of the API and the operations endpoints, the dashboard as the fallback,
//! the route layer on every route and the request span around everything.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use tower::{Layer as _, Service};
use utoipa_axum::router::OpenApiRouter;

use crate::app::state::AppState;

/// Every route, documented: the API under `/api/v1` and the operations endpoints.
fn routes() -> OpenApiRouter<AppState> {
    crate::api::router().merge(super::ops::router())
}

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The whole HTTP application: every route, then the request id and span layer.
///
/// That outer layer wraps the router once instead of each route: a layer added with `Router::layer` sits
/// inside every route's service, and axum clones a route's service for every request it handles. Out here
/// it is cloned once per connection.
pub fn app(
    state: AppState,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    crate::http::request_span::RequestSpanLayer::new().layer(router(state, true))
}

/// Every route with the route layer, without the request span around them. With `own_cors` false the route
/// layer takes no CORS step: for the benchmark that puts tower-http's CORS layer around the router instead
/// (`crates/bench`, docs/benchmarks.md).
pub fn router(state: AppState, own_cors: bool) -> Router {
    let cors = own_cors.then(|| crate::http::cors::ClientCors::new(state.snapshots.clone(), state.auth.clone()));
    let (routes, _) = routes().split_for_parts();
    let max_body = state.config.max_body_bytes;
    routes
        .fallback(crate::http::dashboard::fallback)
        .layer(crate::http::route_layer::RequestMetricsLayer { metrics: state.metrics.clone(), max_body, cors })
        .with_state(state)
}
