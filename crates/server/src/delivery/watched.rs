//! The metrics each flag's guards watch, per environment, in memory: the SDK metrics intake stores only
//! these, so a client cannot grow the database by inventing metric names. Reloaded after every guard change
//! (on the replica that made it, and on the others when PostgreSQL tells them) and with the list of
//! environments on the periodic refresh, so no request reads the database for it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;

/// Metric names by flag.
type ByFlag = HashMap<String, HashSet<String>>;

/// The watched (flag, metric) pairs of every environment. Lock-free to read.
#[derive(Debug, Default)]
pub struct WatchedMetrics {
    current: ArcSwap<HashMap<String, Arc<ByFlag>>>,
}

/// One environment's watched metrics, as they were when it was taken.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentWatch(Option<Arc<ByFlag>>);

impl EnvironmentWatch {
    /// Whether something watches `metric` of `flag`.
    pub fn watches(&self, flag: &str, metric: &str) -> bool {
        self.0.as_ref().and_then(|flags| flags.get(flag)).is_some_and(|metrics| metrics.contains(metric))
    }
}

impl WatchedMetrics {
    /// Replaces the table with these (environment, flag, metric) triples.
    pub fn replace(&self, watched: impl IntoIterator<Item = (String, String, String)>) {
        let mut table: HashMap<String, ByFlag> = HashMap::new();
        for (environment, flag, metric) in watched {
            table.entry(environment).or_default().entry(flag).or_default().insert(metric);
        }
        self.current.store(Arc::new(table.into_iter().map(|(env, flags)| (env, Arc::new(flags))).collect()));
    }

    /// Every (flag, metric) watched in `environment`, sorted (what a relay learns from its upstream).
    pub fn pairs_of(&self, environment: &str) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .current
            .load()
            .get(environment)
            .map(|flags| flags.iter().flat_map(|(f, ms)| ms.iter().map(move |m| (f.clone(), m.clone()))).collect())
            .unwrap_or_default();
        pairs.sort();
        pairs
    }

    /// What is watched in `environment` now.
    pub fn of(&self, environment: &str) -> EnvironmentWatch {
        EnvironmentWatch(self.current.load().get(environment).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_watched_per_environment_and_flag() {
        let table = WatchedMetrics::default();
        let triple = |e: &str, f: &str, m: &str| (e.to_owned(), f.to_owned(), m.to_owned());
        table.replace([triple("production", "checkout", "errors"), triple("staging", "checkout", "latency")]);
        let production = table.of("production");
        assert!(production.watches("checkout", "errors"));
        assert!(!production.watches("checkout", "latency"));
        assert!(!production.watches("banner", "errors"));
        assert!(table.of("staging").watches("checkout", "latency"));
        assert!(!table.of("development").watches("checkout", "errors"));
        table.replace([]);
        assert!(production.watches("checkout", "errors"), "a taken view stays as it was");
        assert!(!table.of("production").watches("checkout", "errors"));
    }
}
