//! The metrics of a document: created, changed, and with `prune=true` deleted, like segments.

use std::collections::{BTreeMap, BTreeSet};

use pennon_engine::Problem;

use super::Document;
use super::apply::{collect, duplicates};
use super::plan::{PlanEntry, PlanOp, entry};
use crate::api::metrics::{CreateMetric, check_draft, check_metric_key};
use crate::store::{ApplyStep, MetricDraft, MetricKind};

/// The metrics' steps: `changes` run before the flags (guards may name new metrics), `deletions` after
/// everything else (guards that named them are gone by then).
#[derive(Default)]
pub(super) struct MetricSteps {
    pub changes: Vec<(String, ApplyStep)>,
    pub deletions: Vec<(String, ApplyStep)>,
    /// Every metric there is after the apply, with its kind: what guards may name.
    pub known: BTreeMap<String, MetricKind>,
}

/// Compares the document's metrics with the server's.
pub(super) fn plan_metrics(
    current: &Document,
    desired: &Document,
    prune: bool,
    problems: &mut Vec<Problem>,
    entries: &mut Vec<PlanEntry>,
) -> MetricSteps {
    let mut out = MetricSteps::default();
    duplicates(problems, "metrics", desired.metrics.iter().map(|m| m.key.as_str()));
    for (i, m) in desired.metrics.iter().enumerate() {
        let at = format!("metrics[{i}]");
        let draft = MetricDraft {
            kind: m.kind,
            unit: m.unit.clone(),
            direction: m.direction,
            description: m.description.clone(),
        };
        collect(problems, &at, check_metric_key("key", &m.key).and_then(|()| check_draft(&draft)));
        out.known.insert(m.key.clone(), m.kind);
        let before = current.metrics.iter().find(|c| c.key == m.key);
        let e = entry("metric", m.key.clone(), before, Some(m));
        match e.op {
            PlanOp::Create => out.changes.push((at, ApplyStep::CreateMetric(m.key.clone(), draft))),
            PlanOp::Update => out.changes.push((at, ApplyStep::UpdateMetric(m.key.clone(), draft))),
            _ => {}
        }
        entries.push(e);
    }
    let named: BTreeSet<&str> = desired.metrics.iter().map(|m| m.key.as_str()).collect();
    for m in current.metrics.iter().filter(|m| !named.contains(m.key.as_str())) {
        if prune {
            out.deletions.push((format!("metric {}", m.key), ApplyStep::DeleteMetric(m.key.clone())));
        } else {
            out.known.insert(m.key.clone(), m.kind);
        }
    }
    out
}

/// The delete entries of the metrics `prune` removes, after every other entry.
pub(super) fn pruned(current: &Document, desired: &Document, entries: &mut Vec<PlanEntry>) {
    let named: BTreeSet<&str> = desired.metrics.iter().map(|m| m.key.as_str()).collect();
    for m in current.metrics.iter().filter(|m| !named.contains(m.key.as_str())) {
        entries.push(entry::<CreateMetric>("metric", m.key.clone(), Some(m), None));
    }
}
