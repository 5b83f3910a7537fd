//! The prerequisite edges of a compiled snapshot, by key, and the flags evaluation cannot decide through them:
//! those on a cycle and those whose chain of prerequisites is longer than [`MAX_PREREQUISITE_DEPTH`].
//!
//! Only flags that have prerequisites are in the graph (a flag without any is a leaf: it cannot be on a
//! cycle), so a change to a flag without prerequisites never touches it, and the analysis costs in proportion
//! to the flags that have some.

use std::sync::Arc;

use crate::compile::{FastMap, FastSet};

/// The longest chain of prerequisites evaluation follows: a flag whose chain is longer (`a` requires `b`
/// requires `c` ... more than this many times) is answered `ERROR` / `MALFORMED_CONFIG`, like a flag on a
/// cycle, and so are the flags that require it. Validation refuses such configs whatever limits it is given
/// (see [`PrerequisiteLimits`](crate::PrerequisiteLimits)); this bound only keeps evaluation of a snapshot
/// that skipped validation from recursing without end.
pub const MAX_PREREQUISITE_DEPTH: usize = 64;

/// Flag key → the keys of its prerequisites, for the flags that have any.
pub(crate) type PrerequisiteGraph = FastMap<Arc<str>, Arc<[Arc<str>]>>;

/// Prerequisite key → the flags that require it: the graph turned around, so that the flags a change reaches
/// are found without reading every edge.
pub(crate) type Dependents = FastMap<Arc<str>, Vec<Arc<str>>>;

/// The flags requiring each flag, from `graph`.
pub(crate) fn dependents(graph: &PrerequisiteGraph) -> Dependents {
    let mut out = Dependents::default();
    for (flag, prerequisites) in graph {
        for p in prerequisites.iter() {
            let requiring = out.entry(p.clone()).or_default();
            if !requiring.contains(flag) {
                requiring.push(flag.clone());
            }
        }
    }
    out
}

/// The flags of `graph` that lie on a prerequisite cycle (every member of a strongly connected component of
/// more than one flag, and flags that are their own prerequisite), and those whose chain of prerequisites is
/// longer than [`MAX_PREREQUISITE_DEPTH`].
pub(crate) fn unresolvable(graph: &PrerequisiteGraph) -> FastSet<Arc<str>> {
    let nodes: Vec<&Arc<str>> = graph.keys().collect();
    let position: FastMap<&str, usize> = nodes.iter().enumerate().map(|(i, k)| (&***k, i)).collect();
    let edges: Vec<Vec<usize>> =
        nodes.iter().map(|k| graph[*k].iter().filter_map(|p| position.get(&**p).copied()).collect()).collect();
    // Edges to flags outside the graph lead to leaves: they count one step and end there.
    let has_leaf_edge: Vec<bool> =
        nodes.iter().map(|k| graph[*k].iter().any(|p| !position.contains_key(&**p))).collect();
    let on_cycle = on_cycles(&edges);
    let depth = depths(&edges, &has_leaf_edge, &on_cycle);
    (0..nodes.len()).filter(|&i| on_cycle[i] || depth[i] > MAX_PREREQUISITE_DEPTH).map(|i| nodes[i].clone()).collect()
}

/// The length of each node's longest chain of prerequisites; a prerequisite on a cycle counts one step (it
/// answers at once), as does a leaf. Nodes on cycles get 0. Capped just past [`MAX_PREREQUISITE_DEPTH`].
fn depths(edges: &[Vec<usize>], has_leaf_edge: &[bool], on_cycle: &[bool]) -> Vec<usize> {
    const UNKNOWN: usize = usize::MAX;
    let n = edges.len();
    let mut depth = vec![UNKNOWN; n];
    for start in 0..n {
        if depth[start] != UNKNOWN || on_cycle[start] {
            continue;
        }
        // Post-order over the nodes off cycles, which form a DAG.
        let mut stack = vec![(start, 0usize)];
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&p) = edges[node].get(*next) {
                *next += 1;
                if !on_cycle[p] && depth[p] == UNKNOWN {
                    stack.push((p, 0));
                }
                continue;
            }
            let below = edges[node].iter().map(|&p| if on_cycle[p] { 1 } else { depth[p].saturating_add(1) });
            let leaf = usize::from(has_leaf_edge[node] || edges[node].iter().any(|&p| on_cycle[p]));
            depth[node] = below.fold(leaf, usize::max).min(MAX_PREREQUISITE_DEPTH + 1);
            stack.pop();
        }
    }
    depth.iter().map(|&d| if d == UNKNOWN { 0 } else { d }).collect()
}

