//! Gradual rollout plans: what a plan is, how a draft is checked, and the split each step serves.
//!
//! A plan ramps one variant of a flag, in one environment, through increasing percentages, each held for a
//! while; the rest of the contexts get the control variant. Each step replaces the config's default with the
//! split `[{variant, weight}, {control, rest}]`, the ramped variant first: a context's bucket never moves, so
//! raising the first weight only adds contexts to the variant — whoever is in at 5% is still in at 25%.
//! The store keeps the plan and its history; [`crate::jobs::plan_scheduler`] advances running plans.

use std::time::Duration;

use pennon_engine::{BUCKETS, Flag, FlagKind, Problem, Split, Weight};
use serde::{Deserialize, Serialize};

/// The actor of every config change a plan makes, as `system:plan`.
pub const PLAN_ACTOR: &str = "plan";

/// One step: the share of contexts that get the ramped variant, and how long it is held before the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// 0 < percent ≤ 100, kept to three decimals (weights are in units of 1/100000).
    pub percent: f64,
    /// How long the step is held, in milliseconds; the last step has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<u64>,
}

impl Step {
    /// The ramped variant's weight at this step.
    pub fn weight(&self) -> u32 {
        weight(self.percent)
    }

    /// The hold as a duration.
    pub fn hold(&self) -> Option<Duration> {
        self.hold_ms.map(Duration::from_millis)
    }
}

/// What a plan ramps and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanSpec {
    /// The variant ramped up.
    pub variant: String,
    /// The variant everybody else gets.
    pub control: String,
    /// The context attribute hashed into a bucket.
    pub bucket_by: String,
    /// The steps, percentages increasing, the last at 100.
    pub steps: Vec<Step>,
}

impl PlanSpec {
    /// The default a step serves: the ramped variant first with `weight`, the control with the rest.
    pub fn split(&self, weight: u32) -> Split {
        ramp_split(&self.variant, &self.control, weight, &self.bucket_by)
    }
}

/// Where a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanState {
    /// Written, not started (or replaced after it ended).
    Pending,
    /// Steps advance as their holds pass.
    Running,
    /// Holding the current percentage; the hold's remainder is kept.
    Paused,
    /// Stopped by a breached guard; back at 0%.
    Halted,
    /// Stopped by a person; back at 0%.
    Aborted,
    /// Reached its last step.
    Completed,
}

impl PlanState {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanState::Pending => "pending",
            PlanState::Running => "running",
            PlanState::Paused => "paused",
            PlanState::Halted => "halted",
            PlanState::Aborted => "aborted",
            PlanState::Completed => "completed",
        }
    }

    /// From what is stored.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => PlanState::Pending,
            "running" => PlanState::Running,
            "paused" => PlanState::Paused,
            "halted" => PlanState::Halted,
            "aborted" => PlanState::Aborted,
            "completed" => PlanState::Completed,
            _ => return None,
        })
    }

    /// Running or paused: the plan holds the config's default, so it may be neither replaced nor deleted.
    pub fn in_progress(self) -> bool {
        matches!(self, PlanState::Running | PlanState::Paused)
    }
}

/// A percentage as a weight in units of 1/100000 (three decimals kept).
pub fn weight(percent: f64) -> u32 {
    ((percent * f64::from(BUCKETS) / 100.0).round().clamp(0.0, f64::from(BUCKETS))) as u32
}

/// A weight as a percentage.
pub fn percent(weight: u32) -> f64 {
    f64::from(weight) * 100.0 / f64::from(BUCKETS)
}

/// The split that gives `variant` the first `weight` buckets and `control` the rest. The ramped variant
/// comes first, so a larger weight later only adds contexts to it.
pub fn ramp_split(variant: &str, control: &str, weight: u32, bucket_by: &str) -> Split {
    let weight = weight.min(BUCKETS);
    Split {
        bucket_by: bucket_by.to_owned(),
        weights: vec![
            Weight { variant: variant.to_owned(), weight },
            Weight { variant: control.to_owned(), weight: BUCKETS - weight },
        ],
        bucketing: None,
    }
}

/// A plan as written by a person, not yet checked against the flag.
#[derive(Debug, Clone, Default)]
pub struct PlanDraft {
    /// The variant to ramp.
    pub variant: String,
    /// The control; for boolean flags, the other variant when left out.
    pub control: Option<String>,
    /// Default `key`.
    pub bucket_by: Option<String>,
    /// Percent and hold (`"10m"`, `"1h 30m"`) per step.
    pub steps: Vec<(f64, Option<String>)>,
}

