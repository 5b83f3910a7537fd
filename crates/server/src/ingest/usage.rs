//! Writes the evaluation counts of [`crate::telemetry::usage`] (server evaluations and SDK exposures) to the
//! database on the intake's flush, and keeps the gauge of cleanup candidates per environment current.

use std::collections::BTreeMap;

use crate::domain::lifecycle::{FlagLife, cleanup};
use crate::store::{FlagFacts, Store, StoreResult, UsageRow};
use crate::telemetry::metrics::{EnvironmentLabels, Metrics};
use crate::telemetry::usage::Usage;

/// Writes the counts taken since the last flush, as seen at `now`; returns how many (flag, environment)
/// rows. When the database cannot take them, the counts go back for the next flush.
pub async fn flush(usage: &Usage, store: &Store, now: i64) -> StoreResult<usize> {
    let rows: Vec<UsageRow> = usage
        .take()
        .into_iter()
        .map(|(environment, flag, evaluations)| UsageRow { environment, flag, evaluations })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    match store.record_usage(&rows, now).await {
        Ok(()) => Ok(rows.len()),
        Err(e) => {
            for r in &rows {
                usage.add(&r.environment, &r.flag, r.evaluations);
            }
            Err(e)
        }
    }
}

/// A flag's facts as the lifecycle rules take them: in every environment, or in one.
pub fn life<'a>(facts: &'a FlagFacts, environment: Option<&str>) -> FlagLife<'a> {
    let in_scope = |env: &str| environment.is_none_or(|only| only == env);
    FlagLife {
        created_at: facts.created_at,
        last_seen: facts.last_seen.iter().filter(|(env, _)| in_scope(env)).map(|(_, &at)| at).max(),
        configs: facts.configs.iter().filter(|(c, _)| in_scope(&c.environment)).map(|(c, at)| (c, *at)).collect(),
    }
}

/// Sets `pennon_flag_cleanup_candidates{environment}`: per environment, the live flags not evaluated there
/// for `stale_after_ms` or serving one variant to everyone there unchanged for as long.
pub async fn update_gauge(metrics: &Metrics, store: &Store, now: i64, stale_after_ms: i64) -> StoreResult<()> {
    let facts = store.flag_facts(None, None).await?;
    let mut counts: BTreeMap<String, i64> = store.list_environments().await?.into_iter().map(|e| (e.key, 0)).collect();
    for flag in facts.values() {
        for (environment, count) in &mut counts {
            if !cleanup(&life(flag, Some(environment)), now, stale_after_ms).is_empty() {
                *count += 1;
            }
        }
    }
    for (environment, count) in counts {
        metrics.cleanup_candidates.get_or_create(&EnvironmentLabels { environment }).set(count);
    }
    Ok(())
}
