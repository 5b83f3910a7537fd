//! The rollout plan and the guards of a flag in one environment, as a document states them.
//!
//! A plan is compared as `PUT .../rollout-plan` writes it (control and `bucket_by` filled in); a running or
//! paused plan is never changed or deleted by an apply (409 naming the path), as `PUT` and `DELETE` refuse
//! it. Guards have no key: a document guard equal to one on the server is unchanged; one with the same
//! metric and variant as a remaining server guard updates it (keeping its id); the rest are created, and the
//! server's guards left over are deleted.

use std::collections::BTreeMap;

use pennon_engine::{Flag, Problem};

use super::ConfigDocument;
use super::apply::within;
use super::export::Live;
use super::plan::{PlanEntry, PlanOp, entry};
use crate::api::guards::{GuardInput, guard_draft, input_of};
use crate::api::plans::PutPlan;
use crate::app::config::ServeConfig;
use crate::http::error::ApiError;
use crate::store::{ApplyStep, GuardDraft, MetricKind};

/// Where the plan and guards of one config are, and what they are checked against.
pub(super) struct Place<'a> {
    /// The flag as it will be after the apply.
    pub flag: &'a Flag,
    /// The environment key.
    pub env: &'a str,
    /// The config's document path, `flags[1].environments.production`.
    pub path: &'a str,
    /// Whether what the document leaves out is deleted.
    pub prune: bool,
    /// Every metric there will be, with its kind.
    pub metrics: &'a BTreeMap<String, MetricKind>,
    /// The server's settings (a guard's Prometheus source is checked against them).
    pub config: &'a ServeConfig,
}

/// What the plan and guards of the document's configs add to an apply.
#[derive(Default)]
pub(super) struct RolloutSteps {
    pub problems: Vec<Problem>,
    /// Changes the document asks of plans in progress: refused with 409.
    pub conflicts: Vec<String>,
    pub entries: Vec<PlanEntry>,
    pub steps: Vec<(String, ApplyStep)>,
}

impl RolloutSteps {
    /// Plans the rollout plan and guards of one config: `old` is the server's config (none for a new one).
    pub fn config(&mut self, at: &Place<'_>, old: Option<&ConfigDocument>, desired: &ConfigDocument, live: &Live) {
        let id = (at.flag.key.clone(), at.env.to_owned());
        self.plan(at, old.and_then(|o| o.plan.as_ref()), desired.plan.as_ref(), live.plans.get(&id).copied());
        let current = live.guards.get(&id).map_or(&[][..], Vec::as_slice);
        match &desired.guards {
            Some(guards) => self.guards(at, current, guards),
            None if at.prune => self.guards(at, current, &[]),
            None => {}
        }
    }

    fn plan(
        &mut self,
        at: &Place<'_>,
        current: Option<&PutPlan>,
        desired: Option<&PutPlan>,
        state: Option<crate::domain::plans::PlanState>,
    ) {
        let key = format!("{}/{}", at.flag.key, at.env);
        let path = format!("{}.plan", at.path);
        let running = state.filter(|s| s.in_progress());
        let Some(desired) = desired else {
            if let Some(current) = current.filter(|_| at.prune) {
                if let Some(s) = running {
                    self.conflicts.push(format!("{path}: the plan is {}; abort it before deleting it", s.as_str()));
                }
                self.entries.push(entry::<PutPlan>("plan", key.clone(), Some(current), None));
                self.steps.push((path, ApplyStep::DeletePlan(at.flag.key.clone(), at.env.to_owned())));
            }
            return;
        };
        if desired.version.is_some() {
            self.problems
                .push(Problem { path: format!("{path}.version"), message: "a document's plan has no version".into() });
        }
        let draft = desired.draft();
        let spec = match draft.check(at.flag) {
            Ok(spec) => spec,
            Err(problems) => {
                self.problems.extend(within(&path, ApiError::Invalid(problems)));
                return;
            }
        };
        let e = entry("plan", key, current, Some(&PutPlan::of(&spec)));
        if e.op != PlanOp::Unchanged {
            if let Some(s) = running {
                self.conflicts.push(format!("{path}: the plan is {}; abort it before changing it", s.as_str()));
            }
            self.steps.push((path, ApplyStep::PutPlan(at.flag.key.clone(), at.env.to_owned(), draft)));
        }
        self.entries.push(e);
    }

    fn guards(&mut self, at: &Place<'_>, current: &[(i64, GuardInput)], desired: &[GuardInput]) {
        let mut wanted: Vec<(String, GuardInput, GuardDraft)> = Vec::new();
        for (i, g) in desired.iter().enumerate() {
            let path = format!("{}.guards[{i}]", at.path);
            if g.version.is_some() {
                let message = "a document's guard has no version".into();
                self.problems.push(Problem { path: format!("{path}.version"), message });
            }
            match at.metrics.get(&g.metric) {
                None => self.problems.push(Problem {
                    path: format!("{path}.metric"),
                    message: format!("metric \"{}\" is not known: add it to the document's metrics", g.metric),
                }),
                Some(kind) if serde_json::to_value(kind).ok() != serde_json::to_value(g.statistic).ok() => {
                    self.problems.push(Problem {
                        path: format!("{path}.statistic"),
                        message: format!("metric \"{}\" is a {} metric", g.metric, format!("{kind:?}").to_lowercase()),
                    });
                }
                Some(_) => {}
            }
            match guard_draft(g.clone(), at.flag, at.config) {
                Ok(draft) => wanted.push((path, input_of(&draft), draft)),
                Err(e) => self.problems.extend(within(&path, e)),
            }
        }
        // Equal guards first, then the same metric and variant, so that a changed guard keeps its id.
        let mut left: Vec<Option<&(i64, GuardInput)>> = current.iter().map(Some).collect();
        let mut pairs: Vec<Option<&(i64, GuardInput)>> = vec![None; wanted.len()];
        let same = [
            |a: &GuardInput, b: &GuardInput| a == b,
            |a: &GuardInput, b: &GuardInput| a.metric == b.metric && a.variant == b.variant,
        ];
        for matches in same {
            for (w, (_, input, _)) in wanted.iter().enumerate() {
                if pairs[w].is_some() {
                    continue;
                }
                if let Some(j) = left.iter().position(|c| c.is_some_and(|c| matches(&c.1, input))) {
                    pairs[w] = left[j].take();
                }
            }
        }
        let key = |g: &GuardInput| format!("{}/{}/{}:{}", at.flag.key, at.env, g.metric, g.variant);
        let (flag, env) = (at.flag.key.clone(), at.env.to_owned());
        for ((path, input, draft), pair) in wanted.into_iter().zip(pairs) {
            let e = entry("guard", key(&input), pair.map(|(_, g)| g), Some(&input));
            match (e.op, pair) {
                (PlanOp::Create, _) => {
                    self.steps.push((path, ApplyStep::CreateGuard(flag.clone(), env.clone(), draft)));
                }
                (PlanOp::Update, Some((id, _))) => {
                    self.steps.push((path, ApplyStep::UpdateGuard(flag.clone(), env.clone(), *id, draft)));
                }
                _ => {}
            }
            self.entries.push(e);
        }
        for (id, input) in left.into_iter().flatten() {
            self.entries.push(entry::<GuardInput>("guard", key(input), Some(input), None));
            let path = format!("{}.guards", at.path);
            self.steps.push((path, ApplyStep::DeleteGuard(flag.clone(), env.clone(), *id)));
        }
    }
}
