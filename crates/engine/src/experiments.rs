//! # Experiment results: always-valid intervals and the sample-ratio check
//!
//! A flag that splits traffic between variants is an experiment; its results compare each variant's rate or
//! mean of a metric with the control variant's. People read results while data arrive, as often as they like,
//! so the interval is **always valid**: a confidence sequence that covers the true difference at every look
//! at once with probability `1 − alpha`, the two-sided normal mixture of Howard, Ramdas, McAuliffe and Sekhon,
//! "Time-uniform, nonparametric, nonasymptotic confidence sequences" (Annals of Statistics 49(2), 2021), also
//! the mixture SPRT of Johari, Pekelis and Walsh, "Always Valid Inference" (Operations Research 70(3), 2022).
//! It is the same mixture, tuned the same way, as the guards' one-sided test ([`crate::guards`]).
//!
//! With `θ̂ = x̄_T − x̄_C`, its variance `V = σ²_T/n_T + σ²_C/n_C`, `z = θ̂/√V` and `r = ρ²σ²/V`, where
//! `σ² = σ²_T + σ²_C` is the per-sample variance of the contrast and `ρ²` is
//! [`mixing_variance`](crate::guards::mixing_variance) at `alpha` and `tuning_samples`, the mixture's likelihood ratio
//! against `θ = 0` is `Λ = (1 + r)^(−1/2) · exp(z²·r / (2(1 + r)))`. The always-valid p-value is
//! `min(1, 1/Λ)`, and the interval is `θ̂ ± z*·√V` with `z*² = (1 + r)/r · (ln(1 + r) + 2 ln(1/α))`.
//! Rates use the variance `p̃(1 − p̃)` with `p̃ = (count + 1)/(n + 2)` as the guards do; means use the
//! sample variance and Welch's degrees of freedom (through Wallace's transformation, as the guards do).
//!
//! The **sample-ratio-mismatch** check compares the exposures each variant got with the split's weights by
//! Pearson's chi-square test (`k − 1` degrees of freedom). A mismatch means assignment or reporting is
//! broken, and no comparison of the variants can be trusted; a strict alpha (0.001 by default) keeps false
//! alarms rare on large samples.

use serde::Serialize;

use crate::guards::stats::{welch_df, z_to_t};
use crate::guards::{ArmStats, Statistic};

/// The default alpha of the sample-ratio-mismatch check.
pub const SRM_ALPHA: f64 = 0.001;

/// One variant compared with the control on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// Treatment minus control.
    pub difference: f64,
    /// The difference relative to the control's value (`None` when that is 0).
    pub relative: Option<f64>,
    /// The always-valid interval's lower end.
    pub lower: f64,
    /// Its upper end.
    pub upper: f64,
    /// The always-valid p-value of "no difference".
    pub p_value: f64,
    /// The standard error of the difference.
    pub standard_error: f64,
}

/// An arm's rate or mean with its samples and per-sample variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Exposures for a rate, tracked values for a mean.
    pub n: u64,
    /// The rate or mean.
    pub value: f64,
    /// The variance of one sample used for the interval.
    pub variance: f64,
}

/// An arm's rate or mean; `None` without samples (or with fewer than 2 values for a mean).
pub fn summarise(statistic: Statistic, arm: &ArmStats) -> Option<Summary> {
    match statistic {
        Statistic::Rate => {
            let n = arm.exposures;
            if n == 0 {
                return None;
            }
            let p = (arm.count as f64 + 1.0) / (n as f64 + 2.0);
            // Counted events (several per exposure) are Poisson, not binomial.
            let variance = if arm.count > arm.exposures { p } else { p * (1.0 - p) };
            Some(Summary { n, value: arm.count as f64 / n as f64, variance })
        }
        Statistic::Mean => {
            let n = arm.count;
            if n < 2 {
                return None;
            }
            let mean = arm.sum / n as f64;
            let variance = ((arm.sum_squares - arm.sum * mean) / (n - 1) as f64).max(0.0);
            Some(Summary { n, value: mean, variance })
        }
    }
}

