//! One guard check: summarise both arms, form the contrast, run the sequential test.

use super::sequential::{critical_z, mixing_variance, p_value};
use super::spec::{GuardSpec, Statistic, Threshold};
use super::stats::{t_to_z, welch_df, z_to_t};
use super::verdict::{ArmEvidence, ArmStats, Evidence, GuardState, GuardVerdict, StatisticKind, TestStatistic};

/// Checks a guard against the cumulative statistics of the control and the treatment arms.
///
/// A pure function of its inputs: call it again with the grown totals at every check. See the
/// [module docs](crate::guards) for the test, its guarantee and its assumptions.
///
/// ```
/// use pennon_engine::guards::{ArmStats, GuardSpec, GuardState, evaluate_guard};
///
/// let spec: GuardSpec = serde_json::from_str(r#"{"metric": "checkout_error", "statistic": "rate",
///     "direction": "higher_is_worse", "threshold": {"relative": 0.1}}"#).unwrap();
/// let errors = |exposures, events| ArmStats {
///     exposures, count: events, sum: events as f64, sum_squares: events as f64,
/// };
/// let verdict = evaluate_guard(&spec, &errors(10_000, 100), &errors(10_000, 210));
/// assert_eq!(verdict.state, GuardState::Breached);
/// assert!(verdict.evidence.p_value.unwrap() <= 0.05);
/// assert!(verdict.evidence.bound.unwrap() > 0.0);
///
/// let verdict = evaluate_guard(&spec, &errors(10_000, 100), &errors(10_000, 104));
/// assert_eq!(verdict.state, GuardState::Healthy);
/// assert_eq!(evaluate_guard(&spec, &errors(50, 0), &errors(50, 1)).state, GuardState::InsufficientData);
/// ```
pub fn evaluate_guard(spec: &GuardSpec, control: &ArmStats, treatment: &ArmStats) -> GuardVerdict {
    let counted = spec.statistic == Statistic::Rate
        && (control.count > control.exposures || treatment.count > treatment.exposures);
    let c = Arm::summarise(spec.statistic, counted, control);
    let t = Arm::summarise(spec.statistic, counted, treatment);
    let mut evidence = Evidence {
        control: c.evidence(),
        treatment: t.evidence(),
        threshold: spec.threshold,
        limit: None,
        excess: None,
        standard_error: None,
        bound: None,
        relative_change: None,
        statistic: None,
        p_value: None,
        alpha: spec.alpha,
        min_samples: spec.min_samples,
    };
    if let (Some(cv), Some(tv)) = (c.value, t.value) {
        evidence.relative_change = (cv != 0.0).then(|| tv / cv - 1.0);
    }
    let least = match spec.statistic {
        Statistic::Rate => 1,
        Statistic::Mean => 2,
    };
    let needed = spec.min_samples.max(least);
    let enough = t.n >= needed && (matches!(spec.threshold, Threshold::Absolute(_)) || c.n >= needed);
    let contrast = match Contrast::of(spec, &c, &t) {
        Some(k) if enough && k.is_finite() && spec.alpha > 0.0 && spec.alpha < 1.0 => k,
        _ => return GuardVerdict { state: GuardState::InsufficientData, evidence },
    };
    evidence.limit = Some(contrast.limit);
    evidence.excess = Some(contrast.excess);
    let variance = contrast.treatment_variance + contrast.control_variance;
    let se = variance.sqrt();
    evidence.standard_error = Some(se);
    let p = if variance > 0.0 && contrast.unit_variance > 0.0 {
        let statistic = contrast.excess / se;
        let df = match spec.statistic {
            Statistic::Rate => f64::INFINITY,
            Statistic::Mean => welch_df(contrast.treatment_variance, t.n, contrast.control_variance, c.n),
        };
        let r = mixing_variance(spec.alpha, spec.tuning_samples) * contrast.unit_variance / variance;
        let critical = z_to_t(critical_z(spec.alpha, r), df);
        evidence.bound = Some(contrast.excess - critical * se).filter(|b| b.is_finite());
        evidence.statistic = Some(TestStatistic {
            kind: if df.is_finite() { StatisticKind::T } else { StatisticKind::Z },
            value: statistic,
            df: df.is_finite().then_some(df),
        });
        p_value(t_to_z(statistic, df), r)
    } else {
        // No variation at all in the data: the estimate is exact.
        evidence.bound = Some(contrast.excess);
        if contrast.excess > 0.0 { 0.0 } else { 1.0 }
    };
    evidence.p_value = Some(p);
    let state = if p <= spec.alpha { GuardState::Breached } else { GuardState::Healthy };
    GuardVerdict { state, evidence }
}

/// One arm, summarised for the statistic.
struct Arm {
    /// Exposures for a rate, tracked values for a mean.
    n: u64,
    /// The rate or mean, when `n > 0`.
    value: Option<f64>,
    /// The variance of one sample used by the test, when it can be estimated.
    variance: Option<f64>,
}

impl Arm {
    fn summarise(statistic: Statistic, counted: bool, arm: &ArmStats) -> Arm {
        match statistic {
            Statistic::Rate => {
                let n = arm.exposures;
                let value = (n > 0).then(|| arm.count as f64 / n as f64);
                // One event and one non-event more, for the variance only: an arm without events yet does
                // not claim to have no variance.
                let p = (arm.count as f64 + 1.0) / (n as f64 + 2.0);
                let variance = if counted { p } else { p * (1.0 - p) };
                Arm { n, value, variance: (n > 0).then_some(variance) }
            }
            Statistic::Mean => {
                let n = arm.count;
                let value = (n > 0).then(|| arm.sum / n as f64);
                let variance =
                    value.filter(|_| n > 1).map(|mean| ((arm.sum_squares - arm.sum * mean) / (n - 1) as f64).max(0.0));
                Arm { n, value, variance }
            }
        }
    }

    fn evidence(&self) -> ArmEvidence {
        ArmEvidence { n: self.n, value: self.value, std_dev: self.variance.map(f64::sqrt) }
    }
}

/// The tested contrast: `excess = s·(treatment − limit)`, positive when worse, with its variance in parts.
struct Contrast {
    limit: f64,
    excess: f64,
    /// Variance of the treatment's term of `excess`.
    treatment_variance: f64,
    /// Variance of the control's term (zero for an absolute threshold).
    control_variance: f64,
    /// The per-sample variance of the contrast: what `treatment_variance + control_variance` would be with
    /// one sample per arm. Sets the scale of the mixing distribution.
    unit_variance: f64,
}

impl Contrast {
    fn of(spec: &GuardSpec, c: &Arm, t: &Arm) -> Option<Contrast> {
        let s = spec.direction.sign();
        let (tv, tvar) = (t.value?, t.variance?);
        let tn = t.n as f64;
        Some(match spec.threshold {
            Threshold::Absolute(limit) => Contrast {
                limit,
                excess: s * (tv - limit),
                treatment_variance: tvar / tn,
                control_variance: 0.0,
                unit_variance: tvar,
            },
            Threshold::Relative(margin) => {
                let (cv, cvar) = (c.value?, c.variance?);
                let f = 1.0 + s * margin;
                let limit = f * cv;
                Contrast {
                    limit,
                    excess: s * (tv - limit),
                    treatment_variance: tvar / tn,
                    control_variance: f * f * cvar / c.n as f64,
                    unit_variance: tvar + f * f * cvar,
                }
            }
        })
    }

    fn is_finite(&self) -> bool {
        [self.limit, self.excess, self.treatment_variance, self.control_variance, self.unit_variance]
            .iter()
            .all(|v| v.is_finite())
    }
}
