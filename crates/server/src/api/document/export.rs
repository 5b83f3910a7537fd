//! `GET /export`: environments, segments, metrics and live flags with their configs, rollout plans and
//! guards, as one document.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ConfigDocument, DOCUMENT_VERSION, Document, FlagDocument, Format};
use crate::api::environments::CreateEnvironment;
use crate::api::guards::{GuardInput, input_of};
use crate::api::metrics::CreateMetric;
use crate::api::plans::PutPlan;
use crate::api::segments::CreateSegment;
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::domain::plans::PlanState;
use crate::http::error::{ApiError, ProblemBody, Query};
use crate::store::{FlagFilter, Store};

/// The header that carries the document revision: `?expected_revision=` of an apply.
pub const REVISION_HEADER: &str = "pennon-revision";

/// What to export.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ExportParams {
    /// Only this environment (and only its configs).
    environment: Option<String>,
    /// Only this flag.
    flag: Option<String>,
    /// `json` or `yaml`; else by `Accept` (JSON unless it names YAML).
    #[param(inline)]
    format: Option<Format>,
}

/// What the store holds beyond the document: the state of each plan and the id of each guard, by flag and
/// environment (guards in the document's order).
#[derive(Debug, Default)]
pub(super) struct Live {
    /// Each plan's state.
    pub plans: BTreeMap<(String, String), PlanState>,
    /// Each guard's id and definition.
    pub guards: BTreeMap<(String, String), Vec<(i64, GuardInput)>>,
}

/// Everything the store holds, as a document (all environments, segments, metrics and live flags).
pub(super) async fn read_document(store: &Store) -> Result<Document, ApiError> {
    Ok(read_state(store).await?.0)
}

/// The document, with the plans' states and the guards' ids.
pub(super) async fn read_state(store: &Store) -> Result<(Document, Live), ApiError> {
    let environments = store
        .list_environments()
        .await?
        .into_iter()
        .map(|e| CreateEnvironment {
            key: e.key,
            name: Some(e.name),
            production: e.production,
            allowed_origins: e.allowed_origins,
            position: None,
        })
        .collect();
    let segments = store
        .list_segments()
        .await?
        .into_iter()
        .map(|r| CreateSegment {
            key: r.segment.key,
            name: Some(r.segment.name),
            description: r.segment.description,
            conditions: r.segment.conditions,
            included: r.segment.included,
            excluded: r.segment.excluded,
        })
        .collect();
    let metrics = store
        .list_metrics()
        .await?
        .into_iter()
        .map(|m| CreateMetric {
            key: m.key,
            kind: m.draft.kind,
            unit: m.draft.unit,
            direction: m.draft.direction,
            description: m.draft.description,
        })
        .collect();
    let mut live = Live::default();
    let mut plans = BTreeMap::new();
    for p in store.all_plans().await? {
        let at = (p.flag.clone(), p.environment.clone());
        live.plans.insert(at.clone(), p.state);
        plans.insert(at, PutPlan::of(&p.spec));
    }
    for g in store.all_guards().await? {
        live.guards.entry((g.flag.clone(), g.environment.clone())).or_default().push((g.id, input_of(&g.draft)));
    }
    for list in live.guards.values_mut() {
        list.sort_by_cached_key(|(id, g)| (serde_json::to_string(g).expect("serialisable"), *id));
    }
    let filter = FlagFilter { archived: Some(false), limit: u32::MAX, ..FlagFilter::default() };
    let records = store.list_flags(&filter).await?;
    let mut configs: BTreeMap<String, BTreeMap<String, ConfigDocument>> = BTreeMap::new();
    for c in store.all_configs().await? {
        let config = ConfigDocument {
            enabled: c.enabled,
            off_variant: c.off_variant,
            targets: c.targets,
            rules: c.rules,
            default: c.default,
            prerequisites: c.prerequisites,
            plan: plans.remove(&(c.flag.clone(), c.environment.clone())),
            guards: live
                .guards
                .get(&(c.flag.clone(), c.environment.clone()))
                .map(|list| list.iter().map(|(_, g)| g.clone()).collect()),
        };
        configs.entry(c.flag).or_default().insert(c.environment, config);
    }
    let flags = records
        .into_iter()
        .map(|r| FlagDocument {
            environments: configs.remove(&r.flag.key).unwrap_or_default(),
            key: r.flag.key,
            name: Some(r.flag.name),
            description: r.flag.description,
            tags: r.flag.tags,
            kind: r.flag.kind,
            variants: Some(r.flag.variants),
            salt: Some(r.flag.salt),
        })
        .collect();
    Ok((Document { version: DOCUMENT_VERSION, environments, segments, metrics, flags }, live))
}

/// Keeps only `environment` and `flag`, when named (404 when they name nothing).
fn narrow(mut document: Document, environment: Option<&str>, flag: Option<&str>) -> Result<Document, ApiError> {
    if let Some(env) = environment {
        document.environments.retain(|e| e.key == env);
        if document.environments.is_empty() {
            return Err(ApiError::NotFound(format!("environment \"{env}\"")));
        }
        for f in &mut document.flags {
            f.environments.retain(|key, _| key == env);
        }
    }
    if let Some(key) = flag {
        document.flags.retain(|f| f.key == key);
        if document.flags.is_empty() {
            return Err(ApiError::NotFound(format!("flag \"{key}\"")));
        }
    }
    Ok(document)
}

/// Export environments, segments and live flags with their configs as one document (JSON or YAML), with
/// each flag's salt and without what a server assigns (versions, revisions, times). The `Pennon-Revision`
/// header is the state exported: give it to `POST /apply` as `expected_revision`.
#[utoipa::path(get, path = "/api/v1/export", tag = "documents", params(ExportParams),
    security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    responses((status = 200, description = "The document",
            content((Document = "application/json"), (Document = "application/yaml")),
            headers(("Pennon-Revision" = String, description = "The document revision, for `expected_revision`"))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub(super) async fn export(
    _: Viewer,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ExportParams>,
) -> Result<impl IntoResponse, ApiError> {
    let format = Format::wanted(params.format, &headers);
    let revision = state.store.document_revision().await?;
    let document = read_document(&state.store).await?;
    let document = narrow(document, params.environment.as_deref(), params.flag.as_deref())?;
    let mut out = HeaderMap::new();
    out.insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    out.insert(REVISION_HEADER, HeaderValue::from_str(&revision).expect("hex is header text"));
    Ok((out, document.encode(format)))
}