/// `ln Λ` of the two-sided normal mixture at standardised distance `z`, with `r` the ratio of the mixing
/// variance to the estimate's variance.
pub fn ln_two_sided_ratio(z: f64, r: f64) -> f64 {
    -0.5 * r.ln_1p() + 0.5 * z * z * r / (1.0 + r)
}

/// The standardised half-width of the always-valid interval: `Λ(z*) = 1/α`.
pub fn two_sided_critical_z(alpha: f64, r: f64) -> f64 {
    if r <= 0.0 {
        return f64::INFINITY;
    }
    ((1.0 + r) / r * (r.ln_1p() - 2.0 * alpha.ln())).sqrt()
}

/// Compares the treatment arm with the control arm; `None` when either has too few samples.
///
/// ```
/// use pennon_engine::experiments::compare;
/// use pennon_engine::guards::{ArmStats, Statistic};
///
/// let arm = |exposures, events| ArmStats { exposures, count: events, sum: events as f64, sum_squares: events as f64 };
/// let c = compare(Statistic::Rate, &arm(10_000, 100), &arm(10_000, 150), 0.05, 10_000).unwrap();
/// assert!((c.difference - 0.005).abs() < 1e-12);
/// assert!(c.lower > 0.0 && c.upper > c.difference);
/// ```
pub fn compare(
    statistic: Statistic,
    control: &ArmStats,
    treatment: &ArmStats,
    alpha: f64,
    tuning_samples: u64,
) -> Option<Comparison> {
    let c = summarise(statistic, control)?;
    let t = summarise(statistic, treatment)?;
    let (vc, vt) = (c.variance / c.n as f64, t.variance / t.n as f64);
    let variance = vc + vt;
    let difference = t.value - c.value;
    let relative = (c.value != 0.0).then(|| difference / c.value);
    let unit = c.variance + t.variance;
    if !(variance > 0.0 && unit > 0.0) {
        // No variation at all: the difference is exact.
        let p_value = if difference == 0.0 { 1.0 } else { 0.0 };
        return Some(Comparison {
            difference,
            relative,
            lower: difference,
            upper: difference,
            p_value,
            standard_error: 0.0,
        });
    }
    let se = variance.sqrt();
    let r = crate::guards::mixing_variance(alpha, tuning_samples) * unit / variance;
    let df = match statistic {
        Statistic::Rate => f64::INFINITY,
        Statistic::Mean => welch_df(vt, t.n, vc, c.n),
    };
    let critical = z_to_t(two_sided_critical_z(alpha, r), df);
    let z = crate::guards::stats::t_to_z(difference / se, df);
    let p_value = (-ln_two_sided_ratio(z, r)).exp().min(1.0);
    Some(Comparison {
        difference,
        relative,
        lower: difference - critical * se,
        upper: difference + critical * se,
        p_value,
        standard_error: se,
    })
}

/// The outcome of the sample-ratio-mismatch check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SampleRatio {
    /// Pearson's chi-square statistic.
    pub chi_square: f64,
    /// Its degrees of freedom: variants with weight, minus one.
    pub degrees_of_freedom: u32,
    /// The probability of a deviation at least this large when assignment works.
    pub p_value: f64,
    /// The alpha it was checked at.
    pub alpha: f64,
    /// Whether the observed split deviates from the weights (`p_value < alpha`).
    pub mismatch: bool,
}

