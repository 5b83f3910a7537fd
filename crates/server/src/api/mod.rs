//! The REST API under `/api/v1`: one module per resource, each with its own `router()`.
//!
//! Handlers take [`crate::auth`] extractors first, answer with [`crate::http::error`]'s problem type, and use
//! every layer below: the store, the snapshots and streams of [`crate::delivery`], the [`crate::ingest`]
//! intake, [`crate::domain`] rules, and the [`crate::app::state::AppState`] axum hands them.

mod admin_stream;
mod audit;
mod change_requests;
pub mod common;
mod configs;
mod credentials;
pub mod doc;
mod document;
pub use document::document_schema;
pub(crate) mod environments;
pub mod evaluate;
mod flag_states;
pub(crate) mod flags;
mod guards;
mod import;
mod keys;
mod metrics;
mod plans;
mod relay_keys;
mod results;
pub mod rules;
mod scheduled;
pub mod sdk;
pub(crate) mod segments;
mod session;
mod tokens;
mod triggers;
mod users;
mod webhooks;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::state::AppState;
pub use triggers::TRIGGER_PATH;

/// The OpenAPI document's fixed parts; paths and schemas are collected from the routers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Pennon", description = "Feature flags and progressive delivery: admin API, evaluation and SDK delivery."),
    tags(
        (name = "environments", description = "Environments (production, staging, ...)"),
        (name = "flags", description = "Flag definitions, shared by every environment"),
        (name = "configs", description = "A flag's config in one environment: targeting, rules, history, promotion"),
        (name = "change-requests", description = "Config changes waiting for approvals in environments that require them"),
        (name = "plans", description = "Gradual rollout plans: a variant ramped step by step, halted by a breached guard"),
        (name = "metrics", description = "Metrics SDKs track, as objects that guards and experiment results name"),
        (name = "results", description = "Experiment results of a split: per variant and metric, always-valid intervals, the sample-ratio check"),
        (name = "guards", description = "Metric guards: a flag turned off, or its rollout halted, when a tracked metric regresses"),
        (name = "segments", description = "Reusable sets of contexts, shared by every environment"),
        (name = "documents", description = "Flags as code: export everything as one document, apply a document with a plan first"),
        (name = "audit", description = "Who changed what"),
        (name = "evaluation", description = "Flag values for a context, evaluated by the server"),
        (name = "ofrep", description = "OpenFeature Remote Evaluation Protocol"),
        (name = "auth", description = "Sign in and out"),
        (name = "users", description = "Dashboard users (admin)"),
        (name = "tokens", description = "API tokens for automation (admin)"),
        (name = "keys", description = "SDK keys of an environment (admin)"),
        (name = "relay-keys", description = "Relay credentials naming several environments (admin)"),
        (name = "webhooks", description = "Outgoing webhooks: audited changes posted, signed, to a URL (admin)"),
        (name = "triggers", description = "Trigger URLs: a POST (or an Alertmanager notification) turns a flag off or on"),
        (name = "sdk", description = "Delivery to server-side SDKs: snapshot, stream of changes, metrics (docs/sdk-protocol.md)"),
    ),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// The credentials the API takes. Each operation names the scheme and, as its scope, the least role
/// (`viewer`, `editor`, `admin`) or key kind (`server`, `client`) it needs.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("session token (from /auth/login) or API token (pnn_api_...)")
            .description(Some("Admin API credential; the scope names the least role needed."))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let cookie = ApiKey::Cookie(ApiKeyValue::with_description(
            crate::auth::SESSION_COOKIE,
            "The dashboard's session, set by /auth/login (HttpOnly, SameSite=Strict).",
        ));
        components.add_security_scheme("session_cookie", SecurityScheme::ApiKey(cookie));
        let sdk = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("SDK key (pnn_srv_... or pnn_cli_...)")
            .description(Some("An environment's SDK key; the scope names the kind needed."))
            .build();
        components.add_security_scheme("sdk_key", SecurityScheme::Http(sdk));
    }
}

/// Whether `path` (a request's, or the route axum matched) is an evaluation endpoint: `/api/v1/evaluate` or
/// OFREP's. Client keys may call these and nothing else, so they alone answer cross-origin requests
/// ([`crate::http::cors_step`]); they read memory only and log nothing while they answer
/// ([`crate::http::request_span`]).
pub fn is_evaluation(path: &str) -> bool {
    path == "/api/v1/evaluate" || path.starts_with("/ofrep/v1/evaluate/")
}

/// Every `/api/v1` route, with the OpenAPI description collected from the handlers. (CORS on the evaluation
/// routes is the route layer's: [`is_evaluation`].)
pub fn router() -> OpenApiRouter<AppState> {
    let (evaluate, ofrep) = (evaluate::router(), evaluate::ofrep::router());
    let v1 = environments::router().merge(segments::router()).merge(audit::router()).merge(evaluate);
    let v1 = v1
        .merge(flags::router())
        .merge(configs::router())
        .merge(plans::router())
        .merge(scheduled::router())
        .merge(guards::router());
    let v1 = v1.merge(metrics::router()).merge(results::router());
    let v1 = v1
        .merge(flag_states::router())
        .merge(triggers::router())
        .merge(document::router())
        .merge(import::router())
        .merge(change_requests::router());
    let v1 = v1.merge(session::router()).merge(users::router()).merge(tokens::router()).merge(keys::router());
    let v1 = v1.merge(relay_keys::router());
    let v1 = v1.merge(webhooks::router());
    let v1 = v1.merge(sdk::router()).merge(admin_stream::router());
    // Every handler names its whole path (`/api/v1/...`; OFREP's `/ofrep/v1/...`). Nesting under `/api/v1`
    // instead would strip the prefix from every request's URI on its way in, at a cost to each request.
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(v1).merge(ofrep)
}
