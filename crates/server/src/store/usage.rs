//! Flag usage: when each flag was last evaluated in each environment and how often per hour, written by the
//! periodic flush of in-memory counts (never per evaluation), and the facts that decide cleanup candidates.

use std::collections::BTreeMap;

use pennon_engine::FlagConfig;
use sqlx::Row;

use super::metric_buckets::{ROWS_PER_STATEMENT, placeholders};
use super::{Store, StoreResult, from_json};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// Evaluations of a flag in an environment since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// Environment key.
    pub environment: String,
    /// Flag key.
    pub flag: String,
    /// How many.
    pub evaluations: u64,
}

/// A flag's usage in one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagUsage {
    /// When it was last evaluated, to the minute (Unix milliseconds).
    pub last_seen: Option<i64>,
    /// Evaluations in the last 24 hours (the current hour and the 23 before).
    pub evaluations_24h: u64,
    /// Evaluations in the last 7 days (the current hour and the 167 before).
    pub evaluations_7d: u64,
}

/// What decides whether a (live) flag is a cleanup candidate.
#[derive(Debug, Clone)]
pub struct FlagFacts {
    /// Flag key.
    pub key: String,
    /// When it was made (Unix milliseconds).
    pub created_at: i64,
    /// When it was last evaluated, by environment.
    pub last_seen: BTreeMap<String, i64>,
    /// Its config in every environment with when that last changed.
    pub configs: Vec<(FlagConfig, i64)>,
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Adds the evaluations counted up to `at` (Unix milliseconds): `last_seen` becomes `at`'s minute, and
    /// the hour's count grows. One transaction, a statement per 200 rows and table.
    pub async fn record_usage(&self, rows: &[UsageRow], at: i64) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let (minute, hour) = (at - at.rem_euclid(MINUTE_MS), at - at.rem_euclid(HOUR_MS));
        let mut rows: Vec<&UsageRow> = rows.iter().collect();
        rows.sort_by(|a, b| (&a.flag, &a.environment).cmp(&(&b.flag, &b.environment)));
        let (_writer, mut tx) = self.begin_plain_write().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO flag_last_seen (flag, environment, last_seen) VALUES {} \
                 ON CONFLICT (flag, environment) DO UPDATE SET last_seen = CASE \
                 WHEN excluded.last_seen > flag_last_seen.last_seen THEN excluded.last_seen \
                 ELSE flag_last_seen.last_seen END",
                placeholders(chunk.len(), 3)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                query = query.bind(&r.flag).bind(&r.environment).bind(minute);
            }
            query.execute(&mut *tx).await?;
            let sql = format!(
                "INSERT INTO flag_usage_hours (flag, environment, hour, evaluations) VALUES {} \
                 ON CONFLICT (flag, environment, hour) \
                 DO UPDATE SET evaluations = flag_usage_hours.evaluations + excluded.evaluations",
                placeholders(chunk.len(), 4)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                query = query.bind(&r.flag).bind(&r.environment).bind(hour).bind(as_i64(r.evaluations));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A flag's usage in each environment it was evaluated in, at `now`.
    pub async fn flag_usage(&self, flag: &str, now: i64) -> StoreResult<BTreeMap<String, FlagUsage>> {
        let mut out: BTreeMap<String, FlagUsage> = BTreeMap::new();
        let rows = sqlx::query("SELECT environment, last_seen FROM flag_last_seen WHERE flag = $1")
            .bind(flag)
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            out.entry(row.try_get("environment")?).or_default().last_seen = Some(row.try_get("last_seen")?);
        }
        let hour = now - now.rem_euclid(HOUR_MS);
        let rows = sqlx::query(
            "SELECT environment, CAST(SUM(CASE WHEN hour >= $2 THEN evaluations ELSE 0 END) AS BIGINT) AS day, \
             CAST(SUM(evaluations) AS BIGINT) AS week FROM flag_usage_hours \
             WHERE flag = $1 AND hour >= $3 GROUP BY environment",
        )
        .bind(flag)
        .bind(hour - 23 * HOUR_MS)
        .bind(hour - 167 * HOUR_MS)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let usage = out.entry(row.try_get("environment")?).or_default();
            usage.evaluations_24h = u64::try_from(row.try_get::<i64, _>("day")?).unwrap_or(0);
            usage.evaluations_7d = u64::try_from(row.try_get::<i64, _>("week")?).unwrap_or(0);
        }
        Ok(out)
    }

    /// The facts of every live (not archived) flag whose key lies in `[from, to]` (either end open when
    /// `None`), by key. Three queries, whatever the number of flags.
    pub async fn flag_facts(&self, from: Option<&str>, to: Option<&str>) -> StoreResult<BTreeMap<String, FlagFacts>> {
        const RANGE: &str = "(CAST($1 AS TEXT) IS NULL OR flag >= $1) AND (CAST($2 AS TEXT) IS NULL OR flag <= $2)";
        let mut conn = self.pool.acquire().await?;
        let mut out = BTreeMap::new();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT key AS flag, created_at FROM flags WHERE archived = 0 AND {}",
            RANGE.replace("flag", "key")
        )))
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            let key: String = row.try_get("flag")?;
            let facts = FlagFacts {
                key: key.clone(),
                created_at: row.try_get("created_at")?,
                last_seen: BTreeMap::new(),
                configs: Vec::new(),
            };
            out.insert(key, facts);
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT flag, environment, last_seen FROM flag_last_seen WHERE {RANGE}"
        )))
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            if let Some(facts) = out.get_mut(&row.try_get::<String, _>("flag")?) {
                facts.last_seen.insert(row.try_get("environment")?, row.try_get("last_seen")?);
            }
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT flag, config, updated_at FROM flag_configs WHERE {RANGE} ORDER BY flag, environment"
        )))
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            if let Some(facts) = out.get_mut(&row.try_get::<String, _>("flag")?) {
                let config: FlagConfig = from_json(&row.try_get::<String, _>("config")?)?;
                facts.configs.push((config, row.try_get("updated_at")?));
            }
        }
        Ok(out)
    }

    /// Deletes hourly usage counts older than `before` (Unix milliseconds); `last_seen` stays.
    pub async fn prune_usage(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM flag_usage_hours WHERE hour < $1").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
