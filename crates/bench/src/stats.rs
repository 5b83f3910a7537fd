//! Latency percentiles, exact: every measured latency is kept (a few megabytes for a run of seconds).

use std::time::Duration;

/// The latencies of a run.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    nanos: Vec<u64>,
    sorted: bool,
}

impl Latencies {
    /// Room for `n` latencies.
    pub fn with_capacity(n: usize) -> Self {
        Latencies { nanos: Vec::with_capacity(n), sorted: false }
    }

    /// Adds one.
    pub fn record(&mut self, latency: Duration) {
        self.nanos.push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    /// Adds all of another run's.
    pub fn merge(&mut self, other: Latencies) {
        self.nanos.extend(other.nanos);
        self.sorted = false;
    }

    /// How many were recorded.
    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    /// The latency below which a fraction `q` (0 to 1) of the requests were answered (nearest rank).
    pub fn quantile(&mut self, q: f64) -> Duration {
        if self.nanos.is_empty() {
            return Duration::ZERO;
        }
        if !self.sorted {
            self.nanos.sort_unstable();
            self.sorted = true;
        }
        let rank = (q * self.nanos.len() as f64).ceil() as usize;
        Duration::from_nanos(self.nanos[rank.clamp(1, self.nanos.len()) - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut l = Latencies::default();
        for ms in (1..=100).rev() {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.quantile(0.5), Duration::from_millis(50));
        assert_eq!(l.quantile(0.99), Duration::from_millis(99));
        assert_eq!(l.quantile(1.0), Duration::from_millis(100));
        assert_eq!(Latencies::default().quantile(0.5), Duration::ZERO);
    }
}
