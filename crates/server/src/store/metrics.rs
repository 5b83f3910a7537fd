//! Metrics as objects: what a tracked metric is (a rate of events per exposure, or a mean of values), its unit
//! and which way is better. Guards and experiment results name them by key; the SDK metrics intake keeps only
//! data of known metrics. Shared by every environment; every change is versioned and audited.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::guards::text_of;
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult};

/// What a metric's tracked values mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Events per exposure: each `track()` is one event (an error, a conversion).
    Rate,
    /// The average tracked value (a latency, an order value).
    Mean,
}

/// Which way of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricDirection {
    /// More is better: conversions, revenue.
    HigherIsBetter,
    /// Less is better: errors, latency.
    LowerIsBetter,
}

/// What a person sets on a metric (already validated).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDraft {
    /// Rate or mean.
    pub kind: MetricKind,
    /// Display unit, e.g. `ms`; may be empty.
    pub unit: String,
    /// Which way is better.
    pub direction: MetricDirection,
    /// Free text.
    pub description: String,
}

/// A metric as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRecord {
    /// The name SDKs report with `track()`.
    pub key: String,
    /// What a person set.
    #[serde(flatten)]
    pub draft: MetricDraft,
    /// Bumped by every change.
    pub version: u64,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

fn parse_text<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    Ok(serde_json::from_value(serde_json::Value::String(text.to_owned()))?)
}

