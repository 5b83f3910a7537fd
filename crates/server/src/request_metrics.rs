//! The middleware counting every request by matched route, method and status, with its latency
//! (`pennon_http_requests_total`, `pennon_http_request_duration_seconds`).
//!
//! It sits inside the router (a layer on it), where [`MatchedPath`] is known. axum clones a route's
//! service, layers included, for every request: this layer's service is one reference count and the route.
//! It also sets the limit on request bodies ([`DefaultBodyLimit`]): every layer on the router boxes every
//! route once more, and each box is another allocation per request.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::Request;
use axum::response::Response;
use futures_util::future::BoxFuture;
use tower::{Layer, Service};

use crate::metrics::{Metrics, UNMATCHED_ROUTE};

/// Counts the requests of the routes it wraps into `metrics`, and limits their bodies to `max_body` bytes.
#[derive(Clone)]
pub struct RequestMetricsLayer {
    /// Where requests are counted.
    pub metrics: Arc<Metrics>,
    /// The largest request body the routes' extractors read.
    pub max_body: usize,
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<<DefaultBodyLimit as Layer<S>>::Service>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics { metrics: self.metrics.clone(), inner: DefaultBodyLimit::max(self.max_body).layer(inner) }
    }
}

/// The service [`RequestMetricsLayer`] wraps a route in.
#[derive(Clone)]
pub struct RequestMetrics<S> {
    metrics: Arc<Metrics>,
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
        let answer = self.inner.call(request);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let response = answer.await?;
            let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
            metrics.request(route, &method, response.status().as_u16(), started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}
