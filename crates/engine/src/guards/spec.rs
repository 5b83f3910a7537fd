//! What a guard watches and when it trips: the stored, validated part of a guard.

use serde::{Deserialize, Serialize};

use crate::validate::{MAX_KEY_LEN, Problem};

/// The default significance level.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// The default number of samples each compared arm needs before any verdict.
pub const DEFAULT_MIN_SAMPLES: u64 = 100;
/// The default sample size per arm at which the sequential test is sharpest.
pub const DEFAULT_TUNING_SAMPLES: u64 = 10_000;

/// A metric guard's statistical definition.
///
/// ```
/// use pennon_engine::guards::{Direction, GuardSpec, Statistic, Threshold};
///
/// let spec: GuardSpec = serde_json::from_str(r#"{
///   "metric": "checkout_error", "statistic": "rate", "direction": "higher_is_worse",
///   "threshold": { "relative": 0.1 }, "min_samples": 500
/// }"#).unwrap();
/// assert_eq!(spec.statistic, Statistic::Rate);
/// assert_eq!(spec.direction, Direction::HigherIsWorse);
/// assert_eq!(spec.threshold, Threshold::Relative(0.1));
/// assert_eq!(spec.alpha, 0.05);
/// assert!(spec.validate().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardSpec {
    /// The tracked metric's name, as the SDK's `track()` reports it.
    pub metric: String,
    /// What is compared: events per exposure, or the average tracked value.
    pub statistic: Statistic,
    /// Which way is bad.
    pub direction: Direction,
    /// How bad is too bad.
    pub threshold: Threshold,
    /// Samples each compared arm needs before the guard says anything: exposures for a rate, tracked
    /// values for a mean. An absolute threshold needs them in the treatment only.
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// The significance level: the probability, over the whole life of the guard and however often it is
    /// checked, of tripping when the treatment is in fact within the threshold.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// The sample size per arm at which the sequential test is sharpest. Smaller values react sooner to
    /// large regressions; larger values detect small ones with fewer samples once that many have arrived.
    #[serde(default = "default_tuning_samples")]
    pub tuning_samples: u64,
}

fn default_min_samples() -> u64 {
    DEFAULT_MIN_SAMPLES
}

fn default_alpha() -> f64 {
    DEFAULT_ALPHA
}

fn default_tuning_samples() -> u64 {
    DEFAULT_TUNING_SAMPLES
}

/// What a guard compares between the arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// Tracked events per exposure (an error rate, a conversion rate).
    Rate,
    /// The average tracked value (a latency, an order value).
    Mean,
}

/// Which way of the metric is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More is worse: errors, latency.
    HigherIsWorse,
    /// Less is worse: conversions, successful checkouts.
    LowerIsWorse,
}

impl Direction {
    /// `+1` when higher is worse, `−1` when lower is: multiplying a difference by it makes "worse" positive.
    pub fn sign(self) -> f64 {
        match self {
            Direction::HigherIsWorse => 1.0,
            Direction::LowerIsWorse => -1.0,
        }
    }
}

/// When the treatment is too bad. JSON: `{"absolute": 0.02}` or `{"relative": 0.1}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// The treatment's rate or mean must not pass this value (above it when higher is worse, below it when
    /// lower is worse). The control arm plays no part.
    Absolute(f64),
    /// The treatment must not be worse than the control by more than this fraction of the control's value:
    /// `0.1` trips when the treatment is more than 10% above the control (higher is worse) or more than
    /// 10% below it (lower is worse). `0` trips on any significant difference in the bad direction.
    Relative(f64),
}

impl GuardSpec {
    /// Every problem with the spec, each located by its field name; empty when it can be evaluated.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: &str, message: &str| {
            problems.push(Problem { path: path.to_owned(), message: message.to_owned() });
        };
        if self.metric.is_empty() || self.metric.len() > MAX_KEY_LEN || self.metric.chars().any(char::is_control) {
            problem("metric", "must be 1 to 128 bytes without control characters");
        }
        let least = match self.statistic {
            Statistic::Rate => 1,
            Statistic::Mean => 2,
        };
        if self.min_samples < least {
            problem("min_samples", &format!("must be at least {least}"));
        }
        if !(self.alpha > 0.0 && self.alpha <= 0.5) {
            problem("alpha", "must be above 0 and at most 0.5");
        }
        if self.tuning_samples == 0 {
            problem("tuning_samples", "must be at least 1");
        }
        match self.threshold {
            Threshold::Absolute(v) if !v.is_finite() => problem("threshold.absolute", "must be a finite number"),
            Threshold::Absolute(v) if self.statistic == Statistic::Rate && v < 0.0 => {
                problem("threshold.absolute", "a rate threshold must not be negative");
            }
            Threshold::Relative(m) if !(m.is_finite() && m >= 0.0) => {
                problem("threshold.relative", "must be a fraction of the control's value, 0 or more");
            }
            Threshold::Relative(m) if self.direction == Direction::LowerIsWorse && m >= 1.0 => {
                problem("threshold.relative", "must be below 1 when lower is worse");
            }
            Threshold::Absolute(_) | Threshold::Relative(_) => {}
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> GuardSpec {
        serde_json::from_str(json).expect("a guard spec")
    }

    #[test]
    fn reads_and_writes_snake_case_json() {
        let s = spec(
            r#"{"metric": "latency_ms", "statistic": "mean", "direction": "lower_is_worse",
                "threshold": {"absolute": 250}, "min_samples": 30, "alpha": 0.01, "tuning_samples": 2000}"#,
        );
        assert_eq!(s.statistic, Statistic::Mean);
        assert_eq!(s.direction, Direction::LowerIsWorse);
        assert_eq!(s.threshold, Threshold::Absolute(250.0));
        assert_eq!((s.min_samples, s.alpha, s.tuning_samples), (30, 0.01, 2000));
        let back = serde_json::to_value(&s).expect("serialises");
        assert_eq!(back["threshold"], serde_json::json!({"absolute": 250.0}));
        assert_eq!(back["direction"], "lower_is_worse");
        assert_eq!(spec(&back.to_string()), s);
    }

    #[test]
    fn defaults_apply() {
        let s = spec(
            r#"{"metric": "e", "statistic": "rate", "direction": "higher_is_worse", "threshold": {"relative": 0}}"#,
        );
        assert_eq!((s.min_samples, s.alpha, s.tuning_samples), (100, 0.05, 10_000));
        assert!(s.validate().is_empty());
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut s = spec(
            r#"{"metric": "", "statistic": "mean", "direction": "lower_is_worse", "threshold": {"relative": 1.5}}"#,
        );
        s.min_samples = 1;
        s.alpha = 0.0;
        s.tuning_samples = 0;
        let paths: Vec<String> = s.validate().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["metric", "min_samples", "alpha", "tuning_samples", "threshold.relative"]);

        s = spec(
            r#"{"metric": "e", "statistic": "rate", "direction": "higher_is_worse", "threshold": {"absolute": -0.1}}"#,
        );
        assert_eq!(s.validate()[0].path, "threshold.absolute");
        s.threshold = Threshold::Relative(f64::NAN);
        assert_eq!(s.validate()[0].path, "threshold.relative");
        s.threshold = Threshold::Relative(3.0);
        assert!(s.validate().is_empty(), "three times the control is a valid limit when higher is worse");
        assert!(serde_json::from_str::<GuardSpec>(r#"{"metric": "e", "statistic": "median"}"#).is_err());
    }
}
