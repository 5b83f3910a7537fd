//! Worked examples of guard checks: the statistics against hand and textbook values, directions,
//! thresholds, edge cases and the evidence's JSON.

use serde_json::json;

use super::*;

fn spec(statistic: Statistic, direction: Direction, threshold: Threshold) -> GuardSpec {
    GuardSpec {
        metric: "m".to_owned(),
        statistic,
        direction,
        threshold,
        min_samples: DEFAULT_MIN_SAMPLES,
        alpha: DEFAULT_ALPHA,
        tuning_samples: DEFAULT_TUNING_SAMPLES,
    }
}

/// An error-rate arm: each event has the value 1.
fn events(exposures: u64, count: u64) -> ArmStats {
    ArmStats { exposures, count, sum: count as f64, sum_squares: count as f64 }
}

fn values(xs: &[f64]) -> ArmStats {
    let mut arm = ArmStats { exposures: xs.len() as u64, ..ArmStats::default() };
    for &x in xs {
        arm.track(x);
    }
    arm
}

fn close(actual: f64, expected: f64, rel: f64) -> bool {
    (actual - expected).abs() <= rel * expected.abs()
}

#[test]
fn two_proportion_z_on_a_textbook_example() {
    // 120 of 1 000 control users and 150 of 1 000 treatment users hit an error. The textbook two-proportion
    // z is 1.963 pooled and 1.965 unpooled ((0.15 − 0.12) / sqrt(0.12·0.88/1000 + 0.15·0.85/1000)); the
    // guard's variance adds one event and one non-event per arm: sqrt(p̃(1−p̃)/n + …) with p̃ = 121/1002 and
    // 151/1002 gives 1.9605.
    let s = spec(Statistic::Rate, Direction::HigherIsWorse, Threshold::Relative(0.0));
    let v = evaluate_guard(&s, &events(1000, 120), &events(1000, 150));
    let e = &v.evidence;
    let z = e.statistic.expect("a statistic");
    assert_eq!(z.kind, StatisticKind::Z);
    assert_eq!(z.df, None);
    assert!(close(z.value, 1.960_472_769_452_876, 1e-12), "{}", z.value);
    assert!(close(z.value, 1.964_943_729_729_648, 3e-3));
    assert!(close(e.excess.unwrap(), 0.03, 1e-12));
    assert!(close(e.limit.unwrap(), 0.12, 1e-12));
    assert!(close(e.relative_change.unwrap(), 0.25, 1e-12));
    // A fixed-horizon one-sided p of 0.025 is nowhere near enough for a test that may look at any time.
    assert_eq!(v.state, GuardState::Healthy);
    assert!(e.p_value.unwrap() > 0.2, "{:?}", e.p_value);
    assert!(e.bound.unwrap() < 0.0);
    // Ten times the data with the same rates is.
    let v = evaluate_guard(&s, &events(10_000, 1200), &events(10_000, 1500));
    assert_eq!(v.state, GuardState::Breached);
    assert!(v.evidence.p_value.unwrap() < 1e-6);
}

#[test]
fn welch_t_matches_the_textbook_formula() {
    let control = [102.0, 98.0, 110.0, 95.0, 105.0, 99.0, 101.0, 97.0, 104.0, 100.0];
    let treatment = [112.0, 108.0, 125.0, 101.0, 117.0, 109.0, 130.0, 104.0, 111.0, 120.0, 115.0, 106.0];
    let mut s = spec(Statistic::Mean, Direction::HigherIsWorse, Threshold::Relative(0.0));
    s.min_samples = 10;
    let v = evaluate_guard(&s, &values(&control), &values(&treatment));
    let e = &v.evidence;
    let t = e.statistic.expect("a statistic");
    assert_eq!(t.kind, StatisticKind::T);
    // Welch's t and Welch–Satterthwaite df of these samples: t = 4.2278, ν = 16.873.
    assert!(close(t.value, 4.227_843_303_043_476, 1e-10), "{}", t.value);
    assert!(close(t.df.unwrap(), 16.873_182_167_755_91, 1e-10), "{:?}", t.df);
    assert!(close(e.control.value.unwrap(), 101.1, 1e-12));
    assert!(close(e.treatment.std_dev.unwrap(), 8.642_740_867_165_328, 1e-10));
    // t = 4.2 after 10 samples is significant at a fixed horizon (p ≈ 0.0003) but, with 17 degrees of
    // freedom and little information yet, not for an always-valid test.
    assert_eq!(v.state, GuardState::Healthy);
}

