//! A flag's usage on its reads: when it was last evaluated in each environment (by the server or by SDKs),
//! how often over the last 24 hours and 7 days, and why it is a cleanup candidate, if it is one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::common::rfc3339;
use crate::app::state::AppState;
use crate::domain::lifecycle::{Cleanup, cleanup};
use crate::http::error::ApiError;
use crate::ingest::usage::life;
use crate::store::{FlagFacts, now_millis};

/// Which cleanup candidates `GET /flags?status=` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Either kind of candidate.
    Stale,
    /// Not evaluated in any environment for `--stale-after-days`.
    Unused,
    /// Serving one variant to everyone in every environment, unchanged for `--stale-after-days`.
    RolledOut,
}

impl StatusFilter {
    /// Whether a flag with these reasons is listed.
    pub fn admits(self, reasons: &[Cleanup]) -> bool {
        match self {
            StatusFilter::Stale => !reasons.is_empty(),
            StatusFilter::Unused => reasons.contains(&Cleanup::Unused),
            StatusFilter::RolledOut => reasons.contains(&Cleanup::RolledOut),
        }
    }
}

/// A flag's usage in one environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentUsage {
    /// When it was last evaluated there, to the minute (RFC 3339); null when never.
    pub last_seen: Option<String>,
    /// Evaluations there in the last 24 hours.
    pub evaluations_24h: u64,
    /// Evaluations there in the last 7 days.
    pub evaluations_7d: u64,
}

/// A flag's usage and lifecycle.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagUsageBody {
    /// When it was last evaluated in any environment (RFC 3339); null when never.
    pub last_seen: Option<String>,
    /// By environment key; environments it was never evaluated in are absent.
    pub environments: BTreeMap<String, EnvironmentUsage>,
    /// Why it is a cleanup candidate (empty when it is not one).
    pub cleanup: Vec<Cleanup>,
}

/// How long until a flag is a cleanup candidate, in milliseconds.
pub fn stale_after_ms(state: &AppState) -> i64 {
    i64::try_from(state.config.stale_after().as_millis()).unwrap_or(i64::MAX)
}

/// The reasons a flag with these facts is a cleanup candidate now.
pub fn reasons(state: &AppState, facts: Option<&FlagFacts>, now: i64) -> Vec<Cleanup> {
    facts.map(|f| cleanup(&life(f, None), now, stale_after_ms(state))).unwrap_or_default()
}

/// One flag's usage (the flag read).
pub async fn of_flag(state: &AppState, flag: &str) -> Result<FlagUsageBody, ApiError> {
    let now = now_millis();
    let usage = state.store.flag_usage(flag, now).await?;
    let facts = state.store.flag_facts(Some(flag), Some(flag)).await?;
    let last_seen = usage.values().filter_map(|u| u.last_seen).max().map(rfc3339);
    let environments = usage
        .into_iter()
        .map(|(env, u)| {
            let body = EnvironmentUsage {
                last_seen: u.last_seen.map(rfc3339),
                evaluations_24h: u.evaluations_24h,
                evaluations_7d: u.evaluations_7d,
            };
            (env, body)
        })
        .collect();
    Ok(FlagUsageBody { last_seen, environments, cleanup: reasons(state, facts.get(flag), now) })
}
