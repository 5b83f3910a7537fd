//! How long a change takes to reach SDKs: from its write to this replica's snapshot (on a replica other
//! than the writer, the replication lag) and to the stream frame handed to this replica's SDK streams.

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The two histograms, one sample per change.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// From the change's write to this replica's snapshot including it.
    pub snapshot_lag: Histogram,
    /// From the change's write to its stream frame, handed to every SDK stream of the environment.
    pub to_stream: Histogram,
}

impl Propagation {
    /// Registers both histograms (buckets from 1 ms to about 30 s).
    pub fn register(registry: &mut Registry) -> Self {
        let buckets = || Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let snapshot_lag = buckets();
        let to_stream = buckets();
        registry.register(
            "change_snapshot_lag_seconds",
            "Time from a change's write to this replica's snapshot including it; on the replicas that did not \
             write it, the replication lag",
            snapshot_lag.clone(),
        );
        registry.register(
            "change_propagation_seconds",
            "Time from a change's write to its stream frame being handed to this replica's SDK streams",
            to_stream.clone(),
        );
        Propagation { snapshot_lag, to_stream }
    }

    /// Records changes written at `committed` (Unix milliseconds each) that a snapshot took in at `applied_at`
    /// and whose frames went out at `framed_at`. Clocks of different replicas may disagree by a little: a
    /// negative time counts as 0.
    pub fn observe(&self, committed: impl IntoIterator<Item = i64>, applied_at: i64, framed_at: i64) {
        for written in committed.into_iter().filter(|&at| at > 0) {
            let seconds = |at: i64| (at - written).max(0) as f64 / 1000.0;
            self.snapshot_lag.observe(seconds(applied_at));
            self.to_stream.observe(seconds(framed_at));
        }
    }
}
