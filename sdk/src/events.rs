//! Exposures and tracked metrics: counted as they happen, collected into windows, sent in batches.
//!
//! Exposures are counted in the per-state counters of [`FlagState`] (an atomic add on the evaluation path) and
//! noted in the [`Recent`] attribution table. `track()` looks the context's recent (flag, variant) pairs up
//! and adds the value to each pair's aggregate. Every flush interval the counters and aggregates become one
//! pending window; pending windows are sent together and kept when sending fails, up to a bound beyond
//! which the oldest are dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use pennon_engine::protocol::{MAX_COUNT, MAX_SUM, MAX_SUM_SQUARES};
use pennon_engine::{Context, Served};

use crate::protocol::{ExposureRow, MetricRow, MetricsBatch};
use crate::recent::Recent;
use crate::state::{FlagState, key_hash};
use crate::store::Store;

#[derive(Debug, Default, Clone, Copy)]
struct Aggregate {
    count: u64,
    sum: f64,
    sum_squares: f64,
}

impl Aggregate {
    /// Whether adding these totals keeps every one within the bounds the server takes (a batch with one
    /// entry past them is refused whole).
    fn fits(&self, count: u64, sum: f64, sum_squares: f64) -> bool {
        self.count.saturating_add(count) <= MAX_COUNT
            && (self.sum + sum).abs() <= MAX_SUM
            && self.sum_squares + sum_squares <= MAX_SUM_SQUARES
    }

    fn add(&mut self, count: u64, sum: f64, sum_squares: f64) {
        self.count += count;
        self.sum += sum;
        self.sum_squares += sum_squares;
    }

    fn row(self, (flag, variant, metric): MetricKey) -> MetricRow {
        MetricRow { flag, variant, metric, count: self.count, sum: self.sum, sum_squares: self.sum_squares }
    }
}

/// The aggregates of the current window: one open per key, and those that filled up (an entry past the
/// server's bounds would be refused, so a full aggregate is closed and a new one opened for the same key).
#[derive(Debug, Default)]
struct Tracked {
    open: HashMap<MetricKey, Aggregate>,
    full: Vec<MetricRow>,
}

/// `count` exposures as rows of at most [`MAX_COUNT`] each.
fn exposure_rows(flag: String, variant: String, mut count: u64, rows: &mut Vec<ExposureRow>) {
    while count > MAX_COUNT {
        rows.push(ExposureRow { flag: flag.clone(), variant: variant.clone(), count: MAX_COUNT });
        count -= MAX_COUNT;
    }
    rows.push(ExposureRow { flag, variant, count });
}

#[derive(Debug, Default)]
struct Pending {
    windows: VecDeque<MetricsBatch>,
    rows: usize,
    dropped_rows: u64,
}

/// The longest metric name the server takes, in bytes.
const MAX_METRIC_NAME: usize = 128;

/// Key of a tracked aggregate: (flag, variant, metric).
type MetricKey = (String, String, String);

