//! The allowed origins of every environment, in memory: rebuilt whenever the list of environments is (see
//! [`crate::delivery::snapshots::Snapshots::refresh_all`]), so a change made on any replica reaches every
//! replica without a restart. The CORS step reads it on every cross-origin request.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::domain::origins::ANY_ORIGIN;

/// Each environment's allowed origins, and every origin any environment allows.
#[derive(Debug, Default)]
struct Origins {
    by_environment: HashMap<String, Vec<String>>,
    anywhere: HashSet<String>,
    any_environment_allows_all: bool,
}

/// The allowed origins of every environment, in memory. Lock-free to read.
#[derive(Debug, Default)]
pub struct OriginTable {
    current: ArcSwap<Origins>,
}

impl OriginTable {
    /// Replaces the table with these (environment, allowed origins) pairs.
    pub fn replace<'a>(&self, environments: impl IntoIterator<Item = (&'a str, &'a [String])>) {
        let mut origins = Origins::default();
        for (environment, allowed) in environments {
            if allowed.is_empty() {
                continue;
            }
            origins.any_environment_allows_all |= allowed.iter().any(|o| o == ANY_ORIGIN);
            origins.anywhere.extend(allowed.iter().cloned());
            origins.by_environment.insert(environment.to_owned(), allowed.to_vec());
        }
        self.current.store(Arc::new(origins));
    }

    /// The origins `environment` allows (what a relay learns from its upstream).
    pub fn of(&self, environment: &str) -> Vec<String> {
        self.current.load().by_environment.get(environment).cloned().unwrap_or_default()
    }

    /// Whether `environment` allows `origin`.
    pub fn allows(&self, environment: &str, origin: &str) -> bool {
        self.current
            .load()
            .by_environment
            .get(environment)
            .is_some_and(|allowed| allowed.iter().any(|o| o == origin || o == ANY_ORIGIN))
    }

    /// Whether some environment allows `origin` (for preflights, which carry no credential).
    pub fn allowed_somewhere(&self, origin: &str) -> bool {
        let origins = self.current.load();
        origins.any_environment_allows_all || origins.anywhere.contains(origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_answers_per_environment_and_for_preflights() {
        let table = OriginTable::default();
        let production = ["https://app.example.com".to_owned()];
        let staging = ["*".to_owned()];
        table.replace([("production", &production[..]), ("development", &[][..])]);
        assert!(table.allows("production", "https://app.example.com"));
        assert!(!table.allows("production", "https://evil.example"));
        assert!(!table.allows("development", "https://app.example.com"));
        assert!(table.allowed_somewhere("https://app.example.com"));
        assert!(!table.allowed_somewhere("https://evil.example"));
        table.replace([("production", &production[..]), ("staging", &staging[..])]);
        assert!(table.allows("staging", "https://evil.example"));
        assert!(table.allowed_somewhere("https://evil.example"));
    }
}
