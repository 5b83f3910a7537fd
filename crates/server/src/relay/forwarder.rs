//! Forwarding SDK metrics upstream. The relay's `POST /api/v1/sdk/metrics` is the server's handler: batches
//! are checked and added up in the same [`MetricsIntake`](crate::ingest::MetricsIntake). Every
//! `--forward-interval` the aggregates are taken out, summed per environment over their time buckets and
//! posted upstream in batches with the environment's key. What the upstream does not take (it is away) goes
//! back into the intake, up to `--metrics-buffer` aggregates, and is sent with the next round; past that, or
//! when the upstream refuses a batch as invalid, aggregates are counted in `relay_metrics_dropped`.

use std::collections::BTreeMap;
use std::sync::Arc;

use pennon_engine::protocol::{ExposureCount, MAX_COUNT, MAX_SUM, MAX_SUM_SQUARES, MetricAggregate, MetricsBatch};
use tokio::sync::watch;

use super::Relay;
use super::upstream::UpstreamError;
use crate::store::{ExposureBucket, MetricBucket};

/// Most entries in one forwarded batch (the server's own limit per batch).
const BATCH_ENTRIES: usize = crate::api::sdk::MAX_METRICS_ENTRIES;

/// Forwards every interval until `stop`, then once more.
pub async fn run(relay: Arc<Relay>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(relay.config.forward_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            () = async { let _ = stop.wait_for(|s| *s).await; } => true,
        };
        forward(&relay).await;
        if stopping {
            return;
        }
    }
}

/// One round: everything pending, per environment.
pub async fn forward(relay: &Relay) {
    let intake = &relay.state.intake;
    let (exposures, metrics) = intake.take();
    if exposures.is_empty() && metrics.is_empty() {
        return;
    }
    let mut by_environment: BTreeMap<String, (Vec<ExposureBucket>, Vec<MetricBucket>)> = BTreeMap::new();
    for e in exposures {
        by_environment.entry(e.environment.clone()).or_default().0.push(e);
    }
    for m in metrics {
        by_environment.entry(m.environment.clone()).or_default().1.push(m);
    }
    let counters = &relay.state.metrics;
    for (environment, (exposures, metrics)) in by_environment {
        let rows = exposures.len() + metrics.len();
        let Some(tie) = relay.tie_of(&environment) else {
            counters.relay_metrics_dropped.inc_by(rows as u64);
            continue;
        };
        let mut failed = None;
        for batch in batches(&exposures, &metrics) {
            if let Err(e) = tie.upstream.post_metrics(&batch).await {
                failed = Some(e);
                break;
            }
        }
        match failed {
            None => {
                counters.relay_metrics_forwarded.inc_by(rows as u64);
            }
            Some(UpstreamError::Status(status)) if status.is_client_error() && status.as_u16() != 401 => {
                tracing::warn!(environment, %status, rows, "the upstream refused forwarded SDK metrics; dropped");
                counters.relay_metrics_dropped.inc_by(rows as u64);
            }
            Some(e) => {
                // Batches already taken upstream are sent again with the rest: a repeat of at most one round's
                // share, against losing what the outage cut off.
                tracing::debug!(environment, error = %e, rows, "SDK metrics not forwarded; keeping them for the next round");
                let lost = intake.put_back(exposures, metrics, relay.config.metrics_buffer);
                if lost > 0 {
                    tracing::warn!(environment, lost, "the relay's metrics buffer is full; aggregates dropped");
                    counters.relay_metrics_dropped.inc_by(lost as u64);
                }
            }
        }
    }
}

/// The aggregates summed over their time buckets, as batches of at most [`BATCH_ENTRIES`] entries.
fn batches(exposures: &[ExposureBucket], metrics: &[MetricBucket]) -> Vec<MetricsBatch> {
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for e in exposures {
        let total = counts.entry((&e.flag, &e.variant)).or_default();
        *total = total.saturating_add(e.count).min(MAX_COUNT);
    }
    let mut sums: BTreeMap<(&str, &str, &str), (u64, f64, f64)> = BTreeMap::new();
    for m in metrics {
        let s = sums.entry((&m.flag, &m.variant, &m.metric)).or_default();
        s.0 = s.0.saturating_add(m.count).min(MAX_COUNT);
        s.1 = (s.1 + m.sum).clamp(-MAX_SUM, MAX_SUM);
        s.2 = (s.2 + m.sum_squares).clamp(0.0, MAX_SUM_SQUARES);
    }
    let mut out = vec![MetricsBatch::default()];
    let room = |out: &mut Vec<MetricsBatch>| {
        let last = out.last().expect("one batch at least");
        if last.exposures.len() + last.metrics.len() >= BATCH_ENTRIES {
            out.push(MetricsBatch::default());
        }
    };
    for ((flag, variant), count) in counts {
        room(&mut out);
        let last = out.last_mut().expect("one batch at least");
        last.exposures.push(ExposureCount { flag: flag.to_owned(), variant: variant.to_owned(), count });
    }
    for ((flag, variant, metric), (count, sum, sum_squares)) in sums {
        room(&mut out);
        let last = out.last_mut().expect("one batch at least");
        last.metrics.push(MetricAggregate {
            flag: flag.to_owned(),
            variant: variant.to_owned(),
            metric: metric.to_owned(),
            count,
            sum,
            sum_squares,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(bucket: i64, variant: &str, count: u64) -> ExposureBucket {
        ExposureBucket {
            environment: "production".into(),
            flag: "checkout".into(),
            variant: variant.into(),
            bucket,
            count,
        }
    }

    #[test]
    fn buckets_are_summed_and_batches_bounded() {
        let rows = [exposure(0, "on", 2), exposure(10_000, "on", 3), exposure(0, "off", 1)];
        let out = batches(&rows, &[]);
        assert_eq!(out.len(), 1);
        let counts: Vec<_> = out[0].exposures.iter().map(|e| (e.variant.as_str(), e.count)).collect();
        assert_eq!(counts, [("off", 1), ("on", 5)]);
        let many: Vec<ExposureBucket> =
            (0..BATCH_ENTRIES + 5).map(|i| ExposureBucket { flag: format!("f{i}"), ..exposure(0, "on", 1) }).collect();
        let out = batches(&many, &[]);
        assert_eq!(out.iter().map(|b| b.exposures.len()).collect::<Vec<_>>(), [BATCH_ENTRIES, 5]);
    }
}
