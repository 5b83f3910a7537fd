//! `POST /apply`: make the server hold what a document says, after a plan of what changes.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use pennon_engine::{Flag, FlagConfig, FlagKind, Problem, Segment, validate_flag};
use serde::Deserialize;
use utoipa::IntoParams;

use super::export::{Live, read_state};
use super::metrics::plan_metrics;
use super::plan::{Plan, PlanEntry, entry};
use super::rollouts::{Place, RolloutSteps};
use super::{ConfigDocument, Document, FlagDocument, Format};
use crate::api::common::{check_key, check_name, check_text};
use crate::api::environments::CreateEnvironment;
use crate::api::flags::create::{boolean_variants, new_salt};
use crate::api::flags::{check_description, check_tags, dedup_tags};
use crate::api::segments::{CreateSegment, check_segment};
use crate::app::config::ServeConfig;
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::domain::origins::check_origins;
use crate::http::error::{ApiError, Json, ProblemBody, Query};
use crate::store::{ApplyFailure, ApplyStep, EnvironmentPatch, FlagPatch, NewEnvironment, Role, StoreError};

/// How to apply.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ApplyParams {
    /// Answer the plan and change nothing.
    #[serde(default)]
    dry_run: bool,
    /// Delete the segments and live flags the document leaves out (environments are never deleted).
    #[serde(default)]
    prune: bool,
    /// The document revision the change is based on (`Pennon-Revision` of an export, `revision` of a dry
    /// run): refused with 409 if anything changed since.
    expected_revision: Option<String>,
}

/// Longest salt a document may give a flag.
const MAX_SALT_CHARS: usize = 128;

/// The steps of an apply with the plan they carry out, or every problem of the document.
struct Planned {
    entries: Vec<PlanEntry>,
    steps: Vec<(String, ApplyStep)>,
    environments_change: bool,
    /// Metrics or guards change: what the metrics intake keeps is reloaded.
    metrics_change: bool,
}

/// Problems of an object, with their paths put under `prefix`.
pub(super) fn within(prefix: &str, error: ApiError) -> Vec<Problem> {
    let join = |path: &str| if path.is_empty() { prefix.to_owned() } else { format!("{prefix}.{path}") };
    match error {
        ApiError::Invalid(problems) => {
            problems.into_iter().map(|p| Problem { path: join(&p.path), message: p.message }).collect()
        }
        ApiError::BadRequest { detail, field } => {
            vec![Problem { path: join(&field.unwrap_or_default()), message: detail }]
        }
        other => vec![Problem { path: prefix.to_owned(), message: other.to_string() }],
    }
}

pub(super) fn collect(problems: &mut Vec<Problem>, prefix: &str, result: Result<(), ApiError>) {
    if let Err(e) = result {
        problems.extend(within(prefix, e));
    }
}

pub(super) fn duplicates<'a>(problems: &mut Vec<Problem>, list: &str, keys: impl Iterator<Item = &'a str>) {
    let mut seen = BTreeSet::new();
    for (i, key) in keys.enumerate() {
        if !seen.insert(key) {
            problems.push(Problem { path: format!("{list}[{i}].key"), message: format!("\"{key}\" is named twice") });
        }
    }
}

