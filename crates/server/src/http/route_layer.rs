//! The middleware counting every request by matched route, method and status, with its latency
//! (`pennon_http_requests_total`, `pennon_http_request_duration_seconds`).
//!
//! It sits inside the router (a layer on it), where [`MatchedPath`] is known. axum clones a route's
//! service, layers included, for every request: this layer's service is one reference count and the route.
//! It also sets the limit on request bodies ([`DefaultBodyLimit`]) and takes the CORS step of the client-key
//! routes ([`crate::http::cors_step`]): every layer on the router boxes every route once more, and each box is
//! another allocation per request.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{Method, Request};
use axum::response::Response;
use futures_util::future::BoxFuture;
use tower::{Layer, Service};

use crate::http::cors::{ClientCors, CorsStep};
use crate::telemetry::metrics::{Metrics, UNMATCHED_ROUTE};

/// Counts the requests of the routes it wraps into `metrics`, limits their bodies to `max_body` bytes, and
/// answers cross-origin requests to the client-key routes by `cors`.
#[derive(Clone)]
pub struct RequestMetricsLayer {
    /// Where requests are counted.
    pub metrics: Arc<Metrics>,
    /// The largest request body the routes' extractors read.
    pub max_body: usize,
    /// CORS of the client-key routes; `None` leaves it to a layer outside the router (the benchmark that
    /// compares CORS layers, `crates/bench`, does so).
    pub cors: Option<ClientCors>,
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<<DefaultBodyLimit as Layer<S>>::Service>;

    fn layer(&self, inner: S) -> Self::Service {
        let inner = DefaultBodyLimit::max(self.max_body).layer(inner);
        RequestMetrics { shared: Arc::new((self.metrics.clone(), self.cors.clone())), inner }
    }
}

/// The service [`RequestMetricsLayer`] wraps a route in.
#[derive(Clone)]
pub struct RequestMetrics<S> {
    /// One reference count per clone.
    shared: Arc<(Arc<Metrics>, Option<ClientCors>)>,
    inner: S,
}

impl<S> Service<Request<Body>> for RequestMetrics<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let shared = self.shared.clone();
        let mut cors = None;
        if let Some(client_cors) = &shared.1
            && route.as_ref().is_some_and(|route| crate::api::is_evaluation(route.as_str()))
        {
            match client_cors.check(&request) {
                CorsStep::Preflight(response) => {
                    return Box::pin(async move {
                        count(&shared.0, route.as_ref(), &method, &response, started);
                        Ok(response)
                    });
                }
                CorsStep::Actual(allowed) => cors = Some(allowed),
            }
        }
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if let Some(allowed) = cors {
                crate::http::cors_step::finish_actual(response.headers_mut(), allowed);
            }
            count(&shared.0, route.as_ref(), &method, &response, started);
            Ok(response)
        })
    }
}

/// Counts one answered request.
fn count(metrics: &Metrics, route: Option<&MatchedPath>, method: &Method, response: &Response, started: Instant) {
    let route = route.map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    metrics.request(route, method, response.status().as_u16(), started.elapsed().as_secs_f64());
}
