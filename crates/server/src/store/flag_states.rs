//! Where every flag of an environment stands, in three queries: its config's switch and version, its rollout
//! plan's step, and how many of its guards are in each state. The flags list shows this for all flags at once.

use std::collections::BTreeMap;

use pennon_engine::FlagConfig;
use sqlx::Row;

use super::plans::{plans_between, plans_in};
use super::{PlanRecord, Store, StoreResult, from_json};

/// One flag's state in an environment.
#[derive(Debug, Clone)]
pub struct FlagState {
    /// Flag key.
    pub flag: String,
    /// Whether the config is on.
    pub enabled: bool,
    /// The config's version.
    pub version: u64,
    /// Its rollout plan, when it has one.
    pub plan: Option<PlanRecord>,
    /// Its guards: how many are in each state (`healthy`, `insufficient_data`, `breached`).
    pub guards: BTreeMap<String, u64>,
}

impl Store {
    /// Every flag's state in `environment`, by flag key; 404 when the environment does not exist.
    pub async fn flag_states(&self, environment: &str) -> StoreResult<Vec<FlagState>> {
        self.get_environment(environment).await?;
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query("SELECT flag, config FROM flag_configs WHERE environment = $1 ORDER BY flag")
            .bind(environment)
            .fetch_all(&mut *conn)
            .await?;
        let mut states = BTreeMap::new();
        for row in &rows {
            let config: FlagConfig = from_json(&row.try_get::<String, _>("config")?)?;
            let flag: String = row.try_get("flag")?;
            let state = FlagState {
                flag: flag.clone(),
                enabled: config.enabled,
                version: config.version,
                plan: None,
                guards: BTreeMap::new(),
            };
            states.insert(flag, state);
        }
        for plan in plans_in(&mut conn, environment).await? {
            if let Some(state) = states.get_mut(&plan.flag) {
                state.plan = Some(plan);
            }
        }
        let counts =
            sqlx::query("SELECT flag, state, COUNT(*) AS n FROM guards WHERE environment = $1 GROUP BY flag, state")
                .bind(environment)
                .fetch_all(&mut *conn)
                .await?;
        for row in &counts {
            let flag: String = row.try_get("flag")?;
            if let Some(state) = states.get_mut(&flag) {
                let n: i64 = row.try_get("n")?;
                state.guards.insert(row.try_get("state")?, u64::try_from(n).unwrap_or(0));
            }
        }
        Ok(states.into_values().collect())
    }
}

/// A flag's config in one environment with where its plan and guards stand: what the flags list shows in
/// each cell.
#[derive(Debug, Clone)]
pub struct FlagEnvironmentState {
    /// The config.
    pub config: FlagConfig,
    /// Unix milliseconds of the config's last change.
    pub updated_at: i64,
    /// Who made it.
    pub updated_by: String,
    /// Its rollout plan, when it has one.
    pub plan: Option<PlanRecord>,
    /// Its guards: how many are in each state (`healthy`, `insufficient_data`, `breached`).
    pub guards: BTreeMap<String, u64>,
}

impl Store {
    /// The state in every environment of the flags whose keys lie between `first` and `last` (inclusive; a
    /// page of the flags list), by flag key and then environment key. Three queries, whatever the page size.
    pub async fn flag_states_between(
        &self,
        first: &str,
        last: &str,
    ) -> StoreResult<BTreeMap<String, BTreeMap<String, FlagEnvironmentState>>> {
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(
            "SELECT flag, environment, config, updated_at, updated_by FROM flag_configs \
             WHERE flag >= $1 AND flag <= $2 ORDER BY flag, environment",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&mut *conn)
        .await?;
        let mut states: BTreeMap<String, BTreeMap<String, FlagEnvironmentState>> = BTreeMap::new();
        for row in &rows {
            let state = FlagEnvironmentState {
                config: from_json(&row.try_get::<String, _>("config")?)?,
                updated_at: row.try_get("updated_at")?,
                updated_by: row.try_get("updated_by")?,
                plan: None,
                guards: BTreeMap::new(),
            };
            states.entry(row.try_get("flag")?).or_default().insert(row.try_get("environment")?, state);
        }
        for plan in plans_between(&mut conn, first, last).await? {
            if let Some(state) = states.get_mut(&plan.flag).and_then(|s| s.get_mut(&plan.environment)) {
                state.plan = Some(plan);
            }
        }
        let counts = sqlx::query(
            "SELECT flag, environment, state, COUNT(*) AS n FROM guards \
             WHERE flag >= $1 AND flag <= $2 GROUP BY flag, environment, state",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&mut *conn)
        .await?;
        for row in &counts {
            let (flag, environment): (String, String) = (row.try_get("flag")?, row.try_get("environment")?);
            if let Some(state) = states.get_mut(&flag).and_then(|s| s.get_mut(&environment)) {
                let n: i64 = row.try_get("n")?;
                state.guards.insert(row.try_get("state")?, u64::try_from(n).unwrap_or(0));
            }
        }
        Ok(states)
    }
}
