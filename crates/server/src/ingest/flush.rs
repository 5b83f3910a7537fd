//! Writing the aggregation to the database in chunks, each its own transaction, so that rows the database
//! refuses cannot hold up the others. A chunk that fails for a reason that can pass (the database is away,
//! busy, full) is kept with everything after it for the next flush. A chunk that fails otherwise is split
//! and its halves tried again, down to the failing rows, which are set aside: dropped, counted in
//! `pennon_sdk_metrics_set_aside_total` and logged. A budget of failed writes per flush bounds the splitting
//! when everything fails; past it, failing chunks are set aside whole.

use prometheus_client::metrics::counter::Counter;

use crate::store::{ExposureBucket, MetricBucket, Store, StoreError};

/// Rows per transaction.
pub const CHUNK_ROWS: usize = 500;

/// Failed writes a flush may spend on finding the failing rows before it sets failing chunks aside whole.
const SPLIT_BUDGET: usize = 64;

/// Rows of one transaction: exposures or metrics, in key order.
#[derive(Debug)]
pub(super) enum Chunk {
    Exposures(Vec<ExposureBucket>),
    Metrics(Vec<MetricBucket>),
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Exposures(rows) => rows.len(),
            Chunk::Metrics(rows) => rows.len(),
        }
    }

    /// The two halves, in order.
    fn split(self) -> (Chunk, Chunk) {
        match self {
            Chunk::Exposures(mut rows) => {
                let tail = rows.split_off(rows.len() / 2);
                (Chunk::Exposures(rows), Chunk::Exposures(tail))
            }
            Chunk::Metrics(mut rows) => {
                let tail = rows.split_off(rows.len() / 2);
                (Chunk::Metrics(rows), Chunk::Metrics(tail))
            }
        }
    }

    async fn write(&self, store: &Store) -> Result<(), StoreError> {
        match self {
            Chunk::Exposures(rows) => store.add_metric_buckets(rows, &[]).await,
            Chunk::Metrics(rows) => store.add_metric_buckets(&[], rows).await,
        }
    }

    /// The first row's keys, for the log.
    fn first(&self) -> (&str, &str, &str, i64) {
        match self {
            Chunk::Exposures(rows) => rows.first().map_or(("", "", "", 0), |r| (&r.environment, &r.flag, "", r.bucket)),
            Chunk::Metrics(rows) => {
                rows.first().map_or(("", "", "", 0), |r| (&r.environment, &r.flag, r.metric.as_str(), r.bucket))
            }
        }
    }
}

/// Splits rows (sorted in key order, so that replicas writing the same rows take their locks in the same
/// order) into chunks of at most [`CHUNK_ROWS`].
pub(super) fn chunks(mut exposures: Vec<ExposureBucket>, mut metrics: Vec<MetricBucket>) -> Vec<Chunk> {
    exposures.sort_by(|a, b| a.key().cmp(&b.key()));
    metrics.sort_by(|a, b| a.key().cmp(&b.key()));
    let mut out = Vec::new();
    while !exposures.is_empty() {
        let rest = exposures.split_off(exposures.len().min(CHUNK_ROWS));
        out.push(Chunk::Exposures(std::mem::replace(&mut exposures, rest)));
    }
    while !metrics.is_empty() {
        let rest = metrics.split_off(metrics.len().min(CHUNK_ROWS));
        out.push(Chunk::Metrics(std::mem::replace(&mut metrics, rest)));
    }
    out
}

/// What a flush did.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// Rows written.
    pub written: usize,
    /// Rows set aside.
    pub set_aside: usize,
    /// When the database could not take them now: the error and the chunks not written, for the next flush.
    pub kept: Option<(StoreError, Vec<Chunk>)>,
}

/// Writes the chunks in order (see the module docs).
pub(super) async fn write_chunks(store: &Store, chunks: Vec<Chunk>, set_aside: &Counter) -> Outcome {
    let mut outcome = Outcome::default();
    let mut budget = SPLIT_BUDGET;
    // A stack: the next chunk to write is last.
    let mut todo: Vec<Chunk> = chunks.into_iter().rev().collect();
    while let Some(chunk) = todo.pop() {
        let error = match chunk.write(store).await {
            Ok(()) => {
                outcome.written += chunk.len();
                continue;
            }
            Err(e) => e,
        };
        if error.is_transient() {
            todo.push(chunk);
            todo.reverse();
            outcome.kept = Some((error, todo));
            return outcome;
        }
        if chunk.len() > 1 && budget > 0 {
            budget -= 1;
            let (head, tail) = chunk.split();
            todo.push(tail);
            todo.push(head);
            continue;
        }
        let (environment, flag, metric, bucket) = chunk.first();
        tracing::warn!(
            rows = chunk.len(),
            environment,
            flag,
            metric,
            bucket,
            error = %error,
            "the database refused SDK metrics; they are set aside"
        );
        set_aside.inc_by(chunk.len() as u64);
        outcome.set_aside += chunk.len();
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(flag: &str, bucket: i64) -> ExposureBucket {
        ExposureBucket { environment: "production".into(), flag: flag.into(), variant: "on".into(), bucket, count: 1 }
    }

    #[test]
    fn chunks_hold_rows_in_key_order_and_split_in_order() {
        let rows: Vec<ExposureBucket> = (0..(CHUNK_ROWS as i64 + 3)).rev().map(|b| exposure("f", b)).collect();
        let chunks = chunks(rows, vec![]);
        assert_eq!(chunks.iter().map(Chunk::len).collect::<Vec<_>>(), [CHUNK_ROWS, 3]);
        let Chunk::Exposures(first) = &chunks[0] else { panic!("exposures") };
        assert!(first.windows(2).all(|w| w[0].bucket < w[1].bucket), "key order");
        let (head, tail) = chunks.into_iter().next().unwrap().split();
        let (Chunk::Exposures(head), Chunk::Exposures(tail)) = (head, tail) else { panic!("exposures") };
        assert_eq!((head.len(), tail.len()), (CHUNK_ROWS / 2, CHUNK_ROWS - CHUNK_ROWS / 2));
        assert!(head.last().unwrap().bucket < tail[0].bucket);
    }
}
