//! `validate_config_with_limits`: how deep and how wide a prerequisite graph validation accepts, and the
//! chain it names when it refuses one.

use pennon_engine::{
    Flag, FlagConfig, PrerequisiteLimits, Problem, Snapshot, validate_config, validate_config_with_limits,
};
use serde_json::{Value, json};

fn definition(key: &str) -> Value {
    json!({ "key": key, "kind": "boolean", "salt": key,
        "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] })
}

fn config(key: &str, prerequisites: &[&str]) -> Value {
    json!({ "flag": key, "environment": "production", "version": 1, "enabled": true, "off_variant": "off",
        "default": { "variant": "on" },
        "prerequisites": prerequisites.iter().map(|p| json!({ "flag": p, "variant": "on" })).collect::<Vec<_>>() })
}

/// An environment of flags, each `(key, its prerequisites)`.
fn env(flags: &[(&str, Vec<&str>)]) -> Snapshot {
    let flags: Vec<Value> =
        flags.iter().map(|(key, pre)| json!({ "definition": definition(key), "config": config(key, pre) })).collect();
    serde_json::from_value(json!({ "environment": "production", "revision": 1, "flags": flags })).unwrap()
}

/// The problems of writing `key`'s config with these prerequisites into `env`.
fn check(env: &Snapshot, key: &str, prerequisites: &[&str], limits: PrerequisiteLimits) -> Vec<Problem> {
    let flag: Flag = serde_json::from_value(definition(key)).unwrap();
    let config: FlagConfig = serde_json::from_value(config(key, prerequisites)).unwrap();
    validate_config_with_limits(&flag, &config, env, limits)
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// `c0` requires `c1` ... requires `c{n-1}`: a chain `n - 1` steps deep.
fn chain(names: &[String]) -> Vec<(&str, Vec<&str>)> {
    (0..names.len()).map(|i| (names[i].as_str(), names.get(i + 1).map(String::as_str).into_iter().collect())).collect()
}

#[test]
fn the_defaults_are_eight_deep_and_sixteen_wide() {
    let limits = PrerequisiteLimits::default();
    assert_eq!((limits.max_depth, limits.max_prerequisites), (8, 16));
}

#[test]
fn a_chain_deeper_than_the_limit_is_refused_with_its_path() {
    let names = keys("c", 8);
    let eight = env(&chain(&names));
    // top → c0 → ... → c7 is 8 steps: accepted.
    assert_eq!(check(&eight, "top", &["c0"], PrerequisiteLimits::default()), []);
    let top: Flag = serde_json::from_value(definition("top")).unwrap();
    let top_config: FlagConfig = serde_json::from_value(config("top", &["c0"])).unwrap();
    assert_eq!(validate_config(&top, &top_config, &eight), []);
    // Nine steps: refused, naming the chain.
    let names = keys("c", 9);
    let nine = env(&chain(&names));
    let problems = check(&nine, "top", &["leaf", "c0"], PrerequisiteLimits::default());
    let problems: Vec<_> = problems.into_iter().filter(|p| !p.message.starts_with("unknown flag")).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "prerequisites[1].flag");
    assert_eq!(
        problems[0].message,
        "prerequisite chain top → c0 → c1 → c2 → c3 → c4 → c5 → c6 → c7 → c8 is 9 deep; at most 8 is allowed"
    );
}

#[test]
fn the_flags_that_require_the_one_written_count_too() {
    // u0 → u1 → u2 → mid already; writing mid to require d0 → d1 makes u0's chain 6 deep.
    let env = env(&[
        ("u0", vec!["u1"]),
        ("u1", vec!["u2"]),
        ("u2", vec!["mid"]),
        ("mid", vec![]),
        ("d0", vec!["d1"]),
        ("d1", vec![]),
    ]);
    let five = PrerequisiteLimits { max_depth: 5, ..PrerequisiteLimits::default() };
    assert_eq!(check(&env, "mid", &["d0"], five), []);
    let four = PrerequisiteLimits { max_depth: 4, ..PrerequisiteLimits::default() };
    let problems = check(&env, "mid", &["d0"], four);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "prerequisites[0].flag");
    assert_eq!(problems[0].message, "prerequisite chain u0 → u1 → u2 → mid → d0 → d1 is 5 deep; at most 4 is allowed");
}

#[test]
fn more_prerequisites_than_the_limit_are_refused() {
    let names = keys("p", 17);
    let env = env(&names.iter().map(|n| (n.as_str(), vec![])).collect::<Vec<_>>());
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(check(&env, "wide", &all[..16], PrerequisiteLimits::default()), []);
    let problems = check(&env, "wide", &all, PrerequisiteLimits::default());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "prerequisites");
    assert_eq!(problems[0].message, "17 prerequisites; at most 16 are allowed per flag");
    let narrow = PrerequisiteLimits { max_prerequisites: 2, ..PrerequisiteLimits::default() };
    assert_eq!(check(&env, "wide", &all[..3], narrow)[0].message, "3 prerequisites; at most 2 are allowed per flag");
}

#[test]
fn the_exponential_graph_of_issue_17_is_refused() {
    // 45 flags, each requiring the next two: 44 steps deep.
    let names = keys("f", 45);
    let flags: Vec<(&str, Vec<&str>)> = (1..45)
        .map(|i| (names[i].as_str(), names[(i + 1).min(45)..(i + 3).min(45)].iter().map(String::as_str).collect()))
        .collect();
    let problems = check(&env(&flags), "f0", &["f1", "f2"], PrerequisiteLimits::default());
    assert!(!problems.is_empty());
    assert!(problems.iter().all(|p| p.message.ends_with("at most 8 is allowed")), "{problems:?}");
    assert!(problems[0].message.starts_with("prerequisite chain f0 → f1 → f2 → f3"), "{problems:?}");
}

#[test]
fn limits_above_what_evaluation_follows_count_as_that() {
    let names = keys("c", pennon_engine::MAX_PREREQUISITE_DEPTH + 1);
    let env = env(&chain(&names));
    let generous = PrerequisiteLimits { max_depth: 1000, ..PrerequisiteLimits::default() };
    let problems = check(&env, "top", &["c0"], generous);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].message.ends_with("is 65 deep; at most 64 is allowed"), "{problems:?}");
}