#[test]
fn lower_is_worse_flips_the_sides() {
    // Conversion drops from 10% to 8% over 20 000 exposures each: more than 5% worse than the control.
    let s = spec(Statistic::Rate, Direction::LowerIsWorse, Threshold::Relative(0.05));
    let v = evaluate_guard(&s, &events(20_000, 2000), &events(20_000, 1600));
    assert_eq!(v.state, GuardState::Breached);
    assert!(close(v.evidence.limit.unwrap(), 0.095, 1e-12));
    assert!(close(v.evidence.excess.unwrap(), 0.015, 1e-9));
    assert!(v.evidence.statistic.unwrap().value > 5.0);
    // The same numbers are an improvement when higher is worse.
    let s = spec(Statistic::Rate, Direction::HigherIsWorse, Threshold::Relative(0.05));
    let v = evaluate_guard(&s, &events(20_000, 2000), &events(20_000, 1600));
    assert_eq!(v.state, GuardState::Healthy);
    assert!(v.evidence.excess.unwrap() < 0.0);
    assert_eq!(v.evidence.p_value, Some(1.0));
}

#[test]
fn absolute_thresholds_ignore_the_control() {
    let s = spec(Statistic::Rate, Direction::HigherIsWorse, Threshold::Absolute(0.02));
    let nothing = ArmStats::default();
    let v = evaluate_guard(&s, &nothing, &events(5000, 200));
    assert_eq!(v.state, GuardState::Breached, "4% errors against a 2% limit");
    assert_eq!(v.evidence.limit, Some(0.02));
    assert_eq!(v.evidence.control.value, None);
    assert_eq!(evaluate_guard(&s, &nothing, &events(5000, 90)).state, GuardState::Healthy);

    // A p99-style latency limit on the mean: 180 ms against 150 ms, with a standard deviation of 60 ms.
    let s = spec(Statistic::Mean, Direction::HigherIsWorse, Threshold::Absolute(150.0));
    let n = 400.0;
    let slow =
        ArmStats { exposures: 400, count: 400, sum: 180.0 * n, sum_squares: n * (180.0 * 180.0) + 399.0 * 3600.0 };
    let v = evaluate_guard(&s, &nothing, &slow);
    assert_eq!(v.state, GuardState::Breached);
    let t = v.evidence.statistic.unwrap();
    assert!(close(t.value, 30.0 / 3.0, 1e-9), "{}", t.value);
    assert!(close(t.df.unwrap(), 399.0, 1e-12));
    assert!(close(v.evidence.treatment.std_dev.unwrap(), 60.0, 1e-9));
}

#[test]
fn too_few_samples_give_no_verdict() {
    let s = spec(Statistic::Rate, Direction::HigherIsWorse, Threshold::Relative(0.1));
    let v = evaluate_guard(&s, &events(99, 0), &events(5000, 4000));
    assert_eq!(v.state, GuardState::InsufficientData, "the control has 99 of 100 exposures");
    assert_eq!(v.evidence.p_value, None);
    assert_eq!(v.evidence.control.n, 99);
    assert_eq!(v.evidence.treatment.value, Some(0.8));
    assert_eq!(evaluate_guard(&s, &events(100, 0), &events(100, 80)).state, GuardState::Breached);

    let mut s = spec(Statistic::Mean, Direction::HigherIsWorse, Threshold::Absolute(1.0));
    s.min_samples = 0;
    let one = values(&[5.0]);
    assert_eq!(evaluate_guard(&s, &one, &one).state, GuardState::InsufficientData, "no variance from one value");
    assert_eq!(evaluate_guard(&s, &one, &ArmStats::default()).evidence.treatment.value, None);
    // Two values: a verdict, but with one degree of freedom no finite bound.
    let v = evaluate_guard(&s, &one, &values(&[4.0, 6.0]));
    assert_eq!((v.state, v.evidence.bound), (GuardState::Healthy, None));
    assert!(v.evidence.p_value.unwrap() > 0.5);
}

#[test]
fn unusable_input_gives_no_verdict() {
    let s = spec(Statistic::Mean, Direction::HigherIsWorse, Threshold::Relative(0.1));
    let good = values(&[1.0; 200]);
    let bad = ArmStats { sum: f64::NAN, ..good };
    assert_eq!(evaluate_guard(&s, &good, &bad).state, GuardState::InsufficientData);
    assert_eq!(
        evaluate_guard(&s, &ArmStats { sum_squares: f64::INFINITY, ..good }, &good).state,
        GuardState::InsufficientData
    );
    let mut s = s;
    s.alpha = f64::NAN;
    assert_eq!(evaluate_guard(&s, &good, &good).state, GuardState::InsufficientData);
}