/// Compares the document with what the store holds and lists the steps that make them agree.
#[allow(clippy::too_many_lines)]
/// `protected`: the environments whose config changes need approval (`approvals_required` above 0); only an
/// admin's apply changes configs there, as only an admin may bypass a change request.
fn plan(
    current: &Document,
    live: &Live,
    desired: &Document,
    prune: bool,
    role: Role,
    protected: &BTreeSet<String>,
    settings: &ServeConfig,
) -> Result<Planned, ApiError> {
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    let mut steps = Vec::new();
    duplicates(&mut problems, "environments", desired.environments.iter().map(|e| e.key.as_str()));
    duplicates(&mut problems, "segments", desired.segments.iter().map(|e| e.key.as_str()));
    duplicates(&mut problems, "flags", desired.flags.iter().map(|e| e.key.as_str()));

    let mut environments_change = false;
    for (i, env) in desired.environments.iter().enumerate() {
        let at = format!("environments[{i}]");
        let name = env.name.clone().unwrap_or_else(|| env.key.clone());
        collect(&mut problems, &at, check_key("key", &env.key).and_then(|()| check_name("name", &name)));
        let origins = match check_origins(&env.allowed_origins) {
            Ok(origins) => origins,
            Err(p) => {
                problems.extend(within(&at, ApiError::Invalid(p)));
                continue;
            }
        };
        let wanted = CreateEnvironment { name: Some(name), allowed_origins: origins, position: None, ..env.clone() };
        let before = current.environments.iter().find(|e| e.key == env.key);
        let e = entry("environment", env.key.clone(), before, Some(&wanted));
        let step = match e.op {
            super::PlanOp::Create => Some(ApplyStep::CreateEnvironment(NewEnvironment {
                key: wanted.key.clone(),
                name: wanted.name.clone().unwrap_or_default(),
                production: wanted.production,
                allowed_origins: wanted.allowed_origins.clone(),
                position: None,
            })),
            super::PlanOp::Update => Some(ApplyStep::UpdateEnvironment(
                wanted.key.clone(),
                EnvironmentPatch {
                    name: wanted.name.clone(),
                    production: Some(wanted.production),
                    allowed_origins: Some(wanted.allowed_origins.clone()),
                    position: None,
                    approvals_required: None,
                },
            )),
            _ => None,
        };
        if let Some(step) = step {
            if role != Role::Admin {
                problems.push(Problem {
                    path: at.clone(),
                    message: "only an admin may create or change environments".into(),
                });
            }
            environments_change = true;
            steps.push((at, step));
        }
        entries.push(e);
    }
    let known_envs: BTreeSet<&str> =
        current.environments.iter().chain(&desired.environments).map(|e| e.key.as_str()).collect();

    for (i, s) in desired.segments.iter().enumerate() {
        let at = format!("segments[{i}]");
        let wanted = CreateSegment { name: Some(s.name.clone().unwrap_or_else(|| s.key.clone())), ..s.clone() };
        let segment = Segment {
            key: wanted.key.clone(),
            name: wanted.name.clone().unwrap_or_default(),
            description: wanted.description.clone(),
            conditions: wanted.conditions.clone(),
            included: wanted.included.clone(),
            excluded: wanted.excluded.clone(),
            version: 1,
        };
        collect(&mut problems, &at, check_segment(&segment));
        let before = current.segments.iter().find(|c| c.key == s.key);
        let e = entry("segment", s.key.clone(), before, Some(&wanted));
        match e.op {
            super::PlanOp::Create => steps.push((at, ApplyStep::CreateSegment(segment))),
            super::PlanOp::Update => steps.push((at, ApplyStep::UpdateSegment(segment))),
            _ => {}
        }
        entries.push(e);
    }

    let metrics = plan_metrics(current, desired, prune, &mut problems, &mut entries);
    steps.extend(metrics.changes);
    let mut rollouts = RolloutSteps::default();

    let mut configs = Vec::new();
    for (i, f) in desired.flags.iter().enumerate() {
        let at = format!("flags[{i}]");
        let before = current.flags.iter().find(|c| c.key == f.key);
        let salt = match (&f.salt, before.and_then(|b| b.salt.as_ref())) {
            (Some(given), Some(kept)) if given != kept => {
                problems.push(Problem { path: format!("{at}.salt"), message: "a flag's salt cannot change".into() });
                kept.clone()
            }
            (_, Some(kept)) => kept.clone(),
            (Some(given), None) => given.clone(),
            (None, None) => new_salt(),
        };
        if salt.is_empty() || salt.chars().count() > MAX_SALT_CHARS {
            problems.push(Problem { path: format!("{at}.salt"), message: format!("1 to {MAX_SALT_CHARS} characters") });
        }
        collect(&mut problems, &format!("{at}.salt"), check_text("", &salt, false));
        if let Some(b) = before
            && b.kind != f.kind
        {
            problems.push(Problem { path: format!("{at}.kind"), message: "a flag's kind cannot change".into() });
        }
        let variants = match (f.kind, &f.variants) {
            (FlagKind::Boolean, None) => boolean_variants(),
            (_, variants) => variants.clone().unwrap_or_default(),
        };
        let wanted = FlagDocument {
            name: Some(f.name.clone().unwrap_or_else(|| f.key.clone())),
            tags: dedup_tags(f.tags.clone()),
            variants: Some(variants),
            salt: Some(salt),
            environments: BTreeMap::new(),
            ..f.clone()
        };
        let flag = Flag {
            key: wanted.key.clone(),
            name: wanted.name.clone().unwrap_or_default(),
            description: wanted.description.clone(),
            tags: wanted.tags.clone(),
            kind: wanted.kind,
            variants: wanted.variants.clone().unwrap_or_default(),
            salt: wanted.salt.clone().unwrap_or_default(),
            archived: false,
        };
        let checks = check_key("key", &flag.key)
            .and_then(|()| check_name("name", &flag.name))
            .and_then(|()| check_description(&flag.description))
            .and_then(|()| check_tags(&flag.tags));
        collect(&mut problems, &at, checks);
        let invalid = validate_flag(&flag);
        if !invalid.is_empty() {
            problems.extend(within(&at, ApiError::Invalid(invalid)));
        }
        let checked = flag.clone();
        let before_definition = before.map(|b| FlagDocument { environments: BTreeMap::new(), ..b.clone() });
        let e = entry("flag", f.key.clone(), before_definition.as_ref(), Some(&wanted));
        match e.op {
            super::PlanOp::Create => steps.push((at.clone(), ApplyStep::CreateFlag(flag))),
            super::PlanOp::Update => {
                let patch = FlagPatch {
                    name: Some(flag.name),
                    description: Some(flag.description),
                    tags: Some(flag.tags),
                    variants: Some(flag.variants),
                };
                steps.push((at.clone(), ApplyStep::UpdateFlag(flag.key, patch)));
            }
            _ => {}
        }
        entries.push(e);
        for (env, config) in &f.environments {
            let path = format!("{at}.environments.{env}");
            if !known_envs.contains(env.as_str()) {
                problems.push(Problem { path, message: format!("environment \"{env}\" does not exist") });
                continue;
            }
            let old = before.and_then(|b| b.environments.get(env));
            let e = entry(
                "config",
                format!("{}/{env}", f.key),
                old.map(ConfigDocument::core).as_ref(),
                Some(&config.core()),
            );
            if e.op != super::PlanOp::Unchanged {
                if protected.contains(env) && role != Role::Admin {
                    problems.push(Problem {
                        path,
                        message: format!(
                            "environment \"{env}\" requires approval: propose this change as a change request"
                        ),
                    });
                    continue;
                }
                steps_for_config(&mut configs, path.clone(), &f.key, env, config);
            }
            entries.push(e);
            let place = Place { flag: &checked, env, path: &path, prune, metrics: &metrics.known, config: settings };
            rollouts.config(&place, old, config, live);
        }
    }
    steps.append(&mut configs);
    problems.append(&mut rollouts.problems);
    entries.append(&mut rollouts.entries);
    steps.append(&mut rollouts.steps);
    let metrics_change = steps.iter().any(|(_, s)| {
        matches!(
            s,
            ApplyStep::CreateMetric(..)
                | ApplyStep::UpdateMetric(..)
                | ApplyStep::CreateGuard(..)
                | ApplyStep::UpdateGuard(..)
                | ApplyStep::DeleteGuard(..)
        )
    }) || !metrics.deletions.is_empty();

    if prune {
        let named: BTreeSet<&str> = desired.flags.iter().map(|f| f.key.as_str()).collect();
        for f in current.flags.iter().filter(|f| !named.contains(f.key.as_str())) {
            entries.push(entry::<FlagDocument>("flag", f.key.clone(), Some(f), None));
            steps.push((format!("flag {}", f.key), ApplyStep::DeleteFlag(f.key.clone())));
        }
        let named: BTreeSet<&str> = desired.segments.iter().map(|s| s.key.as_str()).collect();
        for s in current.segments.iter().filter(|s| !named.contains(s.key.as_str())) {
            entries.push(entry::<CreateSegment>("segment", s.key.clone(), Some(s), None));
            steps.push((format!("segment {}", s.key), ApplyStep::DeleteSegment(s.key.clone())));
        }
        super::metrics::pruned(current, desired, &mut entries);
        steps.extend(metrics.deletions);
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    if !rollouts.conflicts.is_empty() {
        return Err(ApiError::Conflict(rollouts.conflicts.join("; ")));
    }
    Ok(Planned { entries, steps, environments_change, metrics_change })
}

fn steps_for_config(
    steps: &mut Vec<(String, ApplyStep)>,
    path: String,
    flag: &str,
    environment: &str,
    c: &ConfigDocument,
) {
    let config = FlagConfig {
        flag: flag.to_owned(),
        environment: environment.to_owned(),
        version: 0,
        enabled: c.enabled,
        off_variant: c.off_variant.clone(),
        targets: c.targets.clone(),
        rules: c.rules.clone(),
        default: c.default.clone(),
        prerequisites: c.prerequisites.clone(),
    };
    steps.push((path, ApplyStep::SetConfig(config)));
}

/// A failed step as an answer: its problems under the step's document path.
fn failure(f: ApplyFailure) -> ApiError {
    match (f.at, f.error) {
        (Some(at), StoreError::Invalid(problems)) => ApiError::Invalid(within(&at, ApiError::Invalid(problems))),
        (Some(at), StoreError::Conflict(message)) => ApiError::Conflict(format!("{at}: {message}")),
        (Some(at), StoreError::NotFound(what)) => ApiError::invalid(at, format!("{what} not found")),
        (_, error) => ApiError::from(error),
    }
}

/// Apply a document (JSON or YAML, by `Content-Type`): environments, segments and flags it names are created
/// or changed to match it; with `prune=true` the segments and live flags it leaves out are deleted. With
/// `dry_run=true` the plan is answered and nothing changes. One transaction, one audit row per changed
/// object (`config.apply` for configs); refused with 409 when `expected_revision` (or, without it, the
/// state the plan was made from) is no longer current. Creating or changing environments needs an admin.
#[utoipa::path(post, path = "/api/v1/apply", tag = "documents", params(ApplyParams),
    security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])),
    request_body(content((Document = "application/json"), (Document = "application/yaml"))),
    responses((status = 200, body = Plan, description = "The plan (dry run) or what was applied"),
        (status = 400, body = ProblemBody, description = "Unreadable document; `field` is the path of the fault"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "Something changed since `expected_revision`, or an object stands in the way"),
        (status = 415, body = ProblemBody),
        (status = 422, body = ProblemBody, description = "Every problem, each with its document path")))]
