//! The one-sided normal-mixture sequential test: its likelihood ratio, always-valid p-value and critical
//! value. See the module docs of [`crate::guards`] for the derivation.

use std::f64::consts::LN_2;

use super::stats::{ln_normal_cdf, ln_normal_cdf_and_hazard};

/// The mixing variance, per observation and in units of the per-observation variance, that makes the
/// two-sided normal-mixture boundary tightest after `tuning_samples` observations at level `alpha`:
/// `ρ² = (−2 ln α + ln(1 − 2 ln α)) / N` (Howard, Ramdas, McAuliffe, Sekhon 2021).
pub fn mixing_variance(alpha: f64, tuning_samples: u64) -> f64 {
    let l = -2.0 * alpha.ln();
    (l + l.ln_1p()) / tuning_samples.max(1) as f64
}

/// `ln Λ` of the half-normal mixture at standardised distance `z` past the null boundary, where `r` is
/// the ratio of the mixing variance to the estimate's variance (it grows linearly with the sample size):
/// `Λ = 2/sqrt(1+r) · exp(z²·r / (2(1+r))) · Φ(z·sqrt(r/(1+r)))`.
pub fn ln_likelihood_ratio(z: f64, r: f64) -> f64 {
    let k = r / (1.0 + r);
    LN_2 - 0.5 * r.ln_1p() + 0.5 * z * z * k + ln_normal_cdf(z * k.sqrt())
}

/// The always-valid p-value `min(1, 1/Λ)`.
pub fn p_value(z: f64, r: f64) -> f64 {
    (-ln_likelihood_ratio(z, r)).exp().min(1.0)
}

/// The `z` at which `Λ = 1/α`: the test rejects exactly when the standardised distance is above it.
///
/// `ln Λ` is increasing and convex in `z` (its second derivative is `k·(1 + (ln Φ)'')`, and
/// `(ln Φ)'' > −1`), so from any start Newton's first step lands at or right of the root, and the steps
/// after it descend monotonically onto it. The start is the two-sided mixture's boundary at `2α`, which
/// is where the half-normal boundary tends as `Φ(z·√k)` tends to 1: three steps are typical.
pub fn critical_z(alpha: f64, r: f64) -> f64 {
    let target = -alpha.ln();
    let k = r / (1.0 + r);
    if k <= 0.0 {
        return f64::INFINITY;
    }
    let sqrt_k = k.sqrt();
    let constant = LN_2 - 0.5 * r.ln_1p() - target;
    let mut z = ((2.0 * (target - LN_2) + r.ln_1p()).max(0.0) / k).sqrt();
    for _ in 0..100 {
        let (ln_cdf, hazard) = ln_normal_cdf_and_hazard(z * sqrt_k);
        let excess = constant + 0.5 * z * z * k + ln_cdf;
        let step = excess / (z * k + sqrt_k * hazard);
        z -= step;
        if step.abs() <= 1e-11 * z.abs().max(1.0) {
            break;
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guards::stats::normal_cdf;

    /// `Λ` by numerical integration of the likelihood ratio `exp(δz·√I − δ²I/2)` against the half-normal
    /// mixing density, with information `I = 1` so that `r` is the mixing variance.
    fn integrated_ratio(z: f64, r: f64) -> f64 {
        let steps = 200_000;
        let tau = r.sqrt();
        let upper = 12.0 * tau + 2.0 * z.abs() + 10.0;
        let h = upper / f64::from(steps);
        let mut total = 0.0;
        for i in 0..steps {
            let d = (f64::from(i) + 0.5) * h;
            let density = 2.0 * (-0.5 * d * d / r).exp() / (2.0 * std::f64::consts::PI * r).sqrt();
            total += (d * z - 0.5 * d * d).exp() * density * h;
        }
        total
    }

    #[test]
    fn closed_form_matches_the_mixture_integral() {
        for (z, r) in [(0.0, 1.0), (1.5, 0.3), (2.5, 4.0), (3.5, 25.0), (-1.0, 2.0)] {
            let closed = ln_likelihood_ratio(z, r).exp();
            let integral = integrated_ratio(z, r);
            assert!((closed / integral - 1.0).abs() < 1e-6, "z = {z}, r = {r}: {closed} vs {integral}");
        }
    }

    #[test]
    fn no_evidence_gives_no_rejection() {
        // At z = 0 the half-normal mixture is sqrt(1/(1+r)) < 1; with no information it is exactly 1.
        assert!((ln_likelihood_ratio(0.0, 0.0)).abs() < 1e-15);
        assert!(p_value(0.0, 3.0).to_bits() == 1.0_f64.to_bits());
        assert!(p_value(-4.0, 100.0).to_bits() == 1.0_f64.to_bits());
        assert!(critical_z(0.05, 0.0).is_infinite());
    }

    #[test]
    fn critical_value_solves_the_boundary_and_exceeds_the_fixed_horizon_one() {
        let fixed = 1.644_853_626_951_472_2;
        for alpha in [0.01, 0.05, 0.1] {
            for n in [10_u64, 100, 1_000, 10_000, 1_000_000] {
                let r = mixing_variance(alpha, 10_000) * n as f64;
                let z = critical_z(alpha, r);
                let at = ln_likelihood_ratio(z, r);
                assert!((at + alpha.ln()).abs() < 1e-9, "α = {alpha}, n = {n}: ln Λ(z*) = {at}");
                assert!(z > fixed);
                assert!((p_value(z, r) - alpha).abs() < 1e-9 * alpha);
                assert!(p_value(z * 1.001, r) < alpha && p_value(z * 0.999, r) > alpha);
            }
        }
        // Near the tuning size the always-valid boundary at α = 0.05 is about 2.6 standard errors.
        let r = mixing_variance(0.05, 10_000) * 10_000.0;
        let z = critical_z(0.05, r);
        assert!((2.5..2.8).contains(&z), "{z}");
        assert!(normal_cdf(z) > 0.99);
    }
}
