//! Reconnection delays: exponential backoff with full jitter.
//!
//! The n-th consecutive failure waits a uniformly random time in `[0, min(max, initial × 2ⁿ)]`, so that many
//! SDKs that lost the same server do not come back at the same instant. A connection that stayed healthy for
//! long enough (a minute by default) resets the count.

use std::time::Duration;

use rand::Rng;

/// The state of one reconnecting loop.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    healthy_after: Duration,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration, healthy_after: Duration) -> Self {
        Backoff { initial, max: max.max(initial), healthy_after, failures: 0 }
    }

    /// The server's `retry:` field sets the initial delay.
    pub(crate) fn set_initial(&mut self, initial: Duration) {
        self.initial = initial.min(self.max);
    }

    /// The largest delay the next failure may wait.
    pub(crate) fn ceiling(&self) -> Duration {
        let factor = 1u32 << self.failures.min(16);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Counts a failure and returns how long to wait before the next attempt.
    pub(crate) fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }

    /// A connection that lasted `lasted` ended: it resets the count when it was healthy long enough.
    pub(crate) fn connection_ended(&mut self, lasted: Duration) {
        if lasted >= self.healthy_after {
            self.reset();
        }
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures counted so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(30), Duration::from_secs(60))
    }

    #[test]
    fn the_ceiling_doubles_up_to_the_maximum() {
        let mut b = backoff();
        let mut rng = StdRng::seed_from_u64(7);
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            ceilings.push(b.ceiling().as_secs());
            let delay = b.next_delay(&mut rng);
            assert!(delay <= Duration::from_secs(ceilings[ceilings.len() - 1]));
        }
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.failures(), 8);
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        let mut rng = StdRng::seed_from_u64(42);
        let delays: Vec<Duration> = (0..2000)
            .map(|_| {
                let mut b = backoff();
                for _ in 0..4 {
                    b.next_delay(&mut rng);
                }
                b.next_delay(&mut rng)
            })
            .collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(16)));
        let low = delays.iter().filter(|d| **d < Duration::from_secs(4)).count();
        let high = delays.iter().filter(|d| **d > Duration::from_secs(12)).count();
        // Uniform on [0, 16 s]: a quarter of the draws in each of these ranges.
        assert!((400..600).contains(&low), "{low} of 2000 below 4 s");
        assert!((400..600).contains(&high), "{high} of 2000 above 12 s");
    }

    #[test]
    fn a_healthy_connection_resets_and_a_short_one_does_not() {
        let mut b = backoff();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..3 {
            b.next_delay(&mut rng);
        }
        b.connection_ended(Duration::from_secs(5));
        assert_eq!(b.ceiling(), Duration::from_secs(8));
        b.connection_ended(Duration::from_secs(61));
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn the_server_retry_sets_the_initial_delay_within_the_maximum() {
        let mut b = backoff();
        b.set_initial(Duration::from_millis(250));
        assert_eq!(b.ceiling(), Duration::from_millis(250));
        b.set_initial(Duration::from_secs(3600));
        assert_eq!(b.ceiling(), Duration::from_secs(30));
    }
}