impl PlanDraft {
    /// Checks the draft against the flag's definition, naming every field at fault.
    pub fn check(&self, flag: &Flag) -> Result<PlanSpec, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: &str| problems.push(Problem { path, message: message.to_owned() });
        let has = |key: &str| flag.variants.iter().any(|v| v.key == key);
        if !has(&self.variant) {
            problem("variant".into(), "names no variant of the flag");
        }
        let control = match (&self.control, flag.kind) {
            (Some(control), _) => control.clone(),
            (None, FlagKind::Boolean) => {
                flag.variants.iter().map(|v| v.key.clone()).find(|k| *k != self.variant).unwrap_or_default()
            }
            (None, _) => {
                problem("control".into(), "is required unless the flag is boolean");
                String::new()
            }
        };
        if self.control.is_some() {
            if !has(&control) {
                problem("control".into(), "names no variant of the flag");
            } else if control == self.variant {
                problem("control".into(), "must differ from the ramped variant");
            }
        }
        let bucket_by = self.bucket_by.clone().unwrap_or_else(|| "key".to_owned());
        if bucket_by.trim().is_empty() || bucket_by.len() > 256 {
            problem("bucket_by".into(), "must name a context attribute (1 to 256 characters)");
        }
        if self.steps.is_empty() {
            problem("steps".into(), "give at least one step; the last must be at 100 percent");
        }
        if self.steps.len() > 100 {
            problem("steps".into(), "at most 100 steps");
        }
        let mut steps = Vec::with_capacity(self.steps.len());
        let mut previous = 0;
        for (i, (percent, hold)) in self.steps.iter().enumerate() {
            let last = i + 1 == self.steps.len();
            let at = |field: &str| format!("steps[{i}].{field}");
            let w = weight(*percent);
            if !(percent.is_finite() && *percent > 0.0 && *percent <= 100.0) || w == 0 {
                problem(at("percent"), "must be above 0 and at most 100 (three decimals are kept)");
            } else if w <= previous {
                problem(at("percent"), "must be larger than the step before");
            } else if last && w != BUCKETS {
                problem(at("percent"), "the last step must be at 100 percent");
            }
            previous = previous.max(w);
            let hold_ms = match (hold, last) {
                (Some(_), true) => {
                    problem(at("hold"), "the last step is held for good; leave its hold out");
                    None
                }
                (None, true) => None,
                (None, false) => {
                    problem(at("hold"), "every step but the last needs a hold, e.g. \"10m\"");
                    None
                }
                (Some(text), false) => match humantime::parse_duration(text) {
                    Ok(d) if d >= Duration::from_millis(1) && d <= Duration::from_hours(366 * 24) => {
                        Some(d.as_millis() as u64)
                    }
                    Ok(_) => {
                        problem(at("hold"), "must be positive and at most a year");
                        None
                    }
                    Err(_) => {
                        problem(at("hold"), "must be a duration such as \"90s\", \"10m\" or \"1h 30m\"");
                        None
                    }
                },
            };
            steps.push(Step { percent: *percent, hold_ms });
        }
        if problems.is_empty() {
            Ok(PlanSpec { variant: self.variant.clone(), control, bucket_by, steps })
        } else {
            Err(problems)
        }
    }
}

/// A hold written back the way people write it (`"10m"`, `"1h 30m"`).
pub fn format_hold(ms: u64) -> String {
    humantime::format_duration(Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boolean() -> Flag {
        serde_json::from_value(serde_json::json!({
            "key": "f", "kind": "boolean", "salt": "s",
            "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }]
        }))
        .unwrap()
    }

    fn draft(steps: &[(f64, Option<&str>)]) -> PlanDraft {
        PlanDraft {
            variant: "on".into(),
            steps: steps.iter().map(|(p, h)| (*p, h.map(str::to_owned))).collect(),
            ..PlanDraft::default()
        }
    }

    #[test]
    fn a_good_draft_gets_defaults() {
        let spec = draft(&[(1.0, Some("10m")), (5.0, Some("30m")), (100.0, None)]).check(&boolean()).unwrap();
        assert_eq!(spec.control, "off");
        assert_eq!(spec.bucket_by, "key");
        assert_eq!(spec.steps[0].hold_ms, Some(600_000));
        assert_eq!(spec.steps[2].hold_ms, None);
    }

    #[test]
    fn every_fault_is_named() {
        let mut bad = draft(&[(5.0, Some("1m")), (5.0, Some("soon")), (0.0, None), (50.0, Some("1m"))]);
        bad.control = Some("on".into());
        let paths: Vec<String> = bad.check(&boolean()).unwrap_err().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "control",
                "steps[1].percent",
                "steps[1].hold",
                "steps[2].percent",
                "steps[2].hold",
                "steps[3].percent",
                "steps[3].hold"
            ]
        );
    }

    #[test]
    fn splits_put_the_ramped_variant_first() {
        let split = ramp_split("on", "off", weight(5.0), "key");
        assert_eq!(split.weights[0].variant, "on");
        assert_eq!(split.weights[0].weight, 5_000);
        assert_eq!(split.weights[1].weight, 95_000);
        assert!((percent(weight(12.345)) - 12.345).abs() < 1e-9);
    }
}
