//! CORS on the client-key routes (see [`crate::http::cors`] for the policy).
//!
//! axum clones a route's service, with every layer on it, for each request the route handles, and each layer
//! boxes the route once more: so CORS is not a layer of its own but a step of the route layer every route
//! has already ([`crate::http::route_layer`]), taken on the client-key routes only. A request without `Origin`
//! (every server-side caller) costs it next to nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthService;
use crate::delivery::snapshots::Snapshots;
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

/// CORS for the client-key routes ([`crate::api::is_evaluation`]), applied by the route layer
/// ([`crate::http::route_layer`]) around them.
#[derive(Clone)]
pub struct ClientCors(Arc<Policy>);

/// What CORS makes of a request to a client-key route.
pub enum CorsStep {
    /// A preflight, answered here: the routes themselves take POST only.
    Preflight(Response),
    /// An actual request, with the origin its answer allows (none when it has none or it is not allowed).
    Actual(Option<HeaderValue>),
}

impl ClientCors {
    /// CORS by the environments' allowed origins (from the snapshots) and the SDK keys.
    pub fn new(snapshots: Arc<Snapshots>, auth: Arc<AuthService>) -> Self {
        ClientCors(Arc::new(Policy { snapshots, auth }))
    }

    /// Looks at a request to a client-key route before the route does.
    pub fn check(&self, request: &Request<Body>) -> CorsStep {
        let allowed = request
            .headers()
            .get(ORIGIN)
            .filter(|origin| self.0.allows(origin, request.method(), request.headers()))
            .cloned();
        if request.method() != Method::OPTIONS {
            return CorsStep::Actual(allowed);
        }
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS);
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS);
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(crate::http::cors::PREFLIGHT_MAX_AGE.as_secs()));
        finish(headers, allowed, false);
        CorsStep::Preflight(response)
    }
}

/// Adds the CORS headers to an actual request's answer.
pub fn finish_actual(headers: &mut HeaderMap, allowed: Option<HeaderValue>) {
    finish(headers, allowed, true);
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
