//! SDK metrics intake: batches from `POST /api/v1/sdk/metrics` are added up in memory per (environment,
//! flag, variant[, metric]) and 10-second time bucket, and written to the database periodically (and on
//! shutdown), adding to what other replicas wrote. A request never writes the database.
//!
//! Totals saturate at the protocol's bounds ([`MAX_COUNT`], [`MAX_SUM`], [`MAX_SUM_SQUARES`]) here and in the
//! database, so that no sum the store or the guards compute can overflow. The flush writes in chunks
//! (`flush`): rows the database refuses are set aside without holding up the rest.
//!
//! Uses only [`crate::store`], [`crate::domain`] and [`crate::telemetry`]; the API hands it batches and the
//! jobs flush it. [`usage`] writes the flag usage counts the same way.

mod flush;
pub mod usage;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pennon_engine::protocol::{MAX_COUNT, MAX_SUM, MAX_SUM_SQUARES};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;

use crate::store::{ExposureBucket, MetricBucket, Store, StoreResult, now_millis};

pub use flush::CHUNK_ROWS;

/// Width of a time bucket, in milliseconds.
pub const BUCKET_MS: i64 = 10_000;

/// Aggregates held before the database has taken them; beyond it, batches are refused (503) until a flush
/// succeeds, so that a long database outage cannot grow memory without bound.
pub const MAX_PENDING: usize = 200_000;

/// The start of the bucket holding `millis`.
pub fn bucket_of(millis: i64) -> i64 {
    millis - millis.rem_euclid(BUCKET_MS)
}

/// The start of the first bucket that starts at or after `millis`: the first whose data all came after it.
pub fn first_bucket_from(millis: i64) -> i64 {
    let start = bucket_of(millis);
    if start == millis { start } else { start + BUCKET_MS }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ExposureKey {
    environment: String,
    flag: String,
    variant: String,
    bucket: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MetricKey {
    environment: String,
    flag: String,
    variant: String,
    metric: String,
    bucket: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    count: u64,
    sum: f64,
    sum_squares: f64,
}

impl Sums {
    /// Adds `other`, saturating at the bounds.
    fn add(&mut self, other: Sums) {
        self.count = add_counts(self.count, other.count);
        self.sum = (self.sum + other.sum).clamp(-MAX_SUM, MAX_SUM);
        self.sum_squares = (self.sum_squares + other.sum_squares).clamp(0.0, MAX_SUM_SQUARES);
    }
}

/// Adds two counts, saturating at [`MAX_COUNT`].
fn add_counts(a: u64, b: u64) -> u64 {
    a.saturating_add(b).min(MAX_COUNT)
}

#[derive(Debug, Default)]
struct Pending {
    exposures: HashMap<ExposureKey, u64>,
    metrics: HashMap<MetricKey, Sums>,
}

impl Pending {
    fn len(&self) -> usize {
        self.exposures.len() + self.metrics.len()
    }

    fn merge(&mut self, other: Pending) {
        for (key, count) in other.exposures {
            let total = self.exposures.entry(key).or_default();
            *total = add_counts(*total, count);
        }
        for (key, sums) in other.metrics {
            self.metrics.entry(key).or_default().add(sums);
        }
    }
}

/// One exposure count of a batch (validated).
#[derive(Debug, Clone)]
pub struct Exposure<'a> {
    /// Flag key.
    pub flag: &'a str,
    /// Variant key.
    pub variant: &'a str,
    /// How many evaluations served it.
    pub count: u64,
}

/// One metric aggregate of a batch (validated).
#[derive(Debug, Clone)]
pub struct Tracked<'a> {
    /// Flag key.
    pub flag: &'a str,
    /// Variant key.
    pub variant: &'a str,
    /// Metric name.
    pub metric: &'a str,
    /// Values tracked.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Their sum of squares.
    pub sum_squares: f64,
}

/// The batch could not be taken: too much is waiting for the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many metric aggregates are waiting for the database")]
pub struct Backlogged;

/// The in-memory aggregation of this replica.
#[derive(Debug, Default)]
pub struct MetricsIntake {
    pending: Mutex<Pending>,
    /// Serialises flushes, so that a failed flush's aggregates are back before the next one starts.
    flushing: tokio::sync::Mutex<()>,
    /// Rows the database refused, set aside.
    set_aside: Counter,
}

