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
use crate::http::catch_panic::CatchPanicLayer;

/// Every route, documented: the API under `/api/v1` and the operations endpoints.
fn routes() -> OpenApiRouter<AppState> {
    crate::api::router().merge(super::ops::router())
}

/// The OpenAPI document, generated from the handlers and completed with the answers every operation of a
/// kind can give ([`crate::api::doc`]).
pub fn openapi() -> utoipa::openapi::OpenApi {
    crate::api::doc::complete(routes().split_for_parts().1)
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
    let metrics = state.metrics.clone();
    crate::http::request_span::RequestSpanLayer::new().layer(CatchPanicLayer { metrics }.layer(router(state, true)))
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
        .method_not_allowed_fallback(method_not_allowed)
        .layer(crate::http::route_layer::RequestMetricsLayer { metrics: state.metrics.clone(), max_body, cors })
        .with_state(state)
}

/// 405, as a problem like every other refusal.
async fn method_not_allowed() -> Response {
    crate::http::error::ApiError::MethodNotAllowed.problem_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use std::sync::Arc;

    use super::*;
    use crate::telemetry::metrics::Metrics;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_as_a_problem_and_is_counted() {
        let metrics = Arc::new(Metrics::default());
        let router: Router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    assert!(std::hint::black_box(false), "boom");
                    "unreachable"
                }),
            )
            .route("/fine", get(|| async { "fine" }));
        let service = CatchPanicLayer { metrics: metrics.clone() }.layer(router);
        let response = service.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["detail"], "internal error");
        assert_eq!(metrics.handler_panics.get(), 1);
        let fine = service.oneshot(Request::get("/fine").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(fine.status(), 200);
        assert_eq!(metrics.handler_panics.get(), 1);
    }
}
