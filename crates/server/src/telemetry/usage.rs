//! Evaluation counts per environment and flag since the last flush: what `last_seen` and the 24 h / 7 d
//! counts of a flag are made of. Evaluations by the server and exposures reported by SDKs add to them in
//! memory (an atomic add); the ingest flush takes them and writes one row per flag and environment, so an
//! evaluation never writes the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// One counter per (environment, flag) seen since the process started.
#[derive(Debug, Default)]
pub struct Usage {
    counts: RwLock<HashMap<(String, String), Arc<AtomicU64>>>,
}

impl Usage {
    /// The counter of `flag` in `environment` (made on first use); snapshots keep it by flag position, so
    /// that counting an evaluation is one atomic add.
    pub fn counter(&self, environment: &str, flag: &str) -> Arc<AtomicU64> {
        let key = (environment.to_owned(), flag.to_owned());
        if let Some(counter) = self.counts.read().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return counter.clone();
        }
        self.counts.write().unwrap_or_else(PoisonError::into_inner).entry(key).or_default().clone()
    }

    /// Adds `count` evaluations of `flag` in `environment` (an SDK's exposures).
    pub fn add(&self, environment: &str, flag: &str, count: u64) {
        self.counter(environment, flag).fetch_add(count, Ordering::Relaxed);
    }

    /// Takes every count above zero, leaving zeros: `(environment, flag, evaluations)`.
    pub fn take(&self) -> Vec<(String, String, u64)> {
        let counts = self.counts.read().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .filter_map(|((environment, flag), counter)| {
                let n = counter.swap(0, Ordering::Relaxed);
                (n > 0).then(|| (environment.clone(), flag.clone(), n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_are_taken_once() {
        let usage = Usage::default();
        let counter = usage.counter("production", "checkout");
        counter.fetch_add(2, Ordering::Relaxed);
        usage.add("production", "checkout", 3);
        usage.add("staging", "checkout", 1);
        let mut taken = usage.take();
        taken.sort();
        assert_eq!(
            taken,
            [("production".to_owned(), "checkout".to_owned(), 5), ("staging".to_owned(), "checkout".to_owned(), 1)]
        );
        assert!(usage.take().is_empty(), "taken once");
        counter.fetch_add(1, Ordering::Relaxed);
        assert_eq!(usage.take().len(), 1, "the snapshot's counter is the same one");
    }
}
