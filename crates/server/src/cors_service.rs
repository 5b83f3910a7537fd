//! The CORS middleware of the client-key routes (see [`crate::cors`] for the policy).
//!
//! axum clones a route's service, with every layer on it, for each request the route handles; this layer's
//! service is one reference count and the route, so CORS costs the requests that carry no `Origin` (every
//! server-side caller) next to nothing.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use tower::{Layer, Service};

use crate::auth::AuthService;
use crate::snapshots::Snapshots;
use crate::store::KeyKind;

/// Caches must keep answers apart by the origin and the preflight's questions.
const VARY_VALUE: HeaderValue =
    HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers");
const ALLOWED_METHODS: HeaderValue = HeaderValue::from_static("POST");
const ALLOWED_HEADERS: HeaderValue = HeaderValue::from_static("authorization,content-type,if-none-match");
const EXPOSED_HEADERS: HeaderValue = HeaderValue::from_static("etag");

/// Who may call from which origin.
struct Policy {
    snapshots: Arc<Snapshots>,
    auth: Arc<AuthService>,
}

impl Policy {
    /// A preflight carries no credential: an origin some environment allows passes. An actual request passes
    /// when its credential is a client key whose environment allows the origin.
    fn allows(&self, origin: &HeaderValue, method: &Method, headers: &HeaderMap) -> bool {
        let Ok(origin) = origin.to_str() else { return false };
        let table = self.snapshots.origins();
        if method == Method::OPTIONS {
            return table.allowed_somewhere(origin);
        }
        let Some(credential) = crate::auth::bearer(headers) else { return false };
        match self.auth.keys.check(credential) {
            Some(grant) if grant.kind == KeyKind::Client => table.allows(&grant.environment, origin),
            _ => false,
        }
    }
}

/// The layer: put it on the client-key routes only.
#[derive(Clone)]
pub struct ClientCorsLayer(Arc<Policy>);

impl ClientCorsLayer {
    /// CORS by the environments' allowed origins (from the snapshots) and the SDK keys.
    pub fn new(snapshots: Arc<Snapshots>, auth: Arc<AuthService>) -> Self {
        ClientCorsLayer(Arc::new(Policy { snapshots, auth }))
    }
}

impl<S> Layer<S> for ClientCorsLayer {
    type Service = ClientCors<S>;

    fn layer(&self, inner: S) -> ClientCors<S> {
        ClientCors { policy: self.0.clone(), inner }
    }
}

/// The service [`ClientCorsLayer`] wraps a route in.
#[derive(Clone)]
pub struct ClientCors<S> {
    policy: Arc<Policy>,
    inner: S,
}

impl<S> Service<Request<Body>> for ClientCors<S>
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
        let allowed = request
            .headers()
            .get(ORIGIN)
            .filter(|origin| self.policy.allows(origin, request.method(), request.headers()))
            .cloned();
        if request.method() == Method::OPTIONS {
            // A preflight is answered here: the route itself takes POST only.
            let mut response = StatusCode::OK.into_response();
            let headers = response.headers_mut();
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS);
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS);
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(crate::cors::PREFLIGHT_MAX_AGE.as_secs()));
            finish(headers, allowed, false);
            return Box::pin(std::future::ready(Ok(response)));
        }
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            finish(response.headers_mut(), allowed, true);
            Ok(response)
        })
    }
}

fn finish(headers: &mut HeaderMap, allowed: Option<HeaderValue>, actual: bool) {
    headers.append(VARY, VARY_VALUE);
    if let Some(origin) = allowed {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if actual {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED_HEADERS);
        }
    }
}