fn from_row(row: &AnyRow) -> StoreResult<MetricRecord> {
    Ok(MetricRecord {
        key: row.try_get("key")?,
        draft: MetricDraft {
            kind: parse_text(&row.try_get::<String, _>("kind")?)?,
            unit: row.try_get("unit")?,
            direction: parse_text(&row.try_get::<String, _>("direction")?)?,
            description: row.try_get("description")?,
        },
        version: u64::try_from(row.try_get::<i64, _>("version")?).unwrap_or(0),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "key, kind, unit, direction, description, version, created_at, updated_at";

async fn fetch(tx: &mut WriteTx, key: &str) -> StoreResult<MetricRecord> {
    let sql = format!("SELECT {COLUMNS} FROM metrics WHERE key = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(key).fetch_optional(tx.conn()).await?;
    row.as_ref().map(from_row).transpose()?.ok_or_else(|| StoreError::NotFound(format!("metric \"{key}\"")))
}

/// Tells every replica to reload what the intake keeps: a metric's existence changes it in every environment.
async fn watched_everywhere(tx: &mut WriteTx) -> StoreResult<()> {
    let environments: Vec<String> = sqlx::query_scalar("SELECT key FROM environments").fetch_all(tx.conn()).await?;
    for environment in environments {
        tx.guards_changed(&environment);
    }
    Ok(())
}

impl Store {
    /// Every metric, by key.
    pub async fn list_metrics(&self) -> StoreResult<Vec<MetricRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM metrics ORDER BY key");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// One metric.
    pub async fn get_metric(&self, key: &str) -> StoreResult<MetricRecord> {
        let sql = format!("SELECT {COLUMNS} FROM metrics WHERE key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(key).fetch_optional(&self.pool).await?;
        row.as_ref().map(from_row).transpose()?.ok_or_else(|| StoreError::NotFound(format!("metric \"{key}\"")))
    }

    /// Creates a metric (audited as `metric.create`); 409 when the key is taken.
    pub async fn create_metric(&self, key: &str, draft: &MetricDraft, actor: &Actor) -> StoreResult<MetricRecord> {
        let mut tx = self.begin_write().await?;
        let (created, audit) = Self::create_metric_in(&mut tx, key, draft, actor).await?;
        tx.commit(audit).await?;
        Ok(created)
    }

    /// [`Store::create_metric`] inside a transaction the caller commits.
    pub(crate) async fn create_metric_in(
        tx: &mut WriteTx,
        key: &str,
        draft: &MetricDraft,
        actor: &Actor,
    ) -> StoreResult<(MetricRecord, Audit)> {
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM metrics WHERE key = $1").bind(key).fetch_optional(tx.conn()).await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("metric \"{key}\" exists already")));
        }
        let at = tx.at();
        sqlx::query(
            "INSERT INTO metrics (key, kind, unit, direction, description, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
        )
        .bind(key)
        .bind(text_of(&draft.kind))
        .bind(&draft.unit)
        .bind(text_of(&draft.direction))
        .bind(&draft.description)
        .bind(at)
        .execute(tx.conn())
        .await?;
        let created = fetch(tx, key).await?;
        watched_everywhere(tx).await?;
        let audit = Audit::new(actor, "metric.create", "metric", key).change(None, Some(&created), Some(1));
        Ok((created, audit))
    }

    /// Changes a metric (audited as `metric.update`), based on `expected` when given. Its kind cannot change
    /// while guards use it as the other kind: they would test something else.
    pub async fn update_metric(
        &self,
        key: &str,
        expected: Option<u64>,
        draft: &MetricDraft,
        actor: &Actor,
    ) -> StoreResult<MetricRecord> {
        let mut tx = self.begin_write().await?;
        let (next, audit) = Self::update_metric_in(&mut tx, key, expected, draft, actor).await?;
        tx.commit(audit).await?;
        Ok(next)
    }

    /// [`Store::update_metric`] inside a transaction the caller commits.
    pub(crate) async fn update_metric_in(
        tx: &mut WriteTx,
        key: &str,
        expected: Option<u64>,
        draft: &MetricDraft,
        actor: &Actor,
    ) -> StoreResult<(MetricRecord, Audit)> {
        let current = fetch(tx, key).await?;
        if expected.is_some_and(|v| v != current.version) {
            return Err(StoreError::VersionConflict { current: current.version });
        }
        if draft.kind != current.draft.kind {
            let users: Option<i64> = sqlx::query_scalar("SELECT 1 FROM guards WHERE metric = $1 LIMIT 1")
                .bind(key)
                .fetch_optional(tx.conn())
                .await?;
            if users.is_some() {
                return Err(StoreError::Conflict(format!("guards use metric \"{key}\" as a {:?}", current.draft.kind)));
            }
        }
        sqlx::query(
            "UPDATE metrics SET kind = $2, unit = $3, direction = $4, description = $5, version = version + 1, \
             updated_at = $6 WHERE key = $1",
        )
        .bind(key)
        .bind(text_of(&draft.kind))
        .bind(&draft.unit)
        .bind(text_of(&draft.direction))
        .bind(&draft.description)
        .bind(tx.at())
        .execute(tx.conn())
        .await?;
        let next = fetch(tx, key).await?;
        let audit =
            Audit::new(actor, "metric.update", "metric", key).change(Some(&current), Some(&next), Some(next.version));
        Ok((next, audit))
    }

    /// Deletes a metric (audited as `metric.delete`); 409 while a guard uses it.
    pub async fn delete_metric(&self, key: &str, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let audit = Self::delete_metric_in(&mut tx, key, actor).await?;
        tx.commit(audit).await?;
        Ok(())
    }

    /// [`Store::delete_metric`] inside a transaction the caller commits.
    pub(crate) async fn delete_metric_in(tx: &mut WriteTx, key: &str, actor: &Actor) -> StoreResult<Audit> {
        let current = fetch(tx, key).await?;
        let users: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM guards WHERE metric = $1").bind(key).fetch_one(tx.conn()).await?;
        if users > 0 {
            return Err(StoreError::Conflict(format!("{users} guard(s) use metric \"{key}\"; delete them first")));
        }
        sqlx::query("DELETE FROM metrics WHERE key = $1").bind(key).execute(tx.conn()).await?;
        watched_everywhere(tx).await?;
        Ok(Audit::new(actor, "metric.delete", "metric", key).change(Some(&current), None, None))
    }
}