/// Checks observed exposures per variant against the weights they were assigned with (any positive scale;
/// variants of weight 0 are left out). `None` without exposures or with fewer than two weighted variants.
///
/// ```
/// use pennon_engine::experiments::{SRM_ALPHA, sample_ratio};
///
/// assert!(sample_ratio(&[(52_000, 1.0), (48_000, 1.0)], SRM_ALPHA).unwrap().mismatch);
/// assert!(!sample_ratio(&[(50_200, 1.0), (49_800, 1.0)], SRM_ALPHA).unwrap().mismatch);
/// ```
pub fn sample_ratio(observed_and_weights: &[(u64, f64)], alpha: f64) -> Option<SampleRatio> {
    let weighted: Vec<(f64, f64)> =
        observed_and_weights.iter().filter(|(_, w)| *w > 0.0).map(|&(o, w)| (o as f64, w)).collect();
    let total: f64 = weighted.iter().map(|(o, _)| o).sum();
    let weights: f64 = weighted.iter().map(|(_, w)| w).sum();
    if weighted.len() < 2 || total <= 0.0 {
        return None;
    }
    let chi_square: f64 = weighted
        .iter()
        .map(|&(o, w)| {
            let expected = total * w / weights;
            (o - expected) * (o - expected) / expected
        })
        .sum();
    let df = u32::try_from(weighted.len() - 1).unwrap_or(u32::MAX);
    let p_value = chi_square_sf(chi_square, df);
    Some(SampleRatio { chi_square, degrees_of_freedom: df, p_value, alpha, mismatch: p_value < alpha })
}

/// The upper tail of the chi-square distribution: `Q(k/2, x/2)`, the regularised upper incomplete gamma
/// function, by its series below `a + 1` and Lentz's continued fraction above (Press et al., "Numerical
/// Recipes", 3rd ed., §6.2).
pub fn chi_square_sf(chi_square: f64, df: u32) -> f64 {
    if chi_square <= 0.0 {
        return 1.0;
    }
    let shape = f64::from(df) / 2.0;
    let half = chi_square / 2.0;
    let ln_prefix = shape * half.ln() - half - ln_gamma(shape);
    if half < shape + 1.0 {
        let (mut term, mut sum, mut denominator) = (1.0 / shape, 1.0 / shape, shape);
        for _ in 0..1_000 {
            denominator += 1.0;
            term *= half / denominator;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * ln_prefix.exp()).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut base = half + 1.0 - shape;
        let mut upper = 1.0 / tiny;
        let mut lower = 1.0 / base;
        let mut fraction = lower;
        for i in 1..1_000 {
            let coefficient = -f64::from(i) * (f64::from(i) - shape);
            base += 2.0;
            lower = coefficient * lower + base;
            if lower.abs() < tiny {
                lower = tiny;
            }
            upper = base + coefficient / upper;
            if upper.abs() < tiny {
                upper = tiny;
            }
            lower = 1.0 / lower;
            let step = lower * upper;
            fraction *= step;
            if (step - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (ln_prefix.exp() * fraction).clamp(0.0, 1.0)
    }
}

/// `ln Γ(x)` for `x > 0`, by Lanczos' approximation (g = 7, 9 terms), accurate to about 1e-15.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn chi_square_tails_match_tables() {
        // Table values: χ²₁ = 3.841 459 at 0.05, 10.827 566 at 0.001; χ²₃ = 7.814 728 at 0.05; χ²₁₀ = 18.307 038 at 0.05.
        assert!(close(chi_square_sf(3.841_458_820_694_124, 1), 0.05, 1e-9));
        assert!(close(chi_square_sf(10.827_566_170_662_733, 1), 0.001, 1e-8));
        assert!(close(chi_square_sf(7.814_727_903_251_178, 3), 0.05, 1e-9));
        assert!(close(chi_square_sf(18.307_038_053_275_146, 10), 0.05, 1e-9));
        // χ²₁ tail = erfc(√(x/2)).
        assert!(close(chi_square_sf(1.6, 1), 0.205_903_210_732_068_3, 1e-9));
        assert!(chi_square_sf(160.0, 1) < 1e-30);
        assert!(close(ln_gamma(5.0), 24.0_f64.ln(), 1e-14));
        assert!(close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-13));
    }

    #[test]
    fn the_interval_is_where_the_mixture_reaches_one_over_alpha() {
        for r in [0.1, 1.0, 8.0, 100.0] {
            let z = two_sided_critical_z(0.05, r);
            assert!((ln_two_sided_ratio(z, r) - 20.0_f64.ln()).abs() < 1e-12);
        }
    }
}
