//! The benchmark flag shared with pennon-engine's and pennon-sdk's benchmarks
//! (`crates/engine/benches/three_rules_flag.json`): three rules (five conditions, among them a regular
//! expression and a semantic version) and a 25/75 split, and the five attributes that fail every rule on its
//! last condition, so that every condition is tried before the split buckets the context.

use serde_json::Value;

const FIXTURE: &str = include_str!("../../engine/benches/three_rules_flag.json");

fn part(name: &str) -> Value {
    serde_json::from_str::<Value>(FIXTURE).expect("the fixture is JSON")[name].take()
}

/// The flag, as a snapshot lists it: `{"definition", "config"}` (key `flag-00`, environment `production`).
pub fn flag() -> Value {
    part("flag")
}

/// The config alone, for `flag` in `environment` at `version`.
pub fn config(flag: &str, environment: &str, version: u64) -> Value {
    let mut config = part("flag")["config"].take();
    config["flag"] = flag.into();
    config["environment"] = environment.into();
    config["version"] = version.into();
    config
}

/// The context's attributes: `{"plan", "app_version", "email", "country", "beta_opt_in"}`.
pub fn attributes() -> Value {
    part("attributes")
}
