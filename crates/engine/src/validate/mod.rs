//! Validation of definitions and configs before they are accepted: every problem, each with its path.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::condition::CompiledCondition;
use crate::model::{Condition, Flag, FlagConfig, FlagKind, Operator, Segment, Serve, Snapshot};

mod prerequisites;

pub use prerequisites::PrerequisiteLimits;
use prerequisites::check_prerequisites;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 128;

/// One thing wrong with a document, located by a path such as `rules[2].serve.split.weights`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where, in the document's own field names.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem { path: path.into(), message: message.into() }
}

/// Whether `s` is a key: `[a-z0-9][a-z0-9_.-]*`, at most [`MAX_KEY_LEN`] bytes.
pub fn is_slug(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && s.len() <= MAX_KEY_LEN
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'))
}

/// The message for a key that is not a slug.
pub const SLUG_RULE: &str = "must be a slug: lower-case letters, digits, '_', '.', '-', starting with a letter or digit, at most 128 characters";

/// Checks a flag definition.
pub fn validate_flag(flag: &Flag) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !is_slug(&flag.key) {
        problems.push(problem("key", SLUG_RULE));
    }
    if flag.variants.is_empty() {
        problems.push(problem("variants", "a flag needs at least one variant"));
    }
    let mut seen = HashSet::new();
    for (i, v) in flag.variants.iter().enumerate() {
        if !is_slug(&v.key) {
            problems.push(problem(format!("variants[{i}].key"), SLUG_RULE));
        }
        if !seen.insert(v.key.as_str()) {
            problems.push(problem(format!("variants[{i}].key"), format!("duplicate variant \"{}\"", v.key)));
        }
        if !flag.kind.admits(&v.value) {
            problems.push(problem(format!("variants[{i}].value"), format!("must be a {} value", flag.kind.as_str())));
        }
    }
    if flag.kind == FlagKind::Boolean {
        let well_formed = flag.variants.len() == 2
            && flag.variants.iter().any(|v| v.key == "on" && v.value == true)
            && flag.variants.iter().any(|v| v.key == "off" && v.value == false);
        if !well_formed {
            problems.push(problem("variants", "a boolean flag has exactly the variants on (true) and off (false)"));
        }
    }
    for (i, tag) in flag.tags.iter().enumerate() {
        if tag.is_empty() || tag.chars().count() > MAX_KEY_LEN {
            problems.push(problem(format!("tags[{i}]"), "tags are 1 to 128 characters"));
        }
    }
    problems
}

/// Checks a segment.
pub fn validate_segment(segment: &Segment) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !is_slug(&segment.key) {
        problems.push(problem("key", SLUG_RULE));
    }
    for (i, c) in segment.conditions.iter().enumerate() {
        check_condition(c, &format!("conditions[{i}]"), &mut problems);
    }
    problems
}

/// Checks a flag's config in an environment. `env` supplies the environment's segments and the other flags
/// with their configs there (this flag's own entry, if present, is replaced by `config` for the cycle check).
/// The prerequisite graph is held to the default [`PrerequisiteLimits`]; see
/// [`validate_config_with_limits`].
pub fn validate_config(flag: &Flag, config: &FlagConfig, env: &Snapshot) -> Vec<Problem> {
    validate_config_with_limits(flag, config, env, PrerequisiteLimits::default())
}

/// [`validate_config`], with the prerequisite graph held to `limits`: a config that lists more
/// prerequisites than `limits.max_prerequisites`, or through which a chain of prerequisites would be longer
/// than `limits.max_depth`, is refused; the problem names the chain (`a → b → c`).
pub fn validate_config_with_limits(
    flag: &Flag,
    config: &FlagConfig,
    env: &Snapshot,
    limits: PrerequisiteLimits,
) -> Vec<Problem> {
    validate_config_in(flag, config, &ValidationScope::of(env), limits)
}

/// What validating a config needs of the rest of its environment: which segments exist, the definitions of
/// the flags the config names as prerequisites, and the prerequisite edges of the environment's flags. A
/// store can read just these for a change instead of the whole environment ([`ValidationScope::of`] takes
/// them from a snapshot).
#[derive(Debug, Clone, Default)]
pub struct ValidationScope {
    /// Keys of the segments that exist (at least those the config's rules name).
    pub segments: HashSet<String>,
    /// Definitions of the flags of the environment (at least those the config names as prerequisites).
    pub flags: HashMap<String, Flag>,
    /// Flag key → the keys of its prerequisites, for every flag of the environment that has any.
    pub edges: HashMap<String, Vec<String>>,
}

impl ValidationScope {
    /// All of it, from a snapshot of the environment.
    pub fn of(env: &Snapshot) -> Self {
        ValidationScope {
            segments: env.segments.iter().map(|s| s.key.clone()).collect(),
            flags: env.flags.iter().map(|f| (f.definition.key.clone(), f.definition.clone())).collect(),
            edges: env
                .flags
                .iter()
                .filter(|f| !f.config.prerequisites.is_empty())
                .map(|f| (f.definition.key.clone(), f.config.prerequisites.iter().map(|p| p.flag.clone()).collect()))
                .collect(),
        }
    }
}