/// Which nodes lie on a cycle: Tarjan's algorithm, iterative. A plain depth-first search that only marks the
/// current path misses nodes that reach a cycle through a node it has already finished with.
fn on_cycles(edges: &[Vec<usize>]) -> Vec<bool> {
    const UNVISITED: usize = usize::MAX;
    let n = edges.len();
    let mut order = vec![UNVISITED; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut component = Vec::new();
    let mut on_cycle = vec![false; n];
    let mut next_order = 0;
    for start in 0..n {
        if order[start] != UNVISITED {
            continue;
        }
        // Stack of (node, next edge to look at): the current depth-first path.
        let mut path = vec![(start, 0usize)];
        order[start] = next_order;
        low[start] = next_order;
        next_order += 1;
        component.push(start);
        on_stack[start] = true;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            let edge = edges[node].get(*next).copied();
            *next += 1;
            match edge {
                Some(p) if order[p] == UNVISITED => {
                    order[p] = next_order;
                    low[p] = next_order;
                    next_order += 1;
                    component.push(p);
                    on_stack[p] = true;
                    path.push((p, 0));
                }
                Some(p) => {
                    if p == node {
                        on_cycle[node] = true;
                    }
                    if on_stack[p] {
                        low[node] = low[node].min(order[p]);
                    }
                }
                None => {
                    path.pop();
                    if let Some(&(parent, _)) = path.last() {
                        low[parent] = low[parent].min(low[node]);
                    }
                    if low[node] == order[node] {
                        let root = component.iter().rposition(|&m| m == node).unwrap_or(0);
                        let members = component.split_off(root);
                        for &m in &members {
                            on_stack[m] = false;
                            if members.len() > 1 {
                                on_cycle[m] = true;
                            }
                        }
                    }
                }
            }
        }
    }
    on_cycle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> PrerequisiteGraph {
        edges.iter().map(|(k, ps)| (Arc::from(*k), ps.iter().map(|p| Arc::from(*p)).collect())).collect()
    }

    fn sorted(set: &FastSet<Arc<str>>) -> Vec<&str> {
        let mut keys: Vec<&str> = set.iter().map(|k| &**k).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn dependents_turn_the_graph_around() {
        let g = graph(&[("a", &["b", "c"]), ("d", &["b"]), ("b", &["c"])]);
        let turned = dependents(&g);
        let of = |key: &str| {
            let mut keys: Vec<&str> = turned.get(key).into_iter().flatten().map(|k| &**k).collect();
            keys.sort_unstable();
            keys
        };
        assert_eq!((of("b"), of("c"), of("a")), (vec!["a", "d"], vec!["a", "b"], vec![]));
    }

    #[test]
    fn cycles_and_self_loops_are_unresolvable_but_what_reaches_them_is_not() {
        let g = graph(&[("a", &["b"]), ("b", &["a", "leaf"]), ("c", &["a"]), ("s", &["s"]), ("d", &["leaf"])]);
        assert_eq!(sorted(&unresolvable(&g)), ["a", "b", "s"]);
    }

    #[test]
    fn chains_longer_than_the_limit_are_unresolvable_with_what_requires_them() {
        let keys: Vec<String> = (0..=MAX_PREREQUISITE_DEPTH + 1).map(|i| format!("f{i}")).collect();
        // f0 requires f1 ... requires f65 (a leaf): f0's chain is 65 long, f1's 64.
        let g: PrerequisiteGraph =
            keys.windows(2).map(|w| (Arc::from(w[0].as_str()), Arc::from([Arc::from(w[1].as_str())]))).collect();
        assert_eq!(sorted(&unresolvable(&g)), ["f0"]);
    }
}
