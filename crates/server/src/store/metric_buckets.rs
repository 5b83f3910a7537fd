//! SDK metrics in 10-second buckets: flushed from the in-memory aggregation (adding to what other replicas
//! wrote), read back as sums over a time window for the guards.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pennon_engine::protocol::{MAX_COUNT, MAX_SUM, MAX_SUM_SQUARES};
use sqlx::Row;

use super::{Backend, Store, StoreResult};

/// Exposures of one variant in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposureBucket {
    /// Environment key.
    pub environment: String,
    /// Flag key.
    pub flag: String,
    /// Variant key.
    pub variant: String,
    /// The bucket's start, Unix milliseconds.
    pub bucket: i64,
    /// Evaluations that served the variant.
    pub count: u64,
}

/// A tracked metric of one variant in one time bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricBucket {
    /// Environment key.
    pub environment: String,
    /// Flag key.
    pub flag: String,
    /// Variant key.
    pub variant: String,
    /// Metric name.
    pub metric: String,
    /// The bucket's start, Unix milliseconds.
    pub bucket: i64,
    /// How many values were tracked.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The sum of their squares.
    pub sum_squares: f64,
}

impl ExposureBucket {
    /// The row's key, in the order rows are written (and so locked): the same order on every replica.
    pub fn key(&self) -> (&str, &str, &str, i64) {
        (&self.environment, &self.flag, &self.variant, self.bucket)
    }
}

impl MetricBucket {
    /// The row's key, in the order rows are written (and so locked): the same order on every replica.
    pub fn key(&self) -> (&str, &str, &str, &str, i64) {
        (&self.environment, &self.flag, &self.metric, &self.variant, self.bucket)
    }
}

/// One variant's totals over a time window: exposures, and the metric's count, sum and sum of squares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VariantTotals {
    /// Variant key.
    pub variant: String,
    /// Evaluations that served the variant.
    pub exposures: u64,
    /// Tracked values of the metric.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The sum of their squares.
    pub sum_squares: f64,
}

/// Rows per statement: well below the bind-parameter limits of both databases.
pub(super) const ROWS_PER_STATEMENT: usize = 200;

pub(super) fn placeholders(rows: usize, columns: usize) -> String {
    let mut out = String::new();
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "${}", r * columns + c + 1);
        }
        out.push(')');
    }
    out
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Adds aggregated buckets to the stored ones, in one transaction: rows that exist already are summed
    /// with these, so every replica's flushes add up, and the sums saturate at the protocol's bounds
    /// (`MAX_COUNT`, `MAX_SUM`, `MAX_SUM_SQUARES`), as the in-memory aggregation does, so that no sum over
    /// a window can overflow. Rows are written in key order, so that two replicas flushing the same buckets
    /// cannot deadlock.
    pub async fn add_metric_buckets(&self, exposures: &[ExposureBucket], metrics: &[MetricBucket]) -> StoreResult<()> {
        if exposures.is_empty() && metrics.is_empty() {
            return Ok(());
        }
        let mut exposures: Vec<&ExposureBucket> = exposures.iter().collect();
        exposures.sort_by(|a, b| a.key().cmp(&b.key()));
        let mut metrics: Vec<&MetricBucket> = metrics.iter().collect();
        metrics.sort_by(|a, b| a.key().cmp(&b.key()));
        let (least, greatest) = match self.backend {
            Backend::Postgres => ("LEAST", "GREATEST"),
            Backend::Sqlite => ("MIN", "MAX"),
        };
        let (_writer, mut tx) = self.begin_plain_write().await?;
        for chunk in exposures.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO exposure_buckets (environment, flag, variant, bucket, count) VALUES {} \
                 ON CONFLICT (environment, flag, variant, bucket) \
                 DO UPDATE SET count = {least}(exposure_buckets.count + excluded.count, {MAX_COUNT})",
                placeholders(chunk.len(), 5)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                query = query.bind(&e.environment).bind(&e.flag).bind(&e.variant).bind(e.bucket).bind(as_i64(e.count));
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in metrics.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO metric_buckets (environment, flag, metric, variant, bucket, count, sum, sum_squares) \
                 VALUES {} ON CONFLICT (environment, flag, metric, variant, bucket) \
                 DO UPDATE SET count = {least}(metric_buckets.count + excluded.count, {MAX_COUNT}), \
                 sum = {greatest}({least}(metric_buckets.sum + excluded.sum, {MAX_SUM:e}), -{MAX_SUM:e}), \
                 sum_squares = {least}(metric_buckets.sum_squares + excluded.sum_squares, {MAX_SUM_SQUARES:e})",
                placeholders(chunk.len(), 8)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                query = query
                    .bind(&m.environment)
                    .bind(&m.flag)
                    .bind(&m.metric)
                    .bind(&m.variant)
                    .bind(m.bucket)
                    .bind(as_i64(m.count))
                    .bind(m.sum)
                    .bind(m.sum_squares);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Per variant of a flag in an environment: exposures and the metric's totals over the buckets that start
    /// in `[since, until)` (Unix milliseconds), by variant key. Variants with neither exposures nor values are
    /// absent.
    pub async fn metric_totals(
        &self,
        environment: &str,
        flag: &str,
        metric: &str,
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<VariantTotals>> {
        let mut by_variant: BTreeMap<String, VariantTotals> = BTreeMap::new();
        let exposures = sqlx::query(
            "SELECT variant, CAST(SUM(count) AS BIGINT) AS count FROM exposure_buckets \
             WHERE environment = $1 AND flag = $2 AND bucket >= $3 AND bucket < $4 GROUP BY variant",
        )
        .bind(environment)
        .bind(flag)
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        for row in exposures {
            let variant: String = row.try_get("variant")?;
            let totals =
                by_variant.entry(variant.clone()).or_insert_with(|| VariantTotals { variant, ..Default::default() });
            totals.exposures = row.try_get::<i64, _>("count")?.max(0) as u64;
        }
        let values = sqlx::query(
            "SELECT variant, CAST(SUM(count) AS BIGINT) AS count, SUM(sum) AS sum, SUM(sum_squares) AS sum_squares \
             FROM metric_buckets WHERE environment = $1 AND flag = $2 AND metric = $3 AND bucket >= $4 AND bucket < $5 \
             GROUP BY variant",
        )
        .bind(environment)
        .bind(flag)
        .bind(metric)
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        for row in values {
            let variant: String = row.try_get("variant")?;
            let totals =
                by_variant.entry(variant.clone()).or_insert_with(|| VariantTotals { variant, ..Default::default() });
            totals.count = row.try_get::<i64, _>("count")?.max(0) as u64;
            totals.sum = row.try_get("sum")?;
            totals.sum_squares = row.try_get("sum_squares")?;
        }
        Ok(by_variant.into_values().collect())
    }

    /// Removes metric buckets that start before `before` (Unix milliseconds); returns how many rows went.
    pub async fn prune_metric_buckets(&self, before: i64) -> StoreResult<u64> {
        let exposures =
            sqlx::query("DELETE FROM exposure_buckets WHERE bucket < $1").bind(before).execute(&self.pool).await?;
        let metrics =
            sqlx::query("DELETE FROM metric_buckets WHERE bucket < $1").bind(before).execute(&self.pool).await?;
        Ok(exposures.rows_affected() + metrics.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
