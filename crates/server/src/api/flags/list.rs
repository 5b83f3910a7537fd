//! `GET /flags`: a page of flag definitions, filtered; with `environments=true`, each flag's state in every
//! environment too, so that the flags list is one request.

use std::collections::BTreeMap;

use axum::extract::State;
use pennon_engine::Serve;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::common::{Page, cursor_param, page_limit, rfc3339};
use super::super::flag_states::{GuardCounts, PlanStepBody};
use super::FlagBody;
use super::usage::{StatusFilter, reasons};
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::domain::lifecycle::Cleanup;
use crate::http::error::{ApiError, Json, ProblemBody, Query};
use crate::store::{FlagEnvironmentState, FlagFilter, now_millis};

/// Which flags the list holds by their archived mark.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum ArchivedFilter {
    /// Live flags only (the default).
    #[default]
    False,
    /// Archived flags only.
    True,
    /// Both.
    Include,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    /// Only flags with this tag.
    tag: Option<String>,
    /// Only flags whose key, name, description or one of whose tags contains this text (case-insensitive).
    q: Option<String>,
    /// `false` (default) lists live flags, `true` archived ones instead, `include` both.
    #[param(value_type = Option<ArchivedFilter>, inline)]
    archived: Option<ArchivedFilter>,
    /// `true` adds each flag's state in every environment (`environments`), when it last changed
    /// (`changed_at`), when it was last evaluated (`last_seen`) and why it is a cleanup candidate (`cleanup`).
    environments: Option<bool>,
    /// Only cleanup candidates: `stale` (either kind), `unused` (not evaluated in any environment for
    /// `--stale-after-days`) or `rolled_out` (one variant to everyone in every environment for as long).
    #[param(value_type = Option<StatusFilter>, inline)]
    status: Option<StatusFilter>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A flag in the list: its definition and, when asked for, its state in every environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagListItem {
    /// The definition.
    #[serde(flatten)]
    pub flag: FlagBody,
    /// With `environments=true`: the flag's state in each environment, by environment key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environments: Option<BTreeMap<String, FlagCell>>,
    /// With `environments=true`: the last change to the definition or to any environment's config (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
    /// With `environments=true` or `status`: when it was last evaluated in any environment (RFC 3339, to the
    /// minute); absent when never, or when not asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// With `environments=true` or `status`: why it is a cleanup candidate (empty when it is not one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<Vec<Cleanup>>,
}

/// A flag's state in one environment, as the flags list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagCell {
    /// Whether the config is on.
    pub enabled: bool,
    /// The config's version (for `If-Match` on a toggle).
    pub version: u64,
    /// What it serves when off.
    pub off_variant: String,
    /// What it serves when on and no target or rule matched.
    pub default: Serve,
    /// How many rules it has.
    pub rules: usize,
    /// How many context keys are targeted individually.
    pub targets: usize,
    /// How many prerequisites it has.
    pub prerequisites: usize,
    /// RFC 3339.
    pub updated_at: String,
    /// Who changed the config last.
    pub updated_by: String,
    /// Its rollout plan's step, when it has a plan.
    pub plan: Option<PlanStepBody>,
    /// How many of its guards are in each state.
    pub guards: GuardCounts,
}

impl From<FlagEnvironmentState> for FlagCell {
    fn from(s: FlagEnvironmentState) -> Self {
        let count = |state: &str| s.guards.get(state).copied().unwrap_or(0);
        let guards = GuardCounts {
            healthy: count("healthy"),
            insufficient_data: count("insufficient_data"),
            breached: count("breached"),
        };
        let config = s.config;
        FlagCell {
            enabled: config.enabled,
            version: config.version,
            off_variant: config.off_variant,
            default: config.default,
            rules: config.rules.len(),
            targets: config.targets.iter().map(|t| t.keys.len()).sum(),
            prerequisites: config.prerequisites.len(),
            updated_at: rfc3339(s.updated_at),
            updated_by: s.updated_by,
            plan: s.plan.map(Into::into),
            guards,
        }
    }
}

/// List flags by key, a page at a time; with `environments=true` each with its state in every environment.
#[utoipa::path(get, path = "/api/v1/flags", tag = "flags", security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])), params(ListParams),
    responses((status = 200, body = Page<FlagListItem>), (status = 400, body = ProblemBody)))]
pub(super) async fn list_flags(
    _: Viewer,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Page<FlagListItem>>, ApiError> {
    let limit = page_limit(params.limit)?;
    let after = cursor_param(params.cursor.as_deref())?;
    let filter = FlagFilter {
        tag: params.tag.filter(|t| !t.is_empty()),
        query: params.q.filter(|q| !q.is_empty()),
        archived: match params.archived.unwrap_or_default() {
            ArchivedFilter::False => Some(false),
            ArchivedFilter::True => Some(true),
            ArchivedFilter::Include => None,
        },
        after: after.clone(),
        // With a status, the page is filled after the facts have ruled out the flags that are not listed.
        limit: if params.status.is_some() { u32::MAX >> 1 } else { limit + 1 },
    };
    let mut records = state.store.list_flags(&filter).await?;
    let with_usage = params.environments.unwrap_or(false) || params.status.is_some();
    let mut facts = match (with_usage, records.first(), records.last()) {
        (true, Some(first), Some(last)) => {
            let (from, to) = match params.status {
                Some(_) => (after.as_deref(), None),
                None => (Some(first.flag.key.as_str()), Some(last.flag.key.as_str())),
            };
            Some(state.store.flag_facts(from, to).await?)
        }
        _ => None,
    };
    let now = now_millis();
    let mut cleanups: BTreeMap<String, Vec<Cleanup>> = BTreeMap::new();
    if let Some(facts) = &facts {
        for record in &records {
            cleanups.insert(record.flag.key.clone(), reasons(&state, facts.get(&record.flag.key), now));
        }
    }
    if let Some(status) = params.status {
        records.retain(|r| cleanups.get(&r.flag.key).is_some_and(|c| status.admits(c)));
    }
    records.truncate(limit as usize + 1);
    let mut states = match (params.environments.unwrap_or(false), records.first(), records.last()) {
        (true, Some(first), Some(last)) => {
            Some(state.store.flag_states_between(&first.flag.key, &last.flag.key).await?)
        }
        _ => None,
    };
    let items = records
        .into_iter()
        .map(|record| {
            let cells = states.as_mut().map(|s| s.remove(&record.flag.key).unwrap_or_default());
            let changed_at = cells.as_ref().map(|cells| {
                let latest = cells.values().map(|c| c.updated_at).fold(record.updated_at, i64::max);
                rfc3339(latest)
            });
            let environments = cells.map(|cells| cells.into_iter().map(|(env, c)| (env, FlagCell::from(c))).collect());
            let flag_facts = facts.as_mut().map(|f| f.remove(&record.flag.key));
            let last_seen = flag_facts.flatten().and_then(|f| f.last_seen.values().max().copied()).map(rfc3339);
            let cleanup = with_usage.then(|| cleanups.remove(&record.flag.key).unwrap_or_default());
            FlagListItem { flag: FlagBody::from(record), environments, changed_at, last_seen, cleanup }
        })
        .collect();
    Ok(Json(Page::from_overfetch(items, limit, |f: &FlagListItem| f.flag.key.clone())))
}