pub(super) async fn apply(
    caller: Editor,
    State(state): State<AppState>,
    Query(params): Query<ApplyParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Plan>, ApiError> {
    let format = Format::of_body(&headers)?;
    let desired = Document::decode(&body, format)?;
    let revision = state.store.document_revision().await?;
    let expected = params.expected_revision.unwrap_or_else(|| revision.clone());
    if expected != revision {
        return Err(ApiError::Conflict(format!(
            "the document revision is {revision}, not {expected}: something changed since"
        )));
    }
    let (current, live) = read_state(&state.store).await?;
    let protected: BTreeSet<String> = state
        .store
        .list_environments()
        .await?
        .into_iter()
        .filter(|e| e.approvals_required > 0)
        .map(|e| e.key)
        .collect();
    let planned = plan(&current, &live, &desired, params.prune, caller.0.role, &protected, &state.config)?;
    let mut plan = Plan::new(revision, planned.entries);
    if params.dry_run || !plan.changes_anything() {
        plan.applied = !params.dry_run;
        return Ok(Json(plan));
    }
    let check = crate::api::flags::update::check;
    let revisions = state.store.apply(&expected, planned.steps, caller.actor(), check).await.map_err(failure)?;
    if planned.environments_change
        && let Err(e) = state.snapshots.refresh_all().await
    {
        tracing::warn!(error = %e, "could not reload the environments after an apply; the refresh loop will");
    }
    state.snapshots.after_commit(&revisions).await;
    if planned.metrics_change
        && let Err(e) = state.snapshots.reload_watched().await
    {
        tracing::warn!(error = %e, "could not reload the metrics the intake keeps; the refresh loop will");
    }
    plan.applied = true;
    plan.revision = state.store.document_revision().await?;
    Ok(Json(plan))
}
