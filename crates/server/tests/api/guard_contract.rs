//! The guard contract on the server's own check: a guard tests all data since its start, so an A/A guard
//! checked every 5 seconds for 6 hours trips in at most 1% of lifetimes, a 1% → 2% error rate is caught
//! within 10,000 exposures per arm, and data sent before a guard existed never count.
//!
//! The simulations run in simulated time. One lifetime goes through [`check_at`] itself, over the real store
//! on SQLite, with generated buckets written as the intake writes them; it also checks, at every look, that
//! the in-memory path below gives the same verdict. The 1,000 lifetimes then run the same decision —
//! [`counted_from`] picks the buckets, [`verdict_of`] decides — over the totals the store would sum, kept as
//! running sums, so that they take seconds. Seeded and deterministic.

use std::time::Duration;

use pennon_engine::guards::{GuardState, GuardVerdict};
use pennon_server::app::config::ServeConfig;
use pennon_server::ingest::{BUCKET_MS, bucket_of};
use pennon_server::jobs::guard_loop::{Checked, check_at, counted_from, verdict_of};
use pennon_server::store::{ExposureBucket, Guard, GuardToCheck, MetricBucket, VariantTotals};
use serde_json::{Value, json};

use crate::both;
use crate::flag_setup::{boolean_flag, configure, half_split};
use crate::guards::{GUARDS, error_guard};
use crate::helpers::{Db, TestApp, TestDatabase};
use crate::sse::sdk_key;

both!(a_batch_sent_before_the_guard_never_counts);

/// A check every 5 seconds.
const CHECK_MS: i64 = 5_000;
/// Six hours of checks.
const LIFETIME_CHECKS: usize = 6 * 3_600 / 5;
/// Exposures per arm between two checks: 43,200 per arm over a lifetime, 7,200 in an hour.
const EXPOSURES_PER_CHECK: u64 = 10;
/// The sliding window the loop used to test (the default `window`).
const SLIDING_WINDOW_MS: i64 = 3_600_000;

#[path = "../../../engine/tests/support/rng.rs"]
mod rng;
use rng::Rng;

/// One lifetime's errors per arm, as running sums over the 5-second steps: `on[i]` holds the errors of the
/// first `i` steps. Step `i` lands in the bucket starting at `start + (i / 2) * BUCKET_MS`.
struct Lifetime {
    on: Vec<u64>,
    off: Vec<u64>,
}

impl Lifetime {
    fn draw(rng: &mut Rng, steps: usize, p_on: f64, p_off: f64) -> Lifetime {
        let (mut on, mut off) = (vec![0; steps + 1], vec![0; steps + 1]);
        for i in 0..steps {
            on[i + 1] = on[i] + rng.binomial(EXPOSURES_PER_CHECK, p_on);
            off[i + 1] = off[i] + rng.binomial(EXPOSURES_PER_CHECK, p_off);
        }
        Lifetime { on, off }
    }

    /// What the store sums over the buckets in `[from, now]` at the check after `steps` steps, for a guard
    /// whose first bucket starts at `start`.
    fn totals(&self, start: i64, from: i64, steps: usize) -> Vec<VariantTotals> {
        let skipped = usize::try_from((from - start).max(0) / BUCKET_MS).unwrap_or(0) * 2;
        let skipped = skipped.min(steps);
        let arm = |variant: &str, errors: &[u64]| {
            let count = errors[steps] - errors[skipped];
            VariantTotals {
                variant: variant.to_owned(),
                exposures: (steps - skipped) as u64 * EXPOSURES_PER_CHECK,
                count,
                sum: count as f64,
                sum_squares: count as f64,
            }
        };
        vec![arm("off", &self.off), arm("on", &self.on)]
    }
}

/// How the loop picks the first bucket a check counts.
#[derive(Clone, Copy)]
enum Counting {
    /// Today's contract: every bucket since the guard's start.
    Cumulative,
    /// The loop before it: `max(since, now − window)`, rounded down to its bucket.
    Sliding,
}

impl Counting {
    fn from(self, since: i64, now: i64) -> i64 {
        match self {
            Counting::Cumulative => counted_from(since),
            Counting::Sliding => bucket_of(since.max(now - SLIDING_WINDOW_MS)),
        }
    }
}

/// The step (from 1) at whose check the guard first breached, if it did within `checks`.
fn first_breach(guard: &Guard, life: &Lifetime, counting: Counting, checks: usize) -> Option<usize> {
    let start = counted_from(guard.since);
    (1..=checks).find(|&steps| {
        let now = start + steps as i64 * CHECK_MS;
        let totals = life.totals(start, counting.from(guard.since, now), steps);
        verdict_of(guard, &totals).state == GuardState::Breached
    })
}

