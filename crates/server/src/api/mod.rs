//! The REST API under `/api/v1`: one module per resource, each with its own `router()`.

pub mod common;
mod configs;
mod environments;
mod flags;
mod model;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The OpenAPI document's fixed parts; paths and schemas are collected from the routers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Pennon", description = "Feature flags and progressive delivery: admin API, evaluation and SDK delivery."),
    tags(
        (name = "environments", description = "Environments (production, staging, ...)"),
        (name = "flags", description = "Flag definitions, shared by every environment"),
        (name = "configs", description = "A flag's config in one environment: targeting, rules, history, promotion"),
    )
)]
pub struct ApiDoc;

/// Every `/api/v1` route, with the OpenAPI description collected from the handlers.
pub fn router() -> OpenApiRouter<AppState> {
    let v1 = environments::router().merge(flags::router()).merge(configs::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1)
}