#[test]
fn constant_values_are_exact() {
    let s = spec(Statistic::Mean, Direction::HigherIsWorse, Threshold::Absolute(100.0));
    let v = evaluate_guard(&s, &ArmStats::default(), &values(&[200.0; 150]));
    assert_eq!(v.state, GuardState::Breached);
    assert_eq!((v.evidence.p_value, v.evidence.bound, v.evidence.statistic), (Some(0.0), Some(100.0), None));
    let v = evaluate_guard(&s, &ArmStats::default(), &values(&[50.0; 150]));
    assert_eq!((v.state, v.evidence.p_value), (GuardState::Healthy, Some(1.0)));
}

#[test]
fn counts_above_exposures_use_the_poisson_variance() {
    // Two page views per exposure on average: not a proportion.
    let s = spec(Statistic::Rate, Direction::LowerIsWorse, Threshold::Relative(0.1));
    let v = evaluate_guard(&s, &events(1000, 2000), &events(1000, 1900));
    let p = 2001.0 / 1002.0;
    assert!(close(v.evidence.control.std_dev.unwrap(), f64::sqrt(p), 1e-12));
    assert!(close(v.evidence.treatment.value.unwrap(), 1.9, 1e-12));
    assert_eq!(v.state, GuardState::Healthy, "5% fewer is within a 10% margin");
    // The binomial variance applies while every arm has at most one event per exposure.
    let v = evaluate_guard(&s, &events(5000, 2500), &events(5000, 2000));
    let p = 2501.0 / 5002.0;
    assert!(close(v.evidence.control.std_dev.unwrap(), f64::sqrt(p * (1.0 - p)), 1e-12));
    assert_eq!(v.state, GuardState::Breached, "50% → 40% is more than 10% worse");
}

#[test]
fn the_bound_agrees_with_the_verdict() {
    for threshold in [Threshold::Relative(0.0), Threshold::Relative(0.2), Threshold::Absolute(0.05)] {
        for direction in [Direction::HigherIsWorse, Direction::LowerIsWorse] {
            let mut s = spec(Statistic::Rate, direction, threshold);
            for alpha in [0.01, 0.05, 0.2] {
                s.alpha = alpha;
                for treatment in (0..=200).step_by(7) {
                    let v = evaluate_guard(&s, &events(2000, 100), &events(2000, treatment));
                    let e = &v.evidence;
                    assert_eq!(v.state == GuardState::Breached, e.bound.unwrap() > 0.0, "{s:?} {treatment}: {e:?}");
                    assert_eq!(v.state == GuardState::Breached, e.p_value.unwrap() <= alpha);
                }
            }
        }
    }
}

#[test]
fn more_of_the_same_evidence_is_stronger() {
    let s = spec(Statistic::Rate, Direction::HigherIsWorse, Threshold::Relative(0.0));
    let mut last = 1.0;
    for k in 1..=20_u64 {
        let p = evaluate_guard(&s, &events(1000 * k, 10 * k), &events(1000 * k, 14 * k)).evidence.p_value.unwrap();
        assert!(p <= last, "p rose from {last} to {p} at {k}k exposures");
        last = p;
    }
    assert!(last < 0.05, "{last}");
}

#[test]
fn verdicts_serialise_for_the_audit_log() {
    let s = spec(Statistic::Mean, Direction::HigherIsWorse, Threshold::Relative(0.1));
    let v = evaluate_guard(&s, &values(&[100.0, 120.0].repeat(100)), &values(&[150.0, 170.0].repeat(100)));
    let json = serde_json::to_value(&v).expect("serialises");
    assert_eq!(json["state"], "breached");
    assert_eq!(json["evidence"]["threshold"], json!({"relative": 0.1}));
    assert_eq!(json["evidence"]["statistic"]["kind"], "t");
    assert_eq!(json["evidence"]["control"]["n"], 200);
    assert_eq!(json["evidence"]["treatment"]["value"], 160.0);
    assert!(close(json["evidence"]["limit"].as_f64().unwrap(), 121.0, 1e-15));
    assert_eq!(json["evidence"]["min_samples"], 100);
    for key in ["excess", "standard_error", "bound", "relative_change", "p_value", "alpha"] {
        assert!(json["evidence"][key].is_number(), "{key}: {json}");
    }
    let back: GuardVerdict = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, v);
    let none = serde_json::to_value(evaluate_guard(&s, &ArmStats::default(), &ArmStats::default())).unwrap();
    assert_eq!(none["state"], "insufficient_data");
    assert_eq!(none["evidence"]["p_value"], serde_json::Value::Null);
}