impl MetricsIntake {
    /// An empty aggregation that counts the rows it sets aside in `set_aside`.
    pub fn new(set_aside: Counter) -> Self {
        MetricsIntake { set_aside, ..Default::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a batch received at `now` (Unix milliseconds) to the environment's current bucket.
    pub fn record(
        &self,
        environment: &str,
        exposures: &[Exposure<'_>],
        metrics: &[Tracked<'_>],
        now: i64,
    ) -> Result<(), Backlogged> {
        let bucket = bucket_of(now);
        let mut pending = self.lock();
        if pending.len() >= MAX_PENDING {
            return Err(Backlogged);
        }
        for e in exposures {
            let key = ExposureKey {
                environment: environment.to_owned(),
                flag: e.flag.to_owned(),
                variant: e.variant.to_owned(),
                bucket,
            };
            let total = pending.exposures.entry(key).or_default();
            *total = add_counts(*total, e.count);
        }
        for m in metrics {
            let key = MetricKey {
                environment: environment.to_owned(),
                flag: m.flag.to_owned(),
                variant: m.variant.to_owned(),
                metric: m.metric.to_owned(),
                bucket,
            };
            pending.metrics.entry(key).or_default().add(Sums {
                count: m.count,
                sum: m.sum,
                sum_squares: m.sum_squares,
            });
        }
        Ok(())
    }

    /// Takes every pending aggregate out (a relay forwards them upstream instead of writing them).
    pub fn take(&self) -> (Vec<ExposureBucket>, Vec<MetricBucket>) {
        std::mem::take(&mut *self.lock()).into_rows()
    }

    /// Puts back aggregates taken by [`MetricsIntake::take`] that could not be forwarded, as long as fewer than
    /// `limit` aggregates are pending; returns how many did not fit (they are lost).
    pub fn put_back(&self, exposures: Vec<ExposureBucket>, metrics: Vec<MetricBucket>, limit: usize) -> usize {
        let mut pending = self.lock();
        let mut dropped = 0;
        let rows = Pending::of(flush::Chunk::Exposures(exposures));
        let tracked = Pending::of(flush::Chunk::Metrics(metrics));
        for (key, count) in rows.exposures {
            if pending.len() >= limit && !pending.exposures.contains_key(&key) {
                dropped += 1;
                continue;
            }
            let total = pending.exposures.entry(key).or_default();
            *total = add_counts(*total, count);
        }
        for (key, sums) in tracked.metrics {
            if pending.len() >= limit && !pending.metrics.contains_key(&key) {
                dropped += 1;
                continue;
            }
            pending.metrics.entry(key).or_default().add(sums);
        }
        dropped
    }

    /// How many aggregates wait for the database.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// Writes every pending aggregate to the database, in chunks; returns how many rows were written. Rows
    /// the database refuses are set aside (see `flush`). When the database cannot take them now, what
    /// was not written is kept for the next flush and the error returned.
    pub async fn flush(&self, store: &Store) -> StoreResult<usize> {
        let _one_at_a_time = self.flushing.lock().await;
        let taken = std::mem::take(&mut *self.lock());
        if taken.exposures.is_empty() && taken.metrics.is_empty() {
            return Ok(0);
        }
        let (exposures, metrics) = taken.into_rows();
        let outcome = flush::write_chunks(store, flush::chunks(exposures, metrics), &self.set_aside).await;
        match outcome.kept {
            None => Ok(outcome.written),
            Some((error, chunks)) => {
                let mut pending = self.lock();
                for chunk in chunks {
                    pending.merge(Pending::of(chunk));
                }
                Err(error)
            }
        }
    }
}

impl Pending {
    /// As rows for the store.
    fn into_rows(self) -> (Vec<ExposureBucket>, Vec<MetricBucket>) {
        let exposures = self
            .exposures
            .into_iter()
            .map(|(k, count)| ExposureBucket {
                environment: k.environment,
                flag: k.flag,
                variant: k.variant,
                bucket: k.bucket,
                count,
            })
            .collect();
        let metrics = self
            .metrics
            .into_iter()
            .map(|(k, s)| MetricBucket {
                environment: k.environment,
                flag: k.flag,
                variant: k.variant,
                metric: k.metric,
                bucket: k.bucket,
                count: s.count,
                sum: s.sum,
                sum_squares: s.sum_squares,
            })
            .collect();
        (exposures, metrics)
    }

    /// The rows of a chunk that was not written, back as aggregates.
    fn of(chunk: flush::Chunk) -> Pending {
        let mut pending = Pending::default();
        match chunk {
            flush::Chunk::Exposures(rows) => {
                for r in rows {
                    let key =
                        ExposureKey { environment: r.environment, flag: r.flag, variant: r.variant, bucket: r.bucket };
                    pending.exposures.insert(key, r.count);
                }
            }
            flush::Chunk::Metrics(rows) => {
                for r in rows {
                    let key = MetricKey {
                        environment: r.environment,
                        flag: r.flag,
                        variant: r.variant,
                        metric: r.metric,
                        bucket: r.bucket,
                    };
                    pending.metrics.insert(key, Sums { count: r.count, sum: r.sum, sum_squares: r.sum_squares });
                }
            }
        }
        pending
    }
}

/// What the flusher writes and how often.
#[derive(Debug, Clone)]
pub struct Flusher {
    /// The SDK metrics.
    pub intake: std::sync::Arc<MetricsIntake>,
    /// Where the flag usage counts are, and the gauge of cleanup candidates.
    pub metrics: std::sync::Arc<crate::telemetry::metrics::Metrics>,
    /// The database.
    pub store: Store,
    /// How often it flushes.
    pub interval: Duration,
    /// How long metric buckets and hourly usage counts are kept.
    pub retention: Duration,
    /// After how long unused or rolled-out flags are cleanup candidates.
    pub stale_after: Duration,
}

/// Flushes SDK metrics and flag usage every `interval` until `stop` turns true, updates the gauge of cleanup
/// candidates about once a minute, and prunes buckets older than `retention` about once an hour. It never
/// stops in the middle of a flush; the last flush after the server stopped is the caller's.
pub async fn run_flusher(flusher: Flusher, mut stop: watch::Receiver<bool>) {
    let Flusher { intake, metrics, store, interval, retention, stale_after } = flusher;
    let stale_after_ms = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
    let gauge_every = (Duration::from_mins(1).as_millis() / interval.as_millis().max(1)).max(1) as u64;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let prune_every = (Duration::from_hours(1).as_millis() / interval.as_millis().max(1)).max(1) as u64;
    let mut rounds = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        if let Err(e) = intake.flush(&store).await {
            tracing::warn!(error = %e, pending = intake.pending(), "could not write SDK metrics; keeping them for the next flush");
        }
        if let Err(e) = usage::flush(&metrics.usage, &store, now_millis()).await {
            tracing::warn!(error = %e, "could not write flag usage; keeping it for the next flush");
        }
        if rounds.is_multiple_of(gauge_every)
            && let Err(e) = usage::update_gauge(&metrics, &store, now_millis(), stale_after_ms).await
        {
            tracing::debug!(error = %e, "could not count the cleanup candidates");
        }
        rounds += 1;
        if rounds.is_multiple_of(prune_every) {
            let before = now_millis() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            if let Err(e) = store.prune_metric_buckets(before).await {
                tracing::debug!(error = %e, "could not prune old SDK metrics");
            }
            if let Err(e) = store.prune_usage(before).await {
                tracing::debug!(error = %e, "could not prune old flag usage counts");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_start_on_ten_second_boundaries() {
        assert_eq!(bucket_of(1_700_000_012_345), 1_700_000_010_000);
        assert_eq!(bucket_of(1_700_000_010_000), 1_700_000_010_000);
    }

    #[test]
    fn batches_add_up_per_key_and_bucket() {
        let intake = MetricsIntake::default();
        let exposure = Exposure { flag: "f", variant: "on", count: 3 };
        let tracked = Tracked { flag: "f", variant: "on", metric: "latency", count: 2, sum: 3.0, sum_squares: 5.0 };
        let (exposures, tracked) = (std::slice::from_ref(&exposure), std::slice::from_ref(&tracked));
        intake.record("production", exposures, tracked, 1_000).unwrap();
        intake.record("production", exposures, tracked, 9_999).unwrap();
        intake.record("production", exposures, tracked, 10_000).unwrap();
        let pending = intake.lock();
        assert_eq!(pending.exposures.len(), 2, "two buckets");
        let first = ExposureKey { environment: "production".into(), flag: "f".into(), variant: "on".into(), bucket: 0 };
        assert_eq!(pending.exposures[&first], 6);
        let sums = pending.metrics.values().find(|s| s.count == 4).expect("the first bucket's sums");
        assert_eq!((sums.sum, sums.sum_squares), (6.0, 10.0));
    }

    #[test]
    fn totals_saturate_at_the_bounds() {
        let intake = MetricsIntake::default();
        let exposure = Exposure { flag: "f", variant: "on", count: MAX_COUNT };
        let high = Tracked {
            flag: "f",
            variant: "on",
            metric: "m",
            count: MAX_COUNT,
            sum: MAX_SUM,
            sum_squares: MAX_SUM_SQUARES,
        };
        let low = Tracked { metric: "n", sum: -MAX_SUM, ..high.clone() };
        for _ in 0..3 {
            intake.record("production", std::slice::from_ref(&exposure), &[high.clone(), low.clone()], 0).unwrap();
        }
        let pending = intake.lock();
        assert!(pending.exposures.values().all(|&count| count == MAX_COUNT));
        let sums: Vec<Sums> = pending.metrics.values().copied().collect();
        assert!(
            sums.iter().all(|s| s.count == MAX_COUNT && s.sum.abs() == MAX_SUM && s.sum_squares == MAX_SUM_SQUARES)
        );
    }
}
