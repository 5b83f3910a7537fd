//! Distribution functions the guards need: the standard normal, Student's t through Wallace's normalising
//! transformation, and the Welch–Satterthwaite degrees of freedom.

/// `ln(sqrt(2π))`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Below this, the upper tail comes from Hart's rational approximation; above, from Laplace's continued
/// fraction.
const CONTINUED_FRACTION_FROM: f64 = 3.0;

/// Terms of the continued fraction: enough for full double precision from 3 upwards.
const CONTINUED_FRACTION_DEPTH: u32 = 60;

/// `1/sqrt(2π)`.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// The standard normal density.
pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() * INV_SQRT_2PI
}

/// `Φ(x)`, the standard normal distribution function, to about 1e-14 (relative in both tails).
pub fn normal_cdf(x: f64) -> f64 {
    if x < 0.0 { normal_sf(-x) } else { 1.0 - normal_sf(x) }
}

/// `1 − Φ(x)`, the upper tail, accurate relative to its own size far into the tail.
pub fn normal_sf(x: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if x < 0.0 {
        1.0 - normal_sf(-x)
    } else {
        upper_tail_and_density(x).0
    }
}

/// `(1 − Φ(x), φ(x))` for `x ≥ 0`.
fn upper_tail_and_density(x: f64) -> (f64, f64) {
    let pdf = normal_pdf(x);
    let tail = if x < CONTINUED_FRACTION_FROM { pdf * hart_ratio(x) } else { pdf * mills_ratio(x) };
    (tail, pdf)
}

/// `ln Φ(x)`, without underflow far in the lower tail.
pub fn ln_normal_cdf(x: f64) -> f64 {
    if x >= 0.0 {
        (-normal_sf(x)).ln_1p()
    } else if -x < CONTINUED_FRACTION_FROM {
        normal_sf(-x).ln()
    } else {
        -0.5 * x * x - LN_SQRT_2PI + mills_ratio(-x).ln()
    }
}

/// `(ln Φ(x), φ(x)/Φ(x))` at the cost of one evaluation of the tail.
pub fn ln_normal_cdf_and_hazard(x: f64) -> (f64, f64) {
    if x >= 0.0 {
        let (tail, pdf) = upper_tail_and_density(x);
        ((-tail).ln_1p(), pdf / (1.0 - tail))
    } else {
        (ln_normal_cdf(x), normal_hazard_of_cdf(x))
    }
}

/// `(1 − Φ(a)) / φ(a)` for `0 ≤ a < 3` (the tail's relative error stays below 2e-14 there): the
/// rational approximation of Hart et al., "Computer Approximations" (1968), algorithm 5666, in the form
/// given by West, "Better approximations to cumulative normal functions" (Wilmott Magazine, 2005).
fn hart_ratio(a: f64) -> f64 {
    let p = 3.526_249_659_989_11e-2 * a + 0.700_383_064_443_688;
    let p = p * a + 6.373_962_203_531_65;
    let p = p * a + 33.912_866_078_383;
    let p = p * a + 112.079_291_497_871;
    let p = p * a + 221.213_596_169_931;
    let p = p * a + 220.206_867_912_376;
    let q = 8.838_834_764_831_84e-2 * a + 1.755_667_163_182_64;
    let q = q * a + 16.064_177_579_207;
    let q = q * a + 86.780_732_202_946_1;
    let q = q * a + 296.564_248_779_674;
    let q = q * a + 637.333_633_378_831;
    let q = q * a + 793.826_512_519_948;
    let q = q * a + 440.413_735_824_752;
    // Hart's ratio gives the tail itself as exp(−a²/2)·p/q; divide out the density's 1/sqrt(2π).
    p / q / INV_SQRT_2PI
}

/// `(1 − Φ(x)) / φ(x) = 1/(x + 1/(x + 2/(x + 3/(x + …))))` for `x ≥ 3`, evaluated from the bottom up.
fn mills_ratio(x: f64) -> f64 {
    let mut t = x;
    for k in (1..=CONTINUED_FRACTION_DEPTH).rev() {
        t = x + f64::from(k) / t;
    }
    1.0 / t
}

/// `φ(x)/Φ(x)`, the inverse Mills ratio, stable for any `x`.
pub fn normal_hazard_of_cdf(x: f64) -> f64 {
    if x < -CONTINUED_FRACTION_FROM { 1.0 / mills_ratio(-x) } else { normal_pdf(x) / normal_cdf(x) }
}

/// The normal deviate with (approximately) the same tail probability as Student's `t` with `df` degrees of
/// freedom: `z = sign(t)·(8ν+1)/(8ν+3)·sqrt(ν·ln(1 + t²/ν))` (Wallace, "Bounds on normal approximations to
/// Student's and the chi-square distributions", Annals of Mathematical Statistics 30(4), 1959). Its tail
/// probabilities are within 1.2% (relative) of the exact ones for ν ≥ 30 and 11% for ν ≥ 10, down to 1e-6.
/// An infinite `df` returns `t` itself.
pub fn t_to_z(t: f64, df: f64) -> f64 {
    if df.is_infinite() {
        return t;
    }
    let c = (8.0 * df + 1.0) / (8.0 * df + 3.0);
    (c * (df * (t * t / df).ln_1p()).sqrt()).copysign(t)
}

/// The inverse of [`t_to_z`]: the Student `t` value whose normal equivalent is `z`.
pub fn z_to_t(z: f64, df: f64) -> f64 {
    if df.is_infinite() {
        return z;
    }
    let w = z * (8.0 * df + 3.0) / (8.0 * df + 1.0);
    (df * (w * w / df).exp_m1()).sqrt().copysign(z)
}

