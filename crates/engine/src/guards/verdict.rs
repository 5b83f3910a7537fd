//! What goes into a guard check and what comes out: cumulative arm statistics, the verdict and its evidence.

use serde::{Deserialize, Serialize};

use super::spec::Threshold;

/// One arm's cumulative data since the guard started: the variant's exposures and the metric's tracked
/// values (their count, sum and sum of squares), as the server adds up the SDKs' batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmStats {
    /// Evaluations that served the variant.
    pub exposures: u64,
    /// Tracked values of the metric.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The sum of their squares.
    pub sum_squares: f64,
}

impl ArmStats {
    /// Adds one tracked value.
    pub fn track(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.sum_squares += value * value;
    }

    /// Adds another batch of the same arm.
    #[must_use]
    pub fn merged(self, other: ArmStats) -> ArmStats {
        ArmStats {
            exposures: self.exposures + other.exposures,
            count: self.count + other.count,
            sum: self.sum + other.sum,
            sum_squares: self.sum_squares + other.sum_squares,
        }
    }
}

/// A guard's state after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardState {
    /// Too few samples (or unusable data) to say anything yet.
    InsufficientData,
    /// No significant evidence that the treatment is past the threshold.
    Healthy,
    /// Significant evidence, valid however often the guard has been checked, that the treatment is past it.
    Breached,
}

/// The outcome of one check: the state, and the numbers behind it for the audit log and the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardVerdict {
    /// Healthy, breached, or not enough data yet.
    pub state: GuardState,
    /// The numbers behind the state.
    pub evidence: Evidence,
}

/// The numbers behind a verdict. Differences are signed so that positive is worse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The control arm.
    pub control: ArmEvidence,
    /// The treatment arm.
    pub treatment: ArmEvidence,
    /// The spec's threshold.
    pub threshold: Threshold,
    /// The value the treatment must not pass: the absolute threshold, or the control's value times
    /// `1 ± margin`. `None` without enough data.
    pub limit: Option<f64>,
    /// How far the treatment's value is past the limit in the bad direction (negative: on the good side).
    pub excess: Option<f64>,
    /// The standard error of `excess`.
    pub standard_error: Option<f64>,
    /// An always-valid lower confidence bound, at level `1 − alpha`, on how far the treatment's true
    /// value is past the limit. The guard is breached exactly when it is above zero. `None` when no test
    /// was run, or when the bound is unbounded (a handful of samples with a few degrees of freedom).
    pub bound: Option<f64>,
    /// `treatment / control − 1`, when both values exist and the control's is not zero.
    pub relative_change: Option<f64>,
    /// The test statistic: `excess / standard_error` (z for rates, Welch's t for means). `None` when no
    /// test was run or the standard error is zero.
    pub statistic: Option<TestStatistic>,
    /// The always-valid p-value for "the treatment is past the limit". `None` when no test was run.
    pub p_value: Option<f64>,
    /// The spec's significance level.
    pub alpha: f64,
    /// The spec's minimum samples per arm.
    pub min_samples: u64,
}

/// One arm's part of the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArmEvidence {
    /// Samples: exposures for a rate, tracked values for a mean.
    pub n: u64,
    /// The rate (events per exposure) or mean, `None` without samples.
    pub value: Option<f64>,
    /// The standard deviation of one sample that the test used, `None` without enough samples.
    pub std_dev: Option<f64>,
}

/// A test statistic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestStatistic {
    /// Which distribution it is referred to.
    pub kind: StatisticKind,
    /// Its value: standard errors past the limit.
    pub value: f64,
    /// Welch–Satterthwaite degrees of freedom, for `t`.
    pub df: Option<f64>,
}

/// The reference distribution of a test statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatisticKind {
    /// Standard normal: the two-proportion (or one-proportion) z statistic for rates.
    Z,
    /// Student's t: Welch's statistic for means.
    T,
}
