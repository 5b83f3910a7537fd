//! Metric guards checked as data accrue, simulated many times: how often an A/A comparison trips (it must
//! be rare however often the guard is checked), and how often a real regression is caught within 10 000
//! samples per arm.
//!
//! Every run adds 50 samples per arm between checks and checks 200 times, up to 10 000 samples per arm,
//! with the default `alpha` (0.05), `min_samples` (100) and `tuning_samples` (10 000). The guard under test
//! is "treatment more than 10% worse than control"; the same data are also checked against a 0% margin
//! (the null's boundary, where the always-valid bound of `alpha` is the relevant one) and with a
//! fixed-horizon one-sided z/t test at 5% repeated at every check, to show what the sequential correction
//! buys. Error events are drawn per check as binomial counts (the same distribution as 50 Bernoulli
//! draws); latencies are drawn one by one from a log-normal with σ = 1 on the log scale (coefficient of
//! variation 1.31, p99 about 10 times the median, as web latencies are). Runs are deterministic: a fixed
//! seed per scenario. `cargo test --test guard_simulations -- --nocapture` prints the measured rates.

use pennon_engine::guards::{
    ArmStats, DEFAULT_ALPHA, DEFAULT_MIN_SAMPLES, DEFAULT_TUNING_SAMPLES, Direction, GuardSpec, GuardState, Statistic,
    Threshold, evaluate_guard,
};

const CHECKS: u64 = 200;
const STEP: u64 = 50;
/// A fixed-horizon one-sided test at 5%: z above 1.645 (t with hundreds of degrees of freedom alike).
const NAIVE_CRITICAL: f64 = 1.644_853_626_951_472_2;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// Log-normal latencies with the given mean and log-scale σ.
struct LogNormal {
    mu: f64,
    sigma: f64,
}

impl LogNormal {
    fn with_mean(mean: f64, sigma: f64) -> LogNormal {
        LogNormal { mu: mean.ln() - 0.5 * sigma * sigma, sigma }
    }

    /// Adds `samples` latencies (and as many exposures) to `arm`.
    fn draw_into(&self, rng: &mut Rng, arm: &mut ArmStats, samples: u64) {
        let (mut sum, mut sum_squares) = (0.0, 0.0);
        for i in (0..samples).step_by(2) {
            let (a, b) = rng.normal_pair();
            let x = (self.mu + self.sigma * a).exp();
            sum += x;
            sum_squares += x * x;
            if i + 1 < samples {
                let y = (self.mu + self.sigma * b).exp();
                sum += y;
                sum_squares += y * y;
            }
        }
        *arm = arm.merged(ArmStats { exposures: samples, count: samples, sum, sum_squares });
    }
}

fn draw_errors(rng: &mut Rng, arm: &mut ArmStats, exposures: u64, p: f64) {
    let k = rng.binomial(exposures, p);
    arm.exposures += exposures;
    arm.count += k;
    arm.sum += k as f64;
    arm.sum_squares += k as f64;
}

fn guard(statistic: Statistic, threshold: Threshold) -> GuardSpec {
    GuardSpec {
        metric: "simulated".to_owned(),
        statistic,
        direction: Direction::HigherIsWorse,
        threshold,
        min_samples: DEFAULT_MIN_SAMPLES,
        alpha: DEFAULT_ALPHA,
        tuning_samples: DEFAULT_TUNING_SAMPLES,
    }
}

/// What happened to one spec over all runs.
#[derive(Default)]
struct Tally {
    /// Runs in which the guard tripped, with the samples per arm at the first trip.
    trips: Vec<u64>,
    /// Runs in which the repeated fixed-horizon test would have tripped.
    naive_trips: u64,
}

impl Tally {
    fn rate(&self, runs: u64) -> f64 {
        self.trips.len() as f64 / runs as f64
    }

    fn naive_rate(&self, runs: u64) -> f64 {
        self.naive_trips as f64 / runs as f64
    }