/// Welch–Satterthwaite degrees of freedom of `a + b`, where `a` and `b` are the squared standard errors of
/// two independent means estimated from `n_a` and `n_b` observations.
pub fn welch_df(a: f64, n_a: u64, b: f64, n_b: u64) -> f64 {
    let term = |v: f64, n: u64| match n {
        _ if v == 0.0 => 0.0,
        0 | 1 => f64::INFINITY,
        n => v * v / (n - 1) as f64,
    };
    let denominator = term(a, n_a) + term(b, n_b);
    let df = (a + b) * (a + b) / denominator;
    if df.is_nan() { f64::INFINITY } else { df }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, rel: f64) -> bool {
        (actual - expected).abs() <= rel * expected.abs()
    }

    #[test]
    fn normal_cdf_matches_reference_values() {
        // Reference values of Φ and of its upper tail (computed to 17 digits with an arbitrary-precision
        // library; the familiar ones are in every table: Φ(1.96) = 0.975, Φ(1.645) = 0.95).
        let cases = [
            (0.0, 0.5),
            (0.5, 0.691_462_461_274_013_1),
            (1.0, 0.841_344_746_068_542_9),
            (1.644_853_626_951_472_2, 0.95),
            (1.959_963_984_540_054, 0.975),
            (2.326_347_874_040_841, 0.99),
            (2.999_999, 0.998_650_097_536_514_8),
            (3.0, 0.998_650_101_968_369_9),
        ];
        for (x, p) in cases {
            assert!(close(normal_cdf(x), p, 1e-14), "Φ({x}) = {} ≠ {p}", normal_cdf(x));
            assert!(close(normal_cdf(-x), 1.0 - p, 1e-12), "Φ(−{x}) = {} ≠ {}", normal_cdf(-x), 1.0 - p);
        }
        let tails = [
            (3.0, 1.349_898_031_630_094_6e-3),
            (4.0, 3.167_124_183_311_992e-5),
            (5.0, 2.866_515_718_791_939_4e-7),
            (8.0, 6.220_960_574_271_785e-16),
            (20.0, 2.753_624_118_606_233_7e-89),
            (30.0, 4.906_713_927_148_187e-198),
            (37.5, 4.605_353_009_581_955e-308),
        ];
        for (x, q) in tails {
            assert!(close(normal_sf(x), q, 1e-13), "1 − Φ({x}) = {} ≠ {q}", normal_sf(x));
            assert!(close(normal_cdf(-x), q, 1e-13));
            assert!(close(ln_normal_cdf(-x), q.ln(), 1e-13), "ln Φ(−{x})");
        }
        assert!(close(ln_normal_cdf(-40.0), -804.608_442_013_753_8, 1e-14));
        assert!(close(ln_normal_cdf(-2.5), -5.081_648_277_278_69, 1e-14));
        assert!(close(ln_normal_cdf(-4.5), -12.592_419_735_713_08, 1e-14));
        assert!(close(ln_normal_cdf(2.0), (0.977_249_868_051_820_8f64).ln(), 1e-14));
        assert!(close(normal_pdf(1.0), 0.241_970_724_519_143_37, 1e-15));
    }

    #[test]
    fn inverse_mills_ratio_is_stable_in_the_lower_tail() {
        assert!(close(normal_hazard_of_cdf(0.0), 2.0 * normal_pdf(0.0), 1e-15));
        // Far in the lower tail φ(x)/Φ(x) ≈ −x + 1/(−x); at −40 it is 40.024 968 847 2…
        assert!(close(normal_hazard_of_cdf(-40.0), 40.024_968_847_207_26, 1e-13));
        assert!(close(normal_hazard_of_cdf(-5.0), 5.186_503_967_125_842, 1e-13));
    }

    #[test]
    fn wallace_transformation_tracks_student_t_quantiles() {
        // Student's t quantiles (ν, t_p, p), as in every table: t_0.975 with 10 degrees of freedom is 2.228.
        let cases = [
            (10.0, 2.228_138_851_986_274, 0.975),
            (5.0, 2.015_048_373_333_023, 0.95),
            (30.0, 2.749_995_653_567_238_6, 0.995),
            (100.0, 1.983_971_518_523_551_7, 0.975),
            (1000.0, 3.098_402_163_912_923_3, 0.999),
        ];
        for (df, t, p) in cases {
            let tail = 1.0 - normal_cdf(t_to_z(t, df));
            let rel = if df >= 30.0 { 0.012 } else { 0.11 };
            assert!(close(tail, 1.0 - p, rel), "ν = {df}: tail {tail} vs {}", 1.0 - p);
            assert!(close(z_to_t(t_to_z(t, df), df), t, 1e-12));
            assert!(close(t_to_z(-t, df), -t_to_z(t, df), 1e-15));
        }
        assert!(t_to_z(2.5, f64::INFINITY).to_bits() == 2.5_f64.to_bits());
        assert!(close(t_to_z(2.5, 1e9), 2.5, 1e-8));
    }

    #[test]
    fn welch_degrees_of_freedom() {
        // s1² = 4 (n = 10), s2² = 9 (n = 20): a = 0.4, b = 0.45,
        // ν = 0.85² / (0.4²/9 + 0.45²/19) = 0.7225 / (0.017 777 8 + 0.010 657 9) = 25.408 2…
        let df = welch_df(0.4, 10, 0.45, 20);
        assert!(close(df, 25.408_226_221_079_694, 1e-12), "{df}");
        // Equal variances and sizes give 2(n − 1).
        assert!(close(welch_df(0.1, 50, 0.1, 50), 98.0, 1e-12));
        // One arm alone (an absolute threshold) gives n − 1.
        assert!(close(welch_df(0.3, 41, 0.0, 0), 40.0, 1e-12));
    }
}
