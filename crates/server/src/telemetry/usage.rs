//! Evaluation counts per environment and flag since the last flush: what `last_seen` and the 24 h / 7 d
//! counts of a flag are made of. Evaluations by the server and exposures reported by SDKs add to them in
//! memory; the ingest flush takes them and writes one row per flag and environment, so an evaluation never
//! writes the database.
//!
//! A server evaluation adds nothing here: the flag's evaluation counters (one per reason, which `/metrics`
//! shows) are watched instead, and what they grew by since the last take is taken with the rest. Counting an
//! evaluation is then one atomic add, not two.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus_client::metrics::counter::Counter;

/// The counts of one (environment, flag).
#[derive(Debug, Default)]
struct Entry {
    /// Added directly (an SDK's exposures, a failed flush's counts put back).
    added: AtomicU64,
    /// Evaluation counters whose growth counts, and their sum at the last take.
    watched: Mutex<(Vec<Counter>, u64)>,
}

/// One entry per (environment, flag) seen since the process started.
#[derive(Debug, Default)]
pub struct Usage {
    counts: RwLock<HashMap<(String, String), Arc<Entry>>>,
}

impl Usage {
    fn entry(&self, environment: &str, flag: &str) -> Arc<Entry> {
        let key = (environment.to_owned(), flag.to_owned());
        if let Some(entry) = self.counts.read().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return entry.clone();
        }
        self.counts.write().unwrap_or_else(PoisonError::into_inner).entry(key).or_default().clone()
    }

    /// Counts what `counter` (an evaluation counter of `flag` in `environment`) grows by from now on, once
    /// however often it is watched.
    pub fn watch(&self, environment: &str, flag: &str, counter: &Counter) {
        let entry = self.entry(environment, flag);
        let mut watched = entry.watched.lock().unwrap_or_else(PoisonError::into_inner);
        if watched.0.iter().any(|c| std::ptr::eq(c.inner(), counter.inner())) {
            return;
        }
        watched.1 += counter.get();
        watched.0.push(counter.clone());
    }

    /// Adds `count` evaluations of `flag` in `environment` (an SDK's exposures).
    pub fn add(&self, environment: &str, flag: &str, count: u64) {
        self.entry(environment, flag).added.fetch_add(count, Ordering::Relaxed);
    }

    /// Takes every count above zero, leaving zeros: `(environment, flag, evaluations)`.
    pub fn take(&self) -> Vec<(String, String, u64)> {
        let counts = self.counts.read().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .filter_map(|((environment, flag), entry)| {
                let mut watched = entry.watched.lock().unwrap_or_else(PoisonError::into_inner);
                let sum: u64 = watched.0.iter().map(Counter::get).sum();
                let grown = sum.saturating_sub(watched.1);
                watched.1 = sum;
                let n = entry.added.swap(0, Ordering::Relaxed) + grown;
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
        let (on, off) = (Counter::<u64>::default(), Counter::<u64>::default());
        off.inc_by(7);
        usage.watch("production", "checkout", &on);
        usage.watch("production", "checkout", &off);
        usage.watch("production", "checkout", &on.clone());
        on.inc_by(2);
        usage.add("production", "checkout", 3);
        usage.add("staging", "checkout", 1);
        let mut taken = usage.take();
        taken.sort();
        assert_eq!(
            taken,
            [("production".to_owned(), "checkout".to_owned(), 5), ("staging".to_owned(), "checkout".to_owned(), 1)],
            "what the watched counters held before they were watched is not counted, nor a counter twice"
        );
        assert!(usage.take().is_empty(), "taken once");
        off.inc();
        assert_eq!(usage.take(), [("production".to_owned(), "checkout".to_owned(), 1)]);
    }
}
