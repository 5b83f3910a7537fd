//! A handler that panics answers 500 `application/problem+json` ("internal error") instead of dropping the
//! connection, and is counted (`pennon_http_handler_panics_total`). The panic itself is logged once, by the
//! process's panic hook ([`crate::telemetry::logging::log_panics`]), with its message and place and nothing
//! of the request.
//!
//! tower-http's `CatchPanicLayer` does the same but boxes every response body; this one passes the router's
//! response through untouched.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use tower::{Layer, Service};

use crate::http::error::ApiError;
use crate::telemetry::metrics::Metrics;

/// Wraps a service so that its panics become 500 answers.
#[derive(Debug, Clone)]
pub struct CatchPanicLayer {
    /// Where panics are counted.
    pub metrics: Arc<Metrics>,
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner, metrics: self.metrics.clone() }
    }
}

/// See [`CatchPanicLayer`].
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request<Body>> for CatchPanic<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let inner = catch_unwind(AssertUnwindSafe(|| self.inner.call(req))).ok();
        if inner.is_none() {
            self.metrics.handler_panics.inc();
        }
        CatchPanicFuture { inner, metrics: self.metrics.clone() }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, answering 500 if it panics (or if calling the service did: `inner` is
    /// then `None`).
    pub struct CatchPanicFuture<F> {
        #[pin]
        inner: Option<F>,
        metrics: Arc<Metrics>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for CatchPanicFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else { return Poll::Ready(Ok(panicked())) };
        catch_unwind(AssertUnwindSafe(|| inner.poll(cx))).unwrap_or_else(|_| {
            this.metrics.handler_panics.inc();
            Poll::Ready(Ok(panicked()))
        })
    }
}

fn panicked() -> Response {
    ApiError::Internal(anyhow::anyhow!("a handler panicked")).problem_response()
}
