//! The rules of a config: add, replace, delete and reorder them one edit at a time.

use axum::extract::State;
use axum::response::IntoResponse;
use pennon_engine::{Condition, FlagConfig, Problem, Rule, Serve};
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::common::IfMatch;
use super::{ChangeHeaders, ChangeRequestBody, ConfigBody, ConfigPath, OptionalJson, write};
use crate::api::change_requests::ApprovalHeaders;
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::StoreError;

/// A rule to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "id": "beta-testers", "conditions": [
    { "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] }],
    "serve": { "variant": "on" }, "index": 0, "version": 5 }))]
pub struct NewRule {
    /// Slug id, unique within the config.
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Segment keys: the context must be in all of them.
    #[serde(default)]
    pub segments: Vec<String>,
    /// What a matching context gets.
    pub serve: Serve,
    /// Where to insert it (0 = first); appended when omitted.
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub index: Option<usize>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// A rule's new content (it keeps its place).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRule {
    /// A new id; unchanged when omitted.
    pub id: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Segment keys: the context must be in all of them.
    #[serde(default)]
    pub segments: Vec<String>,
    /// What a matching context gets.
    pub serve: Serve,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// The version an edit without other content is based on.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BaseVersion {
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// The rules' new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reorder {
    /// Every rule id, each once, in the new order.
    pub order: Vec<String>,
    /// The version this change is based on (or `If-Match`).
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RulePath {
    flag: String,
    env: String,
    rule_id: String,
}

impl RulePath {
    fn config(&self) -> ConfigPath {
        ConfigPath { flag: self.flag.clone(), env: self.env.clone() }
    }
}

fn position(config: &FlagConfig, id: &str) -> Result<usize, StoreError> {
    config.rules.iter().position(|r| r.id == id).ok_or_else(|| StoreError::NotFound(format!("rule \"{id}\"")))
}

fn invalid(path: &str, message: String) -> StoreError {
    StoreError::Invalid(vec![Problem { path: path.to_owned(), message }])
}

/// Add a rule, at the end or at `index` (audited as `config.rule.add`).
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/rules", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = NewRule,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn add_rule(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    if_match: IfMatch,
    Json(body): Json<NewRule>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.version)?;
    let rule = Rule {
        id: body.id,
        description: body.description,
        conditions: body.conditions,
        segments: body.segments,
        serve: body.serve,
    };
    write(&state, &at, expected, "config.rule.add", (&caller, change), move |_, current| {
        let mut next = current.clone();
        let index = body.index.unwrap_or(next.rules.len());
        if index > next.rules.len() {
            return Err(invalid("index", format!("must be between 0 and {}", next.rules.len())));
        }
        next.rules.insert(index, rule);
        Ok(next)
    })
    .await
}

/// Replace a rule's content in place (audited as `config.rule.update`).
#[utoipa::path(put, path = "/api/v1/flags/{flag}/environments/{env}/rules/{rule_id}", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    request_body = ReplaceRule,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("rule_id" = String, Path, description = "Rule id"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub(super) async fn update_rule(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(path): Path<RulePath>,
    if_match: IfMatch,
    Json(body): Json<ReplaceRule>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.version)?;
    let id = path.rule_id.clone();
    write(&state, &path.config(), expected, "config.rule.update", (&caller, change), move |_, current| {
        let mut next = current.clone();
        let i = position(&next, &id)?;
        next.rules[i] = Rule {
            id: body.id.unwrap_or(id),
            description: body.description,
            conditions: body.conditions,
            segments: body.segments,
            serve: body.serve,
        };
        Ok(next)
    })
    .await
}

/// Delete a rule (audited as `config.rule.delete`).
#[utoipa::path(delete, path = "/api/v1/flags/{flag}/environments/{env}/rules/{rule_id}", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    request_body(content = Option<BaseVersion>, description = "Optional"),
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("rule_id" = String, Path, description = "Rule id"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub(super) async fn delete_rule(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(path): Path<RulePath>,
    if_match: IfMatch,
    OptionalJson(body): OptionalJson<BaseVersion>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.unwrap_or_default().version)?;
    let id = path.rule_id.clone();
    write(&state, &path.config(), expected, "config.rule.delete", (&caller, change), move |_, current| {
        let mut next = current.clone();
        next.rules.remove(position(&next, &id)?);
        Ok(next)
    })
    .await
}

/// Put the rules in a new order: `order` names every rule id once (audited as `config.rules.reorder`).
#[utoipa::path(post, path = "/api/v1/flags/{flag}/environments/{env}/rules/reorder", tag = "configs", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    request_body = Reorder,
    params(("flag" = String, Path, description = "Flag key"), ("env" = String, Path, description = "Environment key"),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on"),
        ApprovalHeaders),
    responses((status = 202, body = ChangeRequestBody, description = "Kept as a change request: the environment requires approvals"),
        (status = 403, body = ProblemBody, description = "A bypass reason from a non-admin, or while bypass is off"),
        (status = 200, body = ConfigBody), (status = 400, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 422, body = ProblemBody, description = "`order` is not a permutation of the rule ids")))]
pub(super) async fn reorder_rules(
    caller: Editor,
    change: ChangeHeaders,
    State(state): State<AppState>,
    Path(at): Path<ConfigPath>,
    if_match: IfMatch,
    Json(body): Json<Reorder>,
) -> Result<impl IntoResponse, ApiError> {
    let expected = if_match.or(body.version)?;
    write(&state, &at, expected, "config.rules.reorder", (&caller, change), move |_, current| {
        let mut problems = Vec::new();
        let mut rules = Vec::with_capacity(body.order.len());
        for (i, id) in body.order.iter().enumerate() {
            if body.order[..i].contains(id) {
                problems.push(Problem { path: format!("order[{i}]"), message: format!("\"{id}\" is named twice") });
            } else if let Some(rule) = current.rules.iter().find(|r| r.id == *id) {
                rules.push(rule.clone());
            } else {
                problems.push(Problem { path: format!("order[{i}]"), message: format!("no rule \"{id}\"") });
            }
        }
        for rule in current.rules.iter().filter(|r| !body.order.contains(&r.id)) {
            problems.push(Problem { path: "order".to_owned(), message: format!("rule \"{}\" is missing", rule.id) });
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        Ok(FlagConfig { rules, ..current.clone() })
    })
    .await
}
