//! `PATCH /flags/{flag}`: change a definition's name, description, tags or variants.

use axum::extract::State;
use axum::response::IntoResponse;
use pennon_engine::{Flag, FlagConfig, Problem, Serve, Variant, validate_flag};
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::common::{IfMatch, etag};
use super::{FlagBody, check_description, check_name, check_tags, dedup_tags};
use crate::api::rules::{Description, Name, Tag};
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::FlagPatch;

/// Changes to a flag definition; omitted fields stay as they are. The key, kind and salt never change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFlag {
    /// New display name.
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// New description.
    #[schema(value_type = Option<Description>)]
    pub description: Option<String>,
    /// New tags (replacing the old ones).
    #[schema(value_type = Option<Vec<Tag>>)]
    pub tags: Option<Vec<String>>,
    /// New variants (replacing the old ones). A variant still used by a config, in any environment, cannot
    /// be removed; values may change.
    pub variants: Option<Vec<Variant>>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// Every variant a config names, with where (relative to the config).
fn variant_uses(config: &FlagConfig) -> Vec<(String, &str)> {
    fn serve<'a>(uses: &mut Vec<(String, &'a str)>, path: &str, serve: &'a Serve) {
        match serve {
            Serve::Variant(v) => uses.push((format!("{path}.variant"), v)),
            Serve::Split(split) => {
                for (i, w) in split.weights.iter().enumerate() {
                    uses.push((format!("{path}.split.weights[{i}].variant"), &w.variant));
                }
            }
        }
    }
    let mut uses = vec![("off_variant".to_owned(), config.off_variant.as_str())];
    for (i, t) in config.targets.iter().enumerate() {
        uses.push((format!("targets[{i}].variant"), &t.variant));
    }
    for (i, rule) in config.rules.iter().enumerate() {
        serve(&mut uses, &format!("rules[{i}].serve"), &rule.serve);
    }
    serve(&mut uses, "default", &config.default);
    uses
}

/// The new definition's own problems, and every use of a variant it no longer has, located as
/// `environments.{env}.{path in the config}`.
pub(crate) fn check(flag: &Flag, configs: &[FlagConfig]) -> Vec<Problem> {
    let mut problems = validate_flag(flag);
    for config in configs {
        for (path, variant) in variant_uses(config) {
            if !flag.variants.iter().any(|v| v.key == variant) {
                problems.push(Problem {
                    path: format!("environments.{}.{path}", config.environment),
                    message: format!("uses variant \"{variant}\", which the new variants no longer include"),
                });
            }
        }
    }
    problems
}

/// Change a flag definition. Refused with 422 when a config in some environment (or another flag's
/// prerequisite) still uses a variant the change removes.
#[utoipa::path(patch, path = "/api/v1/flags/{flag}", tag = "flags", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = UpdateFlag,
    params(("flag" = String, Path, description = "Flag key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    responses((status = 200, body = FlagBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Stale version; `current_version` says the current one"),
        (status = 422, body = ProblemBody, description = "Every problem, each with its path")))]
pub(super) async fn update_flag(
    caller: Editor,
    State(state): State<AppState>,
    Path(flag): Path<String>,
    if_match: IfMatch,
    Json(body): Json<UpdateFlag>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    if let Some(description) = &body.description {
        check_description(description)?;
    }
    if let Some(tags) = &body.tags {
        check_tags(tags)?;
    }
    let expected = if_match.or(body.version)?;
    let patch = FlagPatch {
        name: body.name,
        description: body.description,
        tags: body.tags.map(dedup_tags),
        variants: body.variants,
    };
    let (record, revisions) = state.store.update_flag(&flag, patch, expected, caller.actor(), check).await?;
    state.snapshots.after_commit(&revisions).await;
    Ok((etag(record.version), Json(FlagBody::from(record))))
}
