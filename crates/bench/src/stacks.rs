//! The server's own middleware against tower-http's, around the same router, for `request-instructions`
//! (docs/benchmarks.md, "The browser path, and our own middleware against tower-http").
//!
//! Pennon wrote three pieces of HTTP middleware of its own: the CORS step of the route layer
//! (`http/cors_step.rs`, taken in `http/route_layer.rs` on the evaluation routes), the request span
//! (`http/request_span.rs`: request id, span, failure log), and the text log's field formatter
//! (`telemetry/logging.rs`). Each has a tower-http (or tracing-subscriber) counterpart, built here for real so
//! that both can be measured on the same requests:
//!
//! - CORS: [`tower_http::cors::CorsLayer`] with [`AllowOrigin::predicate`] consulting the same origin table and
//!   SDK keys as the server's policy (a preflight: an origin some environment allows; an actual request: a
//!   client key whose environment allows the origin). It wraps the router, taken by the requests whose path
//!   [`pennon_server::api::is_evaluation`] names (a layer on every route would answer every preflight), and
//!   the router's route layer is built without its own step.
//! - Request id and span: [`SetRequestIdLayer`], [`TraceLayer`] and [`PropagateRequestIdLayer`], with the
//!   server's span (`request` with `method`, `path`, `request_id` as plain strings) and its ids
//!   (`5c1e9a07-42`). [`SpanImpl::Tower`] makes the span on every request, which the server's failure log
//!   needs; [`SpanImpl::TowerLean`] makes none on the evaluation routes, as the server's own layer does
//!   until a request fails — but then its failure log line has no request fields.
//! - Text fields: tracing-subscriber's default formatter instead of `PlainFields` ([`init_logging`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::header::{
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    ORIGIN,
};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use axum::response::Response;
use futures_util::future::Either;
use pennon_server::app::state::AppState;
use pennon_server::http::cors::{ClientCors, CorsStep};
use pennon_server::store::KeyKind;
use tower::{Layer as _, Service, ServiceBuilder};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Whose CORS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CorsImpl {
    /// The route layer's step (`http/cors_step.rs`), as the server runs.
    Own,
    /// tower-http's `CorsLayer` around the router.
    Tower,
    /// The route layer's step, taken around the router where tower-http's layer is ([`OwnCorsOutside`]).
    OwnOutside,
}

/// Whose request id and span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SpanImpl {
    /// `http/request_span.rs`, as the server runs.
    Own,
    /// tower-http's `SetRequestId`, `Trace` and `PropagateRequestId`, a span for every request.
    Tower,
    /// The same, without a span on the evaluation routes.
    TowerLean,
}

/// Whose text log fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FieldsImpl {
    /// `PlainFields` (`telemetry/logging.rs`), as the server runs.
    Own,
    /// tracing-subscriber's `DefaultFields`.
    Default,
}

/// Installs the server's logger (`logging::init` with text logs), or the same with tracing-subscriber's
/// default field formatter.
pub fn init_logging(fields: FieldsImpl) {
    use pennon_server::telemetry::logging;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    match fields {
        FieldsImpl::Own => logging::init(logging::LogFormat::Text),
        FieldsImpl::Default => {
            let filter = logging::filter(std::env::var("RUST_LOG").ok().as_deref());
            let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let subscriber =
                tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(std::io::stderr);
            subscriber.with_ansi(colour).finish().with(filter).init();
        }
    }
}

/// The server's CORS policy as a tower-http `CorsLayer`: the same allowed origins, methods, headers, exposed
/// header, preflight max-age and `Vary` as `http/cors_step.rs` (`tests/cors_parity.rs` compares them).
pub fn cors_layer(state: &AppState) -> CorsLayer {
    let (snapshots, auth) = (state.snapshots.clone(), state.auth.clone());
    let allow = AllowOrigin::predicate(move |origin: &HeaderValue, parts: &Parts| {
        let Ok(origin) = origin.to_str() else { return false };
        let table = snapshots.origins();
        if parts.method == Method::OPTIONS {
            return table.allowed_somewhere(origin);
        }
        let Some(credential) = pennon_server::auth::bearer(&parts.headers) else { return false };
        match auth.keys.check(credential) {
            Some(grant) if grant.kind == KeyKind::Client => table.allows(&grant.environment, origin),
            _ => false,
        }
    });
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::POST])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE, IF_NONE_MATCH])
        .expose_headers([ETAG])
        .max_age(std::time::Duration::from_mins(5))
        // tower-http 0.7 varies by `origin` alone unless told.
        .vary([ORIGIN, ACCESS_CONTROL_REQUEST_METHOD, ACCESS_CONTROL_REQUEST_HEADERS])
}