/// [`validate_config_with_limits`] against the parts of the environment it needs.
pub fn validate_config_in(
    flag: &Flag,
    config: &FlagConfig,
    scope: &ValidationScope,
    limits: PrerequisiteLimits,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut v = ConfigCheck { flag, problems: &mut problems };
    v.variant(&config.off_variant, "off_variant");
    let mut targeted = HashSet::new();
    for (i, t) in config.targets.iter().enumerate() {
        v.variant(&t.variant, &format!("targets[{i}].variant"));
        for (j, key) in t.keys.iter().enumerate() {
            if key.is_empty() {
                v.problems.push(problem(format!("targets[{i}].keys[{j}]"), "must not be empty"));
            } else if !targeted.insert(key.as_str()) {
                v.problems.push(problem(format!("targets[{i}].keys[{j}]"), format!("\"{key}\" is targeted twice")));
            }
        }
    }
    let segments = &scope.segments;
    let mut rule_ids = HashSet::new();
    for (i, rule) in config.rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        if !is_slug(&rule.id) {
            v.problems.push(problem(format!("{at}.id"), SLUG_RULE));
        } else if !rule_ids.insert(rule.id.as_str()) {
            v.problems.push(problem(format!("{at}.id"), format!("duplicate rule id \"{}\"", rule.id)));
        }
        for (j, c) in rule.conditions.iter().enumerate() {
            check_condition(c, &format!("{at}.conditions[{j}]"), v.problems);
        }
        for (j, s) in rule.segments.iter().enumerate() {
            if !segments.contains(s) {
                v.problems.push(problem(format!("{at}.segments[{j}]"), format!("unknown segment \"{s}\"")));
            }
        }
        v.serve(&rule.serve, &format!("{at}.serve"));
    }
    v.serve(&config.default, "default");
    check_prerequisites(flag, config, scope, limits, &mut problems);
    problems
}

struct ConfigCheck<'a> {
    flag: &'a Flag,
    problems: &'a mut Vec<Problem>,
}

impl ConfigCheck<'_> {
    fn variant(&mut self, key: &str, path: &str) {
        if !self.flag.variants.iter().any(|v| v.key == key) {
            self.problems.push(problem(path, format!("unknown variant \"{key}\" of flag \"{}\"", self.flag.key)));
        }
    }

    fn serve(&mut self, serve: &Serve, path: &str) {
        match serve {
            Serve::Variant(key) => self.variant(key, &format!("{path}.variant")),
            Serve::Split(split) => {
                let at = format!("{path}.split");
                if split.bucket_by.is_empty() {
                    self.problems.push(problem(format!("{at}.bucket_by"), "must name an attribute"));
                }
                if split.weights.is_empty() {
                    self.problems.push(problem(format!("{at}.weights"), "a split needs at least one weight"));
                }
                let mut seen = HashSet::new();
                let mut sum = 0u64;
                for (i, w) in split.weights.iter().enumerate() {
                    self.variant(&w.variant, &format!("{at}.weights[{i}].variant"));
                    if !seen.insert(w.variant.as_str()) {
                        let msg = format!("variant \"{}\" appears twice", w.variant);
                        self.problems.push(problem(format!("{at}.weights[{i}].variant"), msg));
                    }
                    sum += u64::from(w.weight);
                }
                match &split.bucketing {
                    None if sum != u64::from(crate::bucket::BUCKETS) => {
                        let msg = format!("weights sum to {sum}, not 100000");
                        self.problems.push(problem(format!("{at}.weights"), msg));
                    }
                    None => {}
                    Some(crate::model::Bucketing::Unleash { group_id }) => {
                        if group_id.is_empty() {
                            self.problems.push(problem(format!("{at}.bucketing.group_id"), "must not be empty"));
                        }
                        if sum == 0 || sum > u64::from(u32::MAX) {
                            let msg = format!("weights sum to {sum}; the unleash scheme needs 1 to 4294967295");
                            self.problems.push(problem(format!("{at}.weights"), msg));
                        }
                    }
                }
            }
        }
    }
}

fn check_condition(c: &Condition, path: &str, problems: &mut Vec<Problem>) {
    if c.attribute.is_empty() {
        problems.push(problem(format!("{path}.attribute"), "must name an attribute"));
    }
    let n = c.values.len();
    let arity_problem = match c.operator {
        Operator::Exists if n != 0 => Some("exists takes no values"),
        Operator::Exists => None,
        Operator::UnleashRollout if n != 2 => Some("unleash_rollout takes a group id and a percentage"),
        Operator::Eq
        | Operator::Lt
        | Operator::Lte
        | Operator::Gt
        | Operator::Gte
        | Operator::SemverEq
        | Operator::SemverLt
        | Operator::SemverLte
        | Operator::SemverGt
        | Operator::SemverGte
        | Operator::Before
        | Operator::After
            if n != 1 =>
        {
            Some("this operator takes exactly one value")
        }
        _ if n == 0 => Some("at least one value is needed"),
        _ => None,
    };
    if let Some(msg) = arity_problem {
        problems.push(problem(format!("{path}.values"), msg));
    }
    if let Err(e) = CompiledCondition::compile(c) {
        problems.push(problem(format!("{path}.values[{}]", e.index), e.message));
    }
}
