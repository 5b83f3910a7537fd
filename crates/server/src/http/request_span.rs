//! The outermost layer: every request gets an id — the caller's `X-Request-Id`, or a new one — which the
//! caller gets back on the answer, and is served inside a `request` span
//! naming its method, path and id, so that every log line written while serving it says which request it
//! belongs to. Answers with a server error are logged at `error`; with `debug` on, every request's start and
//! end are too.
//!
//! The evaluation endpoints, the hot path, log nothing while they answer; their span is made only when there
//! is something to log: when the answer is a server error (or with `debug` on), so the failure's log line is
//! the same as any other route's.
//!
//! One layer does what tower-http's `SetRequestId`, `Trace` and `PropagateRequestId` did together, with
//! neither a request extension nor a boxed future, and the span's fields are plain strings, which the log
//! formatter writes without formatting machinery ([`crate::telemetry::logging`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use axum::response::Response;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing::instrument::Instrumented;

/// The request id header, read from requests and written on answers.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a service in [`RequestSpan`].
#[derive(Debug, Clone)]
pub struct RequestSpanLayer {
    ids: RequestIds,
}

impl RequestSpanLayer {
    /// Ids for this process: a random prefix and a counter from 1.
    pub fn new() -> Self {
        RequestSpanLayer { ids: RequestIds::new(rand::random(), 1) }
    }
}

impl Default for RequestSpanLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for RequestSpanLayer {
    type Service = RequestSpan<S>;

    fn layer(&self, inner: S) -> RequestSpan<S> {
        RequestSpan { inner, ids: self.ids.clone() }
    }
}

/// See the [module](self).
#[derive(Debug, Clone)]
pub struct RequestSpan<S> {
    inner: S,
    ids: RequestIds,
}

impl<S, B> Service<Request<B>> for RequestSpan<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let id = match request.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => self.ids.next(),
        };
        let started = Instant::now();
        let debug = tracing::enabled!(tracing::Level::DEBUG);
        // Evaluation logs nothing while it answers, and a span costs about a tenth of its request: there it is
        // made only when there is something to log, a failure (or with `debug` on).
        if !debug && crate::api::is_evaluation(request.uri().path()) {
            let deferred = Some((request.method().clone(), request.uri().clone()));
            let answer = self.inner.call(request);
            return Answer { inner: answer.instrument(tracing::Span::none()), id: Some(id), started, deferred };
        }
        let span = request_span(request.method(), request.uri(), &id);
        // Entering a span costs more than the rest of this: only when there is something to log.
        let answer = if debug {
            let _entered = span.enter();
            tracing::debug!("started processing request");
            self.inner.call(request)
        } else {
            self.inner.call(request)
        };
        Answer { inner: answer.instrument(span), id: Some(id), started, deferred: None }
    }
}

/// The span a request is served in. A trigger URL's secret is not logged: its path is logged as the route.
fn request_span(method: &Method, uri: &Uri, id: &HeaderValue) -> tracing::Span {
    let path = uri.path();
    let trigger = path.strip_prefix(crate::api::TRIGGER_PATH).is_some_and(|rest| !rest.is_empty());
    tracing::info_span!(
        "request",
        method = method.as_str(),
        path = if trigger { "/api/v1/triggers/{secret}" } else { path },
        request_id = id.to_str().unwrap_or("(not text)"),
    )
}

pin_project_lite::pin_project! {
    /// The answer of a [`RequestSpan`]: the inner answer, polled inside the request's span, with the id.
    pub struct Answer<F> {
        #[pin]
        inner: Instrumented<F>,
        id: Option<HeaderValue>,
        started: Instant,
        // The method and URI of a request served without its span, to make the span if it fails.
        deferred: Option<(Method, Uri)>,
    }
}

impl<F, E> Future for Answer<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut response = match this.inner.as_mut().poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        let failed = response.status().is_server_error();
        if failed || tracing::enabled!(tracing::Level::DEBUG) {
            let made;
            let span = match (this.deferred.take(), this.id.as_ref()) {
                (Some((method, uri)), Some(id)) => {
                    made = request_span(&method, &uri, id);
                    &made
                }
                _ => this.inner.span(),
            };
            let _entered = span.enter();
            let status = response.status().as_u16();
            let latency_ms = this.started.elapsed().as_secs_f64() * 1000.0;
            if failed {
                tracing::error!(status, latency_ms, "response failed");
            } else {
                tracing::debug!(status, latency_ms, "finished processing request");
            }
        }
        if let Some(id) = this.id.take() {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}

