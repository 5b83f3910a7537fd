//! Operations endpoints, outside `/api/v1`: `/healthz` (the process is up), `/readyz` (it can serve:
//! snapshots loaded and the database reachable, else 503 saying why), Prometheus `/metrics`, the OpenAPI
//! document at `/openapi.json` and the interactive API reference at `/api-docs`.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::state::AppState;
use crate::telemetry::exposition::{
    OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, to_prometheus, wants_openmetrics,
};

/// The API reference page: self-contained (no CDN), it renders `/openapi.json`.
const API_DOCS_HTML: &str = include_str!("../../assets/api-docs.html");

/// The OpenAPI document as served, generated once from the code (it is the same for every server).
static OPENAPI_JSON: LazyLock<String> =
    LazyLock::new(|| super::router::openapi().to_pretty_json().expect("the OpenAPI document serializes to JSON"));

#[derive(OpenApi)]
#[openapi(tags((name = "operations", description = "Health, readiness, metrics and this document")))]
struct OpsDoc;

/// The operations routes, documented.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(OpsDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(api_docs))
}

/// The answer of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// The answer of `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `degraded` when the database cannot be reached.
    pub status: &'static str,
    /// `ok` or `unreachable`.
    pub database: &'static str,
    /// Why the server is degraded, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How many environments have a snapshot in memory.
    pub environments: usize,
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up and answering", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: snapshots loaded, database reachable.
///
/// While the database is away evaluation and streaming keep serving the last snapshots, but this answers 503
/// so that writes go elsewhere.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "The database cannot be reached", body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let environments = state.snapshots.revisions().len();
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(Readiness { status: "ready", database: "ok", detail: None, environments })),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "degraded",
                database: "unreachable",
                detail: Some(format!("{e}: evaluation and streaming serve the last snapshots; writes answer 503")),
                environments,
            }),
        ),
    }
}

/// Prometheus metrics.
///
/// Requests by route, method and status with their latency, evaluations, each environment's snapshot
/// revision, streams, SDK metrics and guards. In OpenMetrics 1.0 when `Accept` asks for
/// `application/openmetrics-text` (as Prometheus does), else in the Prometheus text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    params(("Accept" = Option<String>, Header, description = "`application/openmetrics-text` for OpenMetrics")),
    responses((status = 200, description = "The metrics, in the format `Accept` asks for",
        content((String = "text/plain; version=0.0.4"), (String = "application/openmetrics-text; version=1.0.0")))))]
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.metrics.set_snapshot_revisions(&state.snapshots.revisions());
    let text = state.metrics.encode();
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut response = if wants_openmetrics(accept) {
        with_content_type(text, OPENMETRICS_CONTENT_TYPE)
    } else {
        with_content_type(to_prometheus(&text), PROMETHEUS_CONTENT_TYPE)
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// This OpenAPI document.
///
/// The same document `pennon openapi` prints.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
async fn openapi_json() -> Response {
    with_content_type(OPENAPI_JSON.as_str(), "application/json")
}

/// The interactive API reference.
///
/// A page that renders `/openapi.json` and sends requests from the browser; it needs no internet access.
#[utoipa::path(get, path = "/api-docs", tag = "operations",
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html")))]
async fn api_docs() -> Html<&'static str> {
    Html(API_DOCS_HTML)
}

fn with_content_type(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