    /// The samples per arm by which `q` of the trips had happened.
    fn quantile(&self, q: f64) -> u64 {
        let mut v = self.trips.clone();
        v.sort_unstable();
        v.get(((v.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0)
    }
}

/// Runs `runs` simulations of 200 checks each. `draw` adds one step of samples to (control, treatment).
/// A run stops early once every spec has tripped and (with `naive`) so has the fixed-horizon test.
fn simulate(
    runs: u64,
    seed: u64,
    specs: &[GuardSpec],
    naive: bool,
    mut draw: impl FnMut(&mut Rng, &mut ArmStats, &mut ArmStats),
) -> Vec<Tally> {
    let mut rng = Rng(seed);
    let mut tallies: Vec<Tally> = specs.iter().map(|_| Tally::default()).collect();
    for _ in 0..runs {
        let (mut control, mut treatment) = (ArmStats::default(), ArmStats::default());
        let mut tripped = vec![false; specs.len()];
        let mut naive_tripped = vec![!naive; specs.len()];
        for check in 1..=CHECKS {
            draw(&mut rng, &mut control, &mut treatment);
            for (i, spec) in specs.iter().enumerate() {
                if tripped[i] && naive_tripped[i] {
                    continue;
                }
                let verdict = evaluate_guard(spec, &control, &treatment);
                if !tripped[i] && verdict.state == GuardState::Breached {
                    tripped[i] = true;
                    tallies[i].trips.push(check * STEP);
                }
                if !naive_tripped[i] && verdict.evidence.statistic.is_some_and(|s| s.value > NAIVE_CRITICAL) {
                    naive_tripped[i] = true;
                    tallies[i].naive_trips += 1;
                }
            }
            if tripped.iter().all(|t| *t) && naive_tripped.iter().all(|t| *t) {
                break;
            }
        }
    }
    tallies
}

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

#[test]
fn error_rate_a_a_runs_rarely_trip() {
    let runs = 2000;
    let specs = [
        guard(Statistic::Rate, Threshold::Relative(0.1)),
        guard(Statistic::Rate, Threshold::Relative(0.0)),
        guard(Statistic::Rate, Threshold::Absolute(0.015)),
    ];
    let t = simulate(runs, 0x5eed_0001, &specs, true, |rng, c, t| {
        draw_errors(rng, c, STEP, 0.01);
        draw_errors(rng, t, STEP, 0.01);
    });
    eprintln!(
        "error rate A/A (1% vs 1%), {runs} runs × {CHECKS} checks: tripped {} with a 10% margin, {} with a 0% margin \
         (a fixed-horizon test repeated at every check: {}), {} against an absolute 1.5% limit",
        percent(t[0].rate(runs)),
        percent(t[1].rate(runs)),
        percent(t[1].naive_rate(runs)),
        percent(t[2].rate(runs)),
    );
    assert!(t[0].rate(runs) <= 0.01, "the 10% margin guard tripped in {} of A/A runs", percent(t[0].rate(runs)));
    assert!(t[1].rate(runs) <= DEFAULT_ALPHA, "at the null's boundary the always-valid bound is alpha");
    assert!(t[2].rate(runs) <= 0.01);
    assert!(t[1].naive_rate(runs) > 3.0 * DEFAULT_ALPHA, "repeated fixed-horizon tests are what the correction avoids");
}

#[test]
fn doubled_error_rate_is_detected() {
    let runs = 2000;
    let specs = [guard(Statistic::Rate, Threshold::Relative(0.1)), guard(Statistic::Rate, Threshold::Absolute(0.015))];
    let t = simulate(runs, 0x5eed_0002, &specs, false, |rng, c, t| {
        draw_errors(rng, c, STEP, 0.01);
        draw_errors(rng, t, STEP, 0.02);
    });
    eprintln!(
        "error rate 1% vs 2%, {runs} runs: detected in {} within 10 000 exposures per arm with a 10% margin \
         (half by {}, 95% by {} exposures); {} against an absolute 1.5% limit",
        percent(t[0].rate(runs)),
        t[0].quantile(0.5),
        t[0].quantile(0.95),
        percent(t[1].rate(runs)),
    );
    assert!(t[0].rate(runs) >= 0.95, "detected in only {}", percent(t[0].rate(runs)));
    assert!(t[1].rate(runs) >= 0.5, "2% against a 1.5% limit: detected in only {}", percent(t[1].rate(runs)));
}

/// Control latencies: mean 100 ms (median 61 ms, p99 about 620 ms).
const CONTROL_LATENCY: f64 = 100.0;
const LOG_SIGMA: f64 = 1.0;

#[test]
fn latency_a_a_runs_rarely_trip() {
    let runs = 2000;
    let specs = [guard(Statistic::Mean, Threshold::Relative(0.1)), guard(Statistic::Mean, Threshold::Relative(0.0))];
    let latency = LogNormal::with_mean(CONTROL_LATENCY, LOG_SIGMA);
    let t = simulate(runs, 0x5eed_0003, &specs, true, |rng, c, t| {
        latency.draw_into(rng, c, STEP);
        latency.draw_into(rng, t, STEP);
    });
    eprintln!(
        "latency A/A (log-normal, mean 100 ms, σ_log 1), {runs} runs × {CHECKS} checks: tripped {} with a 10% margin, \
         {} with a 0% margin (a fixed-horizon t test repeated at every check: {})",
        percent(t[0].rate(runs)),
        percent(t[1].rate(runs)),
        percent(t[1].naive_rate(runs)),
    );
    assert!(t[0].rate(runs) <= 0.01, "the 10% margin guard tripped in {} of A/A runs", percent(t[0].rate(runs)));
    assert!(t[1].rate(runs) <= DEFAULT_ALPHA);
}

#[test]
fn slower_latency_is_detected() {
    let runs = 2000;
    let specs = [guard(Statistic::Mean, Threshold::Relative(0.1))];
    let control = LogNormal::with_mean(CONTROL_LATENCY, LOG_SIGMA);
    let treatment = LogNormal::with_mean(1.3 * CONTROL_LATENCY, LOG_SIGMA);
    let t = simulate(runs, 0x5eed_0004, &specs, false, |rng, c, t| {
        control.draw_into(rng, c, STEP);
        treatment.draw_into(rng, t, STEP);
    });
    eprintln!(
        "latency 100 ms vs 130 ms (log-normal, σ_log 1), {runs} runs: detected in {} within 10 000 samples per arm \
         with a 10% margin (half by {}, 95% by {} samples)",
        percent(t[0].rate(runs)),
        t[0].quantile(0.5),
        t[0].quantile(0.95),
    );
    assert!(t[0].rate(runs) >= 0.95, "detected in only {}", percent(t[0].rate(runs)));
}

#[test]
fn the_generators_are_calibrated() {
    let mut rng = Rng(7);
    let n = 200_000;
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..n / 2 {
        let (a, b) = rng.normal_pair();
        sum += a + b;
        sum_sq += a * a + b * b;
    }
    let mean = sum / f64::from(n);
    assert!(mean.abs() < 0.01 && (sum_sq / f64::from(n) - 1.0).abs() < 0.02, "normal: mean {mean}");
    let k: u64 = (0..20_000).map(|_| rng.binomial(50, 0.02)).sum();
    assert!((k as f64 / 20_000.0 - 1.0).abs() < 0.03, "binomial mean {}", k as f64 / 20_000.0);
    let mut arm = ArmStats::default();
    LogNormal::with_mean(100.0, LOG_SIGMA).draw_into(&mut rng, &mut arm, 200_000);
    let mean = arm.sum / arm.count as f64;
    assert!((mean - 100.0).abs() < 2.0, "log-normal mean {mean}");
}