/// A server whose own loop and flush stay out of the way: the test calls the check itself.
async fn quiet_app(db: Db) -> TestApp {
    checkout_app(db, Duration::from_hours(1)).await
}

/// A server checking guards every `guard_interval` (its flush out of the way), with `checkout` split 50/50 in
/// production and the metric `checkout_error`.
async fn checkout_app(db: Db, guard_interval: Duration) -> TestApp {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.guard_interval = guard_interval;
    config.metrics_flush_interval = Duration::from_hours(1);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.metric("checkout_error", "rate").await;
    boolean_flag(&app, "checkout").await;
    configure(
        &app,
        "checkout",
        "production",
        json!({ "enabled": true, "off_variant": "off", "default": half_split("key") }),
    )
    .await;
    app
}

async fn to_check(app: &TestApp, id: i64) -> GuardToCheck {
    let all = app.state().store.guards_to_check().await.expect("guards");
    all.into_iter().find(|g| g.guard.id == id).expect("the guard")
}

/// The buckets of one step, as the intake writes them.
fn step_buckets(bucket: i64, on: u64, off: u64) -> (Vec<ExposureBucket>, Vec<MetricBucket>) {
    let exposure = |variant: &str| ExposureBucket {
        environment: "production".into(),
        flag: "checkout".into(),
        variant: variant.into(),
        bucket,
        count: EXPOSURES_PER_CHECK,
    };
    let metric = |variant: &str, n: u64| MetricBucket {
        environment: "production".into(),
        flag: "checkout".into(),
        variant: variant.into(),
        metric: "checkout_error".into(),
        bucket,
        count: n,
        sum: n as f64,
        sum_squares: n as f64,
    };
    (vec![exposure("on"), exposure("off")], vec![metric("on", on), metric("off", off)])
}