/// `inner` with tower-http's CORS on the evaluation routes only.
#[derive(Clone)]
pub struct EvaluationCors<S>(Cors<S>);

impl<S> EvaluationCors<S> {
    /// Wraps `inner` (a router built without its own CORS step).
    pub fn new(state: &AppState, inner: S) -> Self {
        EvaluationCors(cors_layer(state).layer(inner))
    }
}

impl<S> Service<Request<Body>> for EvaluationCors<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<tower_http::cors::ResponseFuture<S::Future>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if pennon_server::api::is_evaluation(request.uri().path()) {
            Either::Left(self.0.call(request))
        } else {
            Either::Right(self.0.get_mut().call(request))
        }
    }
}

/// `inner` with the server's own CORS step (`http/cors_step.rs`) taken around the router, as
/// [`EvaluationCors`] takes tower-http's: to tell the place from the implementation.
#[derive(Clone)]
pub struct OwnCorsOutside<S> {
    cors: ClientCors,
    inner: S,
}

impl<S> OwnCorsOutside<S> {
    /// Wraps `inner` (a router built without its own CORS step).
    pub fn new(state: &AppState, inner: S) -> Self {
        OwnCorsOutside { cors: ClientCors::new(state.snapshots.clone(), state.auth.clone()), inner }
    }
}

impl<S> Service<Request<Body>> for OwnCorsOutside<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        std::future::Ready<Result<Response, Infallible>>,
        Either<futures_util::future::BoxFuture<'static, Result<Response, Infallible>>, S::Future>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if !pennon_server::api::is_evaluation(request.uri().path()) {
            return Either::Right(Either::Right(self.inner.call(request)));
        }
        match self.cors.check(&request) {
            CorsStep::Preflight(response) => Either::Left(std::future::ready(Ok(response))),
            CorsStep::Actual(allowed) => {
                let answer = self.inner.call(request);
                Either::Right(Either::Left(Box::pin(async move {
                    let mut response = answer.await?;
                    pennon_server::http::cors_step::finish_actual(response.headers_mut(), allowed);
                    Ok(response)
                })))
            }
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The server's request ids (`http/request_span.rs`): a random prefix per process and a counter.
#[derive(Debug, Clone)]
pub struct CountedIds {
    prefix: u32,
    next: Arc<AtomicU64>,
}

impl CountedIds {
    fn new() -> Self {
        CountedIds { prefix: rand_prefix(), next: Arc::new(AtomicU64::new(1)) }
    }
}

/// A prefix that differs between processes, without another dependency.
fn rand_prefix() -> u32 {
    let hasher = std::hash::BuildHasher::build_hasher(&std::collections::hash_map::RandomState::new());
    std::hash::Hasher::finish(&hasher) as u32
}

impl MakeRequestId for CountedIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 8 + 1 + 20];
        for (i, shift) in (0..8).rev().enumerate() {
            id[i] = HEX[((self.prefix >> (shift * 4)) & 0xf) as usize];
        }
        id[8] = b'-';
        let digits = n.checked_ilog10().unwrap_or(0) as usize + 1;
        let mut rest = n;
        for i in (0..digits).rev() {
            id[9 + i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        HeaderValue::from_bytes(&id[..9 + digits]).ok().map(RequestId::new)
    }
}

/// The server's request span.
fn request_span(request: &Request<Body>) -> tracing::Span {
    let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!("request", method = request.method().as_str(), path = request.uri().path(), request_id = id)
}

/// `inner` with tower-http's request id and trace layers; `lean` makes no span on the evaluation routes.
pub fn tower_span<S>(
    inner: S,
    lean: bool,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let make_span = move |request: &Request<Body>| {
        if lean && pennon_server::api::is_evaluation(request.uri().path()) {
            tracing::Span::none()
        } else {
            request_span(request)
        }
    };
    ServiceBuilder::new()
        .map_response(|response: axum::http::Response<_>| response.map(Body::new))
        .layer(SetRequestIdLayer::new(REQUEST_ID, CountedIds::new()))
        .layer(TraceLayer::new_for_http().make_span_with(make_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .service(inner)
}
