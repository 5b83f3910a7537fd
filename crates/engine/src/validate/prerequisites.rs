//! Validation of a config's prerequisites: known flags and variants, no cycle, and the graph within
//! [`PrerequisiteLimits`].

use std::collections::{HashMap, HashSet};

use super::{Problem, ValidationScope, problem};
use crate::MAX_PREREQUISITE_DEPTH;
use crate::model::{Flag, FlagConfig};

/// How large a prerequisite graph validation accepts. Evaluation decides each flag at most once whatever the
/// graph, but a deep or wide graph is hard for people to follow and each level costs a lookup; the server can
/// expose these as settings.
///
/// ```
/// use pennon_engine::PrerequisiteLimits;
/// let limits = PrerequisiteLimits { max_depth: 4, ..PrerequisiteLimits::default() };
/// assert_eq!((limits.max_depth, limits.max_prerequisites), (4, 16));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrerequisiteLimits {
    /// The longest chain of prerequisites through any flag, in steps: `a` requiring `b` requiring `c` is 2.
    /// Default 8. Values above [`MAX_PREREQUISITE_DEPTH`] count as that, which evaluation enforces anyway.
    pub max_depth: usize,
    /// The most prerequisites one flag may list. Default 16.
    pub max_prerequisites: usize,
}

impl Default for PrerequisiteLimits {
    fn default() -> Self {
        PrerequisiteLimits { max_depth: 8, max_prerequisites: 16 }
    }
}

/// Flag key → its prerequisites' keys, for the flags of the environment that have any, with the config being
/// checked in place of the flag's stored one.
type Edges<'a> = HashMap<&'a str, Vec<&'a str>>;

pub(super) fn check_prerequisites(
    flag: &Flag,
    config: &FlagConfig,
    scope: &ValidationScope,
    limits: PrerequisiteLimits,
    problems: &mut Vec<Problem>,
) {
    if config.prerequisites.len() > limits.max_prerequisites {
        let msg = format!(
            "{} prerequisites; at most {} are allowed per flag",
            config.prerequisites.len(),
            limits.max_prerequisites
        );
        problems.push(problem("prerequisites", msg));
    }
    let mut edges: Edges<'_> = scope
        .edges
        .iter()
        .filter(|(key, prerequisites)| **key != flag.key && !prerequisites.is_empty())
        .map(|(key, prerequisites)| (key.as_str(), prerequisites.iter().map(String::as_str).collect()))
        .collect();
    edges.insert(&flag.key, config.prerequisites.iter().map(|p| p.flag.as_str()).collect());
    let definitions = &scope.flags;
    let max_depth = limits.max_depth.min(MAX_PREREQUISITE_DEPTH);
    let mut seen = HashSet::new();
    let mut cyclic = false;
    let mut deep = Vec::new();
    for (i, p) in config.prerequisites.iter().enumerate() {
        let at = format!("prerequisites[{i}]");
        if p.flag == flag.key {
            problems.push(problem(format!("{at}.flag"), "a flag cannot be its own prerequisite"));
            cyclic = true;
            continue;
        }
        if !seen.insert(p.flag.as_str()) {
            problems.push(problem(format!("{at}.flag"), format!("\"{}\" is listed twice", p.flag)));
        }
        match definitions.get(p.flag.as_str()) {
            None => problems.push(problem(format!("{at}.flag"), format!("unknown flag \"{}\"", p.flag))),
            Some(f) if !f.variants.iter().any(|v| v.key == p.variant) => problems.push(problem(
                format!("{at}.variant"),
                format!("unknown variant \"{}\" of flag \"{}\"", p.variant, p.flag),
            )),
            Some(_) => {
                if let Some(cycle) = path_back(&p.flag, &flag.key, &edges) {
                    let msg = format!("prerequisite cycle: {} → {}", flag.key, cycle.join(" → "));
                    problems.push(problem(format!("{at}.flag"), msg));
                    cyclic = true;
                } else {
                    deep.push((at, p.flag.as_str()));
                }
            }
        }
    }
    if cyclic || deep.is_empty() {
        return;
    }
    // The longest chain through this flag: the longest chain of flags requiring it, then it, then each
    // prerequisite's longest chain.
    let mut dependents: Edges<'_> = HashMap::new();
    for (&key, prerequisites) in &edges {
        for &p in prerequisites {
            dependents.entry(p).or_default().push(key);
        }
    }
    let mut above = longest_chain(&flag.key, &dependents);
    above.reverse();
    for (at, p) in deep {
        let below = longest_chain(p, &edges);
        let steps = above.len() + below.len() - 1;
        if steps > max_depth {
            let path: Vec<&str> = above.iter().chain(&below).copied().collect();
            let msg =
                format!("prerequisite chain {} is {steps} deep; at most {max_depth} is allowed", path.join(" → "));
            problems.push(problem(format!("{at}.flag"), msg));
        }
    }
}

/// The longest path from `start` along `edges` (start included), ignoring edges that close a cycle.
/// Iterative, so that a long chain stored before the limits existed cannot exhaust the stack.
fn longest_chain<'a>(start: &'a str, edges: &Edges<'a>) -> Vec<&'a str> {
    // For each node finished: the length of its longest chain and the next node on it.
    let mut best: HashMap<&str, (usize, Option<&str>)> = HashMap::new();
    let mut on_path: HashSet<&str> = HashSet::new();
    let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
    on_path.insert(start);
    while let Some(&mut (node, ref mut next)) = stack.last_mut() {
        let out = edges.get(node).map(Vec::as_slice).unwrap_or_default();
        if let Some(&p) = out.get(*next) {
            *next += 1;
            if !best.contains_key(p) && on_path.insert(p) {
                stack.push((p, 0));
            }
            continue;
        }
        let choice =
            out.iter().filter_map(|&p| best.get(p).map(|&(len, _)| (len + 1, Some(p)))).max_by_key(|&(len, _)| len);
        best.insert(node, choice.unwrap_or((1, None)));
        on_path.remove(node);
        stack.pop();
    }
    let mut chain = vec![start];
    while let Some(&(_, Some(next))) = best.get(chain[chain.len() - 1]) {
        chain.push(next);
    }
    chain
}

/// A path of prerequisites from `from` to `target`, if any.
fn path_back(from: &str, target: &str, edges: &Edges<'_>) -> Option<Vec<String>> {
    let mut stack = vec![vec![from]];
    let mut visited = HashSet::new();
    while let Some(path) = stack.pop() {
        let last = *path.last().expect("paths are never empty");
        if last == target {
            return Some(path.iter().map(|&k| k.to_owned()).collect());
        }
        if !visited.insert(last) {
            continue;
        }
        for &p in edges.get(last).map(Vec::as_slice).unwrap_or_default() {
            let mut next = path.clone();
            next.push(p);
            stack.push(next);
        }
    }
    None
}