fn same_numbers(a: &GuardVerdict, b: &GuardVerdict) -> bool {
    let (a, b) = (&a.evidence, &b.evidence);
    a.treatment.n == b.treatment.n
        && a.control.n == b.control.n
        && a.treatment.value == b.treatment.value
        && a.control.value == b.control.value
        && a.p_value == b.p_value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_counts_every_bucket_since_the_guard_started() {
    let app = quiet_app(Db::Sqlite).await;
    let id = app.post(GUARDS, error_guard()).await.expect(201).body["id"].as_i64().unwrap();
    let state = app.state();
    let guard = to_check(&app, id).await.guard;
    let start = counted_from(guard.since);
    assert_eq!(start % BUCKET_MS, 0);
    assert!(start >= guard.since && start - guard.since < BUCKET_MS);

    // A terrible bucket that started before the guard (it holds the guard's first moments) never counts.
    let (exposures, metrics) = step_buckets(start - BUCKET_MS, 0, 0);
    let exposures: Vec<_> = exposures.into_iter().map(|e| ExposureBucket { count: 50_000, ..e }).collect();
    let metrics: Vec<_> = metrics
        .into_iter()
        .map(|m| if m.variant == "on" { MetricBucket { count: 5_000, sum: 5e3, sum_squares: 5e3, ..m } } else { m })
        .collect();
    state.store.add_metric_buckets(&exposures, &metrics).await.expect("written");

    // A 1% → 2% error rate, one step every 5 s, through the real check over the real store.
    let mut rng = Rng(20);
    let life = Lifetime::draw(&mut rng, 1_000, 0.02, 0.01);
    let mut breached_at = None;
    for steps in 1..=1_000 {
        let bucket = start + (steps as i64 - 1) / 2 * BUCKET_MS;
        let on = life.on[steps] - life.on[steps - 1];
        let off = life.off[steps] - life.off[steps - 1];
        let (exposures, metrics) = step_buckets(bucket, on, off);
        state.store.add_metric_buckets(&exposures, &metrics).await.expect("written");
        let now = start + steps as i64 * CHECK_MS;
        let expected = verdict_of(&guard, &life.totals(start, counted_from(guard.since), steps));
        let checked = check_at(state, to_check(&app, id).await, now).await.expect("checked");
        let Checked::Verdict(verdict) = checked else { panic!("step {steps}: {checked:?}") };
        assert!(same_numbers(&verdict, &expected), "step {steps}: {:?} vs {:?}", verdict.evidence, expected.evidence);
        assert_eq!(verdict.state, expected.state);
        if verdict.state == GuardState::Breached {
            breached_at = Some(steps);
            break;
        }
    }
    let steps = breached_at.expect("a 1% → 2% error rate is caught within 10,000 exposures per arm");
    let body = app.get(&format!("{GUARDS}/{id}")).await.expect(200).body;
    assert_eq!(body["state"], "breached");
    assert_eq!(body["evidence"]["treatment"]["n"].as_u64(), Some(steps as u64 * EXPOSURES_PER_CHECK));
    let config = app.get("/api/v1/flags/checkout/environments/production").await.expect(200).body;
    assert_eq!(config["enabled"], false, "the breach's action was written");
    // Breached and unchanged: the next check leaves it alone.
    let later = check_at(state, to_check(&app, id).await, start + 1_001 * CHECK_MS).await.expect("checked");
    assert_eq!(later, Checked::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_a_guards_keep_their_alpha_for_six_hours_of_checks() {
    let app = quiet_app(Db::Sqlite).await;
    let id = app.post(GUARDS, error_guard()).await.expect(201).body["id"].as_i64().unwrap();
    let guard = to_check(&app, id).await.guard;
    let lifetimes = 1_000;
    let mut rng = Rng(0x5eed_0020);
    let (mut cumulative, mut sliding) = (0, 0);
    for _ in 0..lifetimes {
        let life = Lifetime::draw(&mut rng, LIFETIME_CHECKS, 0.01, 0.01);
        cumulative += usize::from(first_breach(&guard, &life, Counting::Cumulative, LIFETIME_CHECKS).is_some());
        sliding += usize::from(first_breach(&guard, &life, Counting::Sliding, LIFETIME_CHECKS).is_some());
    }
    println!(
        "A/A, 1% errors, {lifetimes} lifetimes of 6 h checked every 5 s: cumulative {cumulative}, sliding 1 h window {sliding}"
    );
    assert!(cumulative * 100 <= lifetimes, "{cumulative} of {lifetimes} A/A guards tripped");
    assert!(sliding * 100 > lifetimes, "a sliding window trips more often: {sliding} of {lifetimes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doubled_error_rate_is_caught_within_ten_thousand_exposures() {
    let app = quiet_app(Db::Sqlite).await;
    let id = app.post(GUARDS, error_guard()).await.expect(201).body["id"].as_i64().unwrap();
    let guard = to_check(&app, id).await.guard;
    let runs = 1_000;
    let checks = usize::try_from(10_000 / EXPOSURES_PER_CHECK).unwrap();
    let mut rng = Rng(0x5eed_0021);
    let mut caught = Vec::new();
    for _ in 0..runs {
        let life = Lifetime::draw(&mut rng, checks, 0.02, 0.01);
        caught.extend(first_breach(&guard, &life, Counting::Cumulative, checks));
    }
    caught.sort_unstable();
    let median = caught.get(caught.len() / 2).map_or(0, |s| *s as u64 * EXPOSURES_PER_CHECK);
    println!("1% → 2% errors: caught in {} of {runs} runs, median {median} exposures per arm", caught.len());
    assert!(caught.len() * 100 >= runs * 95, "caught in {} of {runs} runs", caught.len());
}

/// Exposures and errors of both arms, as an SDK reports them.
fn errors(on: (u64, u64), off: (u64, u64)) -> Value {
    let metric = |variant: &str, n: u64| json!({ "flag": "checkout", "variant": variant, "metric": "checkout_error", "count": n, "sum": n as f64, "sum_squares": n as f64 });
    json!({
        "exposures": [{ "flag": "checkout", "variant": "on", "count": on.0 }, { "flag": "checkout", "variant": "off", "count": off.0 }],
        "metrics": [metric("on", on.1), metric("off", off.1)]
    })
}

async fn a_batch_sent_before_the_guard_never_counts(db: Db) {
    let app = checkout_app(db, Duration::from_millis(100)).await;
    let key = sdk_key(&app, "production", "server").await;
    // A guard that cannot trip (a rate is never below 0) makes the intake keep the metric.
    let mut watcher = error_guard();
    watcher["direction"] = json!("lower_is_worse");
    watcher["threshold"] = json!({ "absolute": 0.0 });
    app.post(GUARDS, watcher).await.expect(201);

    // 20% errors on the new variant, sent just before the guard is made.
    let sent = app
        .client
        .post(format!("{}/api/v1/sdk/metrics", app.base))
        .bearer_auth(&key)
        .json(&errors((20_000, 4_000), (20_000, 100)))
        .send()
        .await
        .expect("sent");
    assert_eq!(sent.status().as_u16(), 202);
    let guard = app.post(GUARDS, error_guard()).await.expect(201).body;
    let path = format!("{GUARDS}/{}", guard["id"]);
    // Many rounds later, with the batch written, it has seen nothing.
    let mut checks = std::collections::HashSet::new();
    while checks.len() < 10 {
        let now = app.get(&path).await.expect(200).body;
        assert_ne!(now["state"], "breached", "{now}");
        if let Some(at) = now["checked_at"].as_str() {
            assert_eq!(now["evidence"]["treatment"]["n"], 0, "{now}");
            checks.insert(at.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config = app.get("/api/v1/flags/checkout/environments/production").await.expect(200).body;
    assert_eq!(config["enabled"], true);
}
