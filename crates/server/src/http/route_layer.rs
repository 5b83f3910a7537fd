//! The middleware counting every request by matched route, method and status, with its latency
//! (`pennon_http_requests_total`, `pennon_http_request_duration_seconds`).
//!
//! It sits inside the router (a layer on it), where [`MatchedPath`] is known. axum clones a route's
//! service, layers included, for every request: this layer's service is one reference count and the route.
//! It also sets the limit on request bodies ([`DefaultBodyLimit`], and a 413 at once for a body announced
//! over it) and takes the CORS step of the client-key
//! routes ([`crate::http::cors_step`]): every layer on the router boxes every route once more, and each box is
//! another allocation per request.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use futures_util::future::BoxFuture;
use tower::{Layer, Service};

use crate::http::cors::{ClientCors, CorsStep};
use crate::http::error::ApiError;
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
        RequestMetrics { shared: Arc::new((self.metrics.clone(), self.cors.clone(), self.max_body)), inner }
    }
}

/// The service [`RequestMetricsLayer`] wraps a route in.
#[derive(Clone)]
pub struct RequestMetrics<S> {
    /// One reference count per clone.
    shared: Arc<(Arc<Metrics>, Option<ClientCors>, usize)>,
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
        // A body announced larger than the limit is refused before anything reads it: at once, and without
        // the `100 Continue` that would invite the client to send it (hyper sends that on the first read).
        // OFREP answers its failures in its own shape; every other route answers problems.
        let ofrep = route.as_ref().is_some_and(|route| route.as_str().starts_with("/ofrep/"));
        let answer = (!declares_too_large(&request, shared.2)).then(|| self.inner.call(request));
        Box::pin(async move {
            let mut response = match answer {
                Some(answer) => answer.await?,
                None if ofrep => crate::api::evaluate::ofrep::too_large(),
                None => ApiError::PayloadTooLarge.problem_response(),
            };
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !ofrep && !is_problem(&response) {
                // axum's own rejections answer in plain text; every answer of this server is a problem.
                response = ApiError::PayloadTooLarge.problem_response();
            }
            if let Some(allowed) = cors {
                crate::http::cors_step::finish_actual(response.headers_mut(), allowed);
            }
            count(&shared.0, route.as_ref(), &method, &response, started);
            Ok(response)
        })
    }
}

/// Whether the request's `Content-Length` is over `max_body`.
fn declares_too_large(request: &Request<Body>, max_body: usize) -> bool {
    request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .is_some_and(|length| length > max_body as u64)
}

fn is_problem(response: &Response) -> bool {
    response.headers().get(CONTENT_TYPE).is_some_and(|value| value == "application/problem+json")
}

/// Counts one answered request.
fn count(metrics: &Metrics, route: Option<&MatchedPath>, method: &Method, response: &Response, started: Instant) {
    let route = route.map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    metrics.request(route, method, response.status().as_u16(), started.elapsed().as_secs_f64());
}
