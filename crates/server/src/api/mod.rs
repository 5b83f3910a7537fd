//! The REST API under `/api/v1`: one module per resource, each with its own `router()`.
//!
//! Handlers take [`crate::auth`] extractors first, answer with [`crate::http::error`]'s problem type, and use
//! every layer below: the store, the snapshots and streams of [`crate::delivery`], the [`crate::ingest`]
//! intake, [`crate::domain`] rules, and the [`crate::app::state::AppState`] axum hands them.

mod admin_stream;
mod audit;
pub mod common;
mod configs;
mod environments;
pub mod evaluate;
mod flag_states;
mod flags;
mod guards;
mod keys;
mod plans;
mod sdk;
mod segments;
mod session;
mod tokens;
mod users;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::state::AppState;

/// The OpenAPI document's fixed parts; paths and schemas are collected from the routers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Pennon", description = "Feature flags and progressive delivery: admin API, evaluation and SDK delivery."),
    tags(
        (name = "environments", description = "Environments (production, staging, ...)"),
        (name = "flags", description = "Flag definitions, shared by every environment"),
        (name = "configs", description = "A flag's config in one environment: targeting, rules, history, promotion"),
        (name = "plans", description = "Gradual rollout plans: a variant ramped step by step, halted by a breached guard"),
        (name = "guards", description = "Metric guards: a flag turned off, or its rollout halted, when a tracked metric regresses"),
        (name = "segments", description = "Reusable sets of contexts, shared by every environment"),
        (name = "audit", description = "Who changed what"),
        (name = "evaluation", description = "Flag values for a context, evaluated by the server"),
        (name = "ofrep", description = "OpenFeature Remote Evaluation Protocol"),
        (name = "auth", description = "Sign in and out"),
        (name = "users", description = "Dashboard users (admin)"),
        (name = "tokens", description = "API tokens for automation (admin)"),
        (name = "keys", description = "SDK keys of an environment (admin)"),
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
    let v1 = v1.merge(flags::router()).merge(configs::router()).merge(plans::router()).merge(guards::router());
    let v1 = v1.merge(flag_states::router());
    let v1 = v1.merge(session::router()).merge(users::router()).merge(tokens::router()).merge(keys::router());
    let v1 = v1.merge(sdk::router()).merge(admin_stream::router());
    // Every handler names its whole path (`/api/v1/...`; OFREP's `/ofrep/v1/...`). Nesting under `/api/v1`
    // instead would strip the prefix from every request's URI on its way in, at a cost to each request.
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(v1).merge(ofrep)
}