/// Request ids for requests that come without one: a random prefix per process (so that the ids of replicas
/// and restarts do not collide) and a counter, e.g. `5c1e9a07-42`. Unlike a random UUID per request, this
/// asks the operating system for nothing.
#[derive(Debug, Clone)]
struct RequestIds {
    prefix: u32,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    fn new(prefix: u32, first: u64) -> Self {
        RequestIds { prefix, next: Arc::new(AtomicU64::new(first)) }
    }

    fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 8 + 1 + 20];
        hex::encode_to_slice(self.prefix.to_be_bytes(), &mut id[..8]).expect("four bytes are eight digits");
        id[8] = b'-';
        let digits = n.checked_ilog10().unwrap_or(0) as usize + 1;
        let mut rest = n;
        for i in (0..digits).rev() {
            id[9 + i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        HeaderValue::from_bytes(&id[..9 + digits]).expect("hex digits, a dash and decimal digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_differ_and_read_well() {
        let ids = RequestIds::new(0x5c1e_9a07, 9);
        assert_eq!(ids.next(), "5c1e9a07-9");
        assert_eq!(ids.next(), "5c1e9a07-10");
        let clone = ids.clone();
        assert_eq!(clone.next(), "5c1e9a07-11", "clones share the counter");
        ids.next.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(ids.next(), format!("5c1e9a07-{}", u64::MAX).as_str());
        assert_eq!(RequestIds::new(0x0000_00ff, 0).next(), "000000ff-0");
    }

    /// Serves requests through [`RequestSpan`] around a service that answers `status`, and returns what was
    /// logged and how many spans were made.
    async fn serve(paths: &[&str], status: u16) -> (String, usize) {
        use crate::telemetry::logging::tests::Captured;
        use tracing_subscriber::layer::SubscriberExt as _;

        struct CountSpans(Arc<AtomicU64>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountSpans {
            fn on_new_span(
                &self,
                _: &tracing::span::Attributes<'_>,
                _: &tracing::span::Id,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }

        let (captured, spans) = (Captured::default(), Arc::new(AtomicU64::new(0)));
        // As the server writes text logs.
        let fmt_layer =
            tracing_subscriber::fmt::layer().with_ansi(false).fmt_fields(crate::telemetry::logging::PlainFields);
        let subscriber = tracing_subscriber::registry()
            .with(fmt_layer.with_writer(captured.clone()))
            .with(CountSpans(spans.clone()))
            .with(tracing_subscriber::filter::LevelFilter::INFO);
        let _default = tracing::subscriber::set_default(subscriber);
        let inner = tower::service_fn(move |_: Request<()>| async move {
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            Ok::<_, std::convert::Infallible>(axum::response::IntoResponse::into_response((status, "answer")))
        });
        let mut service = RequestSpanLayer::new().layer(inner);
        for path in paths {
            let request = Request::post(*path).header(&REQUEST_ID, "req-1").body(()).unwrap();
            let answer = tower::ServiceExt::oneshot(&mut service, request).await.unwrap();
            assert_eq!(answer.headers()[&REQUEST_ID], "req-1");
        }
        (captured.text(), spans.load(Ordering::Relaxed) as usize)
    }

    #[tokio::test]
    async fn evaluation_answers_get_their_span_only_to_log_a_failure() {
        let quiet = ["/api/v1/evaluate", "/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/f"];
        let (logged, spans) = serve(&quiet, 200).await;
        assert_eq!((logged.as_str(), spans), ("", 0));
        let (logged, spans) = serve(&["/api/v1/flags"], 200).await;
        assert_eq!((logged.as_str(), spans), ("", 1), "other routes are served in their span");

        for path in ["/api/v1/evaluate", "/api/v1/flags"] {
            let (logged, spans) = serve(&[path], 500).await;
            assert_eq!(spans, 1, "{logged}");
            assert!(logged.contains("ERROR"), "{logged}");
            assert!(logged.contains(&format!("request{{method=POST path={path} request_id=req-1}}")), "{logged}");
            assert!(logged.contains("response failed") && logged.contains("status=500"), "{logged}");
        }
    }

    #[tokio::test]
    async fn a_trigger_secret_is_not_logged() {
        let secret = format!("pnn_trg_{}", "ab".repeat(32));
        let (logged, _) = serve(&[&format!("/api/v1/triggers/{secret}")], 500).await;
        assert!(logged.contains("path=/api/v1/triggers/{secret}"), "{logged}");
        assert!(!logged.contains(&secret[8..]), "{logged}");
    }
}