#[derive(Debug)]
pub(crate) struct Events {
    recent: Recent,
    tracked: Mutex<Tracked>,
    pending: Mutex<Pending>,
    max_pending_rows: usize,
    /// Exposures per (flag, variant) since the client started, for [`crate::Client::exposure_metrics`].
    totals: Mutex<BTreeMap<(String, String), u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Events {
    pub(crate) fn new(attribution_entries: usize, max_pending_rows: usize) -> Self {
        Events {
            recent: Recent::new(attribution_entries),
            tracked: Mutex::new(Tracked::default()),
            pending: Mutex::new(Pending::default()),
            max_pending_rows,
            totals: Mutex::default(),
        }
    }

    /// Counts an exposure and remembers it for attribution. The evaluation path: no lock, no allocation.
    #[inline]
    pub(crate) fn record(&self, state: &FlagState, served: Served, ctx: &Context, stripe: usize) {
        state.count(served, stripe);
        if let (Some(key), Some(&flag_hash), Some(&offset)) =
            (ctx.key(), state.flag_hashes.get(served.flag), state.offsets.get(served.flag))
            && let Some(&variant_hash) = state.variant_hashes.get(offset + served.variant)
        {
            self.recent.record(key_hash(key), flag_hash, variant_hash);
        }
    }

    /// Adds a metric value to every (flag, variant) the context was recently served. Returns how many pairs.
    pub(crate) fn track(&self, state: &FlagState, metric: &str, ctx: &Context, value: f64) -> usize {
        let Some(key) = ctx.key() else {
            tracing::debug!(metric, "track() without a context key cannot be attributed; ignored");
            return 0;
        };
        if !(value.is_finite() && value.abs() <= MAX_SUM) {
            tracing::warn!(metric, value, "track() needs a finite value from -1e18 to 1e18; ignored");
            return 0;
        }
        if metric.is_empty() || metric.len() > MAX_METRIC_NAME || metric.chars().any(char::is_control) {
            tracing::warn!(metric, "a metric name is 1 to {MAX_METRIC_NAME} bytes without control characters; ignored");
            return 0;
        }
        let context = key_hash(key);
        let mut pairs = Vec::new();
        for (flag, (flag_key, &flag_hash)) in state.compiled.flag_keys().zip(state.flag_hashes.iter()).enumerate() {
            let Some(variant_hash) = self.recent.lookup(context, flag_hash) else { continue };
            let variant =
                state.variant_by_hash(flag, variant_hash).and_then(|v| state.compiled.variant_keys(flag).nth(v));
            if let Some(variant) = variant {
                pairs.push((flag_key, variant));
            }
        }
        let mut tracked = lock(&self.tracked);
        let Tracked { open, full } = &mut *tracked;
        for &(flag, variant) in &pairs {
            let key = (flag.to_owned(), variant.to_owned(), metric.to_owned());
            let aggregate = open.entry(key.clone()).or_default();
            if !aggregate.fits(1, value, value * value) {
                full.push(std::mem::take(aggregate).row(key));
            }
            aggregate.add(1, value, value * value);
        }
        pairs.len()
    }

    /// Closes the current window: moves the counters of every state and the tracked aggregates into a pending
    /// window.
    pub(crate) fn collect(&self, store: &Store) {
        let mut exposures: HashMap<(String, String), u64> = HashMap::new();
        // A patch that leaves every flag in place keeps the counters of the generation before: each set of
        // counters is read once, however many generations replaced since the last window share it.
        let mut taken: Vec<*const crate::state::Layout> = Vec::new();
        let mut take = |state: &FlagState| {
            if taken.contains(&state.counters_id()) {
                return;
            }
            taken.push(state.counters_id());
            let mut flags: Option<Vec<&str>> = None;
            state.take_exposures(|flag, variant, count| {
                let keys = flags.get_or_insert_with(|| state.compiled.flag_keys().collect());
                if let Some(variant) = state.compiled.variant_keys(flag).nth(variant) {
                    *exposures.entry((keys[flag].to_owned(), variant.to_owned())).or_default() += count;
                }
            });
        };
        take(&store.current());
        store.drain_retired(take);
        let Tracked { open, full } = std::mem::take(&mut *lock(&self.tracked));
        if !exposures.is_empty() {
            let mut totals = lock(&self.totals);
            for (key, &count) in &exposures {
                let total = totals.entry(key.clone()).or_default();
                *total = total.saturating_add(count);
            }
        }
        let mut exposure_list = Vec::with_capacity(exposures.len());
        for ((flag, variant), count) in exposures {
            exposure_rows(flag, variant, count, &mut exposure_list);
        }
        let mut batch = MetricsBatch {
            exposures: exposure_list,
            metrics: full.into_iter().chain(open.into_iter().map(|(key, a)| a.row(key))).collect(),
        };
        if batch.is_empty() {
            return;
        }
        batch.exposures.sort_by(|a, b| (&a.flag, &a.variant).cmp(&(&b.flag, &b.variant)));
        batch.metrics.sort_by(|a, b| (&a.flag, &a.variant, &a.metric).cmp(&(&b.flag, &b.variant, &b.metric)));
        self.push_window(batch, false);
    }

    /// Exposures per (flag, variant) since the client started, as of the last [`Self::collect`].
    pub(crate) fn exposure_totals(&self) -> Vec<((String, String), u64)> {
        lock(&self.totals).iter().map(|(k, &v)| (k.clone(), v)).collect()
    }

    fn push_window(&self, batch: MetricsBatch, oldest: bool) {
        let mut pending = lock(&self.pending);
        pending.rows += batch.rows();
        if oldest {
            pending.windows.push_front(batch);
        } else {
            pending.windows.push_back(batch);
        }
        while pending.rows > self.max_pending_rows && pending.windows.len() > 1 {
            let Some(dropped) = pending.windows.pop_front() else { break };
            pending.rows -= dropped.rows();
            pending.dropped_rows += dropped.rows() as u64;
            tracing::warn!(rows = dropped.rows(), "the server has not taken the metrics; dropping the oldest window");
        }
    }

    /// Takes every pending window, merged into one batch.
    pub(crate) fn take_pending(&self) -> Option<MetricsBatch> {
        let windows = {
            let mut pending = lock(&self.pending);
            pending.rows = 0;
            std::mem::take(&mut pending.windows)
        };
        if windows.len() <= 1 {
            return windows.into_iter().next();
        }
        let mut exposures: Vec<ExposureRow> = Vec::new();
        let mut metrics: Vec<MetricRow> = Vec::new();
        let mut exposure_at: HashMap<(String, String), usize> = HashMap::new();
        let mut metric_at: HashMap<MetricKey, usize> = HashMap::new();
        // Rows of the same key are added up while the total stays within the server's bounds; past them, the
        // row stays a row of its own.
        for window in windows {
            for row in window.exposures {
                let key = (row.flag.clone(), row.variant.clone());
                match exposure_at.get(&key) {
                    Some(&i) if exposures[i].count.saturating_add(row.count) <= MAX_COUNT => {
                        exposures[i].count += row.count;
                    }
                    _ => {
                        exposure_at.insert(key, exposures.len());
                        exposures.push(row);
                    }
                }
            }
            for row in window.metrics {
                let key = (row.flag.clone(), row.variant.clone(), row.metric.clone());
                let into = metric_at.get(&key).copied().filter(|&i| {
                    let m = &metrics[i];
                    Aggregate { count: m.count, sum: m.sum, sum_squares: m.sum_squares }.fits(
                        row.count,
                        row.sum,
                        row.sum_squares,
                    )
                });
                if let Some(i) = into {
                    metrics[i].count += row.count;
                    metrics[i].sum += row.sum;
                    metrics[i].sum_squares += row.sum_squares;
                } else {
                    metric_at.insert(key, metrics.len());
                    metrics.push(row);
                }
            }
        }
        Some(MetricsBatch { exposures, metrics })
    }

    /// Puts a batch that could not be sent back, as the oldest pending window.
    pub(crate) fn restore(&self, batch: MetricsBatch) {
        self.push_window(batch, true);
    }

    /// Rows dropped so far because the server did not take them in time.
    #[cfg(test)]
    pub(crate) fn dropped_rows(&self) -> u64 {
        lock(&self.pending).dropped_rows
    }
}

#[cfg(test)]
mod tests;
