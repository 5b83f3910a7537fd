//! `/import/unleash`: flags moved from Unleash, keeping every user's cohort (see `domain::unleash`).
//!
//! The body is Unleash's client features document for one environment. The mapping is pure; the writes
//! (segments, definitions, the environment's configs) are one transaction with an audit row per change.
//! `dry_run=true` runs the same transaction and rolls it back; `strict=true` refuses (422, nothing written)
//! a document with any part that cannot be mapped.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::state::AppState;
use crate::auth::Editor;
use crate::domain::unleash::{self, Report, format::ClientFeatures};
use crate::http::error::{ApiError, Json, ProblemBody, Query};
use crate::store::{ImportChange, ImportPlan, StoreError};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import_unleash))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ImportParams {
    /// The environment whose configs the document describes.
    environment: String,
    /// Report what would change without writing anything.
    #[serde(default)]
    dry_run: bool,
    /// Refuse the whole import (422) when any part cannot be mapped.
    #[serde(default)]
    strict: bool,
}

/// What an import did (or, on a dry run, would do).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// The environment.
    pub environment: String,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Each object written (or that would be), segments first.
    pub changes: Vec<ImportChange>,
    /// Per toggle and segment, how much was mapped; every part left out, with its path.
    pub report: Report,
}

/// Import Unleash toggles into one environment.
#[utoipa::path(post, path = "/api/v1/import/unleash", tag = "flags", params(ImportParams),
    request_body(content = ClientFeatures, description = "Unleash's client features document (`GET /api/client/features`) for the environment"),
    security(("bearer" = ["editor"])),
    responses((status = 200, body = ImportResult), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 413, body = ProblemBody), (status = 422, body = ProblemBody), (status = 503, body = ProblemBody)))]
async fn import_unleash(
    caller: Editor,
    State(state): State<AppState>,
    Query(params): Query<ImportParams>,
    Json(doc): Json<ClientFeatures>,
) -> Result<Json<ImportResult>, ApiError> {
    // Where config changes need approval, only an admin imports (an import writes configs at once).
    if !params.dry_run {
        crate::api::change_requests::only_approved_paths(&state, caller.0.role, &params.environment).await?;
    }
    let max = state.config.import_max_toggles;
    if doc.features.len() > max {
        let message =
            format!("{} toggles; one import takes at most {max} (PENNON_IMPORT_MAX_TOGGLES)", doc.features.len());
        return Err(ApiError::invalid("features", message));
    }
    let environment = params.environment;
    let mapped = unleash::map(&doc, &environment).map_err(|e| ApiError::invalid(e.path, e.message))?;
    if params.strict && !mapped.report.unmapped.is_empty() {
        return Err(ApiError::Invalid(
            mapped
                .report
                .unmapped
                .iter()
                .map(|u| pennon_engine::Problem {
                    path: u.path.clone(),
                    message: format!("cannot be mapped: {}", u.reason),
                })
                .collect(),
        ));
    }
    let summary = serde_json::json!({
        "source": "unleash",
        "toggles": mapped.report.toggles.len(),
        "segments": mapped.report.segments.len(),
        "unmapped": mapped.report.unmapped,
    });
    let plan = ImportPlan {
        environment: &environment,
        segments: &mapped.segments,
        flags: mapped.flags.iter().map(|f| (&f.definition, &f.config)).collect(),
        action: "import.unleash",
        detail: summary,
    };
    let (changes, revisions) =
        state.store.import(&plan, caller.actor(), params.dry_run).await.map_err(|e| match e {
            // `flags[i]` is the toggle at `features[i]`: the mapping keeps the document's order.
            StoreError::Invalid(problems) => StoreError::Invalid(
                problems
                    .into_iter()
                    .map(|p| pennon_engine::Problem {
                        path: p.path.strip_prefix("flags").map_or(p.path.clone(), |rest| format!("features{rest}")),
                        message: p.message,
                    })
                    .collect(),
            ),
            other => other,
        })?;
    state.snapshots.after_commit(&revisions).await;
    Ok(Json(ImportResult { environment, dry_run: params.dry_run, changes, report: mapped.report }))
}
