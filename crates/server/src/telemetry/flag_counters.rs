//! The evaluation counters of one flag, kept with the flag in the snapshot.

use std::sync::OnceLock;

use pennon_engine::Reason;
use prometheus_client::metrics::counter::Counter;

use super::metrics::Metrics;

/// How many kinds of [`Reason`] there are.
const REASON_KINDS: usize = 6;

fn reason_index(reason: &Reason<'_>) -> usize {
    match reason {
        Reason::Off => 0,
        Reason::PrerequisiteFailed { .. } => 1,
        Reason::TargetMatch => 2,
        Reason::RuleMatch { .. } => 3,
        Reason::Fallthrough { .. } => 4,
        Reason::Error { .. } => 5,
    }
}

/// The evaluation counters of one flag, by the reason, taken from [`Metrics`] on first use and kept with the
/// flag in the snapshot: counting an evaluation is then an atomic add, not two label strings and a map lookup
/// under a lock. Each handle counts in the same series as [`Metrics::evaluation`], and a snapshot that
/// replaces the flag keeps its counters.
#[derive(Debug, Default)]
pub struct FlagCounters {
    counters: [OnceLock<Counter>; REASON_KINDS],
}

impl FlagCounters {
    /// Counts one evaluation of `flag` in `environment` (which, watched by [`Metrics::usage`], is also its use
    /// for last-seen).
    pub fn count(&self, metrics: &Metrics, environment: &str, flag: &str, reason: &Reason<'_>) {
        let counter = self.counters[reason_index(reason)].get_or_init(|| {
            let counter = metrics.evaluation_counter(environment, flag, reason.kind());
            metrics.usage.watch(environment, flag, &counter);
            counter
        });
        counter.inc();
    }
}
