//! Where every flag of an environment stands, in three queries: its config's switch and version, its rollout
//! plan's step, and how many of its guards are in each state. The flags list shows this for all flags at once.

use std::collections::BTreeMap;

use pennon_engine::FlagConfig;
use sqlx::Row;

use super::plans::plans_in;
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
