//! `http-eval`: how fast a real Pennon server answers `POST /api/v1/evaluate`, next to the ceiling of a
//! constant-JSON axum endpoint measured the same way, in one run.
//!
//! ```text
//! cargo run --release -p pennon-bench -- [--rounds 5] [--duration 3] [--connections 16] [--server-threads 1]
//! ```
//!
//! Everything runs in this process on 127.0.0.1: the servers on one tokio runtime (one worker thread by
//! default), the load generator on a thread of its own that polls its connections without sleeping (see
//! [`pennon_bench::load`]), so that on a machine of two cores each has one. Each scenario is measured back
//! to back (the most it can answer), once a round over a few rounds, its ratio to the ceiling taken within
//! each round and the median kept; then at half that rate on a fixed schedule, for the latency a server sees
//! when it is not saturated (interleaved rounds again, the round with the median p99 kept).

use std::time::Duration;

use anyhow::{Context as _, ensure};
use clap::Parser;
use pennon_bench::load::{self, Load, Outcome, Target};
use pennon_bench::{ceiling, cpu, pennon};

/// Measures Pennon's HTTP evaluation against a constant-JSON ceiling.
#[derive(Debug, Clone, Parser)]
#[command(name = "http-eval")]
struct Args {
    /// Seconds measured per run.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Seconds of unmeasured warm-up before each run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Rounds of runs, each scenario once a round (interleaved); the medians count.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Worker threads of the servers' runtime.
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// Exit with an error when a target is missed.
    #[arg(long)]
    fail_on_miss: bool,
    /// Also the browser's requests: (d) the CORS preflight of `POST /api/v1/evaluate` from an allowed
    /// origin, (e) one flag with a client key and that `Origin`.
    #[arg(long)]
    browser: bool,
}

/// The servers' CPU time (per request, or so far), where `/proc` tells.
type Cpu = Option<Duration>;

/// One row of the report.
struct Scenario {
    name: &'static str,
    max: Outcome,
    half: Outcome,
    /// The p99 of every half-rate round, in the order they ran.
    half_p99s: Vec<Duration>,
    /// Each back-to-back round's throughput as a fraction of the ceiling's in the same round.
    ratios: Vec<f64>,
    /// Failed requests over every run of the scenario.
    errors: u64,
    /// In the back-to-back run.
    cpu: Cpu,
    /// In the half-rate run kept.
    half_cpu: Cpu,
}

const HALF_RATE_P99_LIMIT: Duration = Duration::from_millis(5);

/// The `pennon` binary's allocator (see `crates/server/src/main.rs`): the server runs in-process here, so
/// it allocates through this binary's allocator, as deployed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // As the `pennon` binary logs.
    pennon_server::telemetry::logging::init(pennon_server::app::config::LogFormat::Text);

    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.max(1))
        .thread_name("bench-server")
        .enable_all()
        .build()
        .context("building the servers' runtime")?;
    let (ceiling_addr, pennon) =
        servers.block_on(async { anyhow::Ok((ceiling::spawn().await?, pennon::start().await?)) })?;

    // Every request carries the same credential, so the ceiling reads the same bytes as the evaluations.
    let key = Some(pennon.authorization.as_str());
    let (one, all) = (pennon::bodies(1024, Some("flag-00")), pennon::bodies(1024, None));
    let mut targets = vec![
        ("(a) constant JSON (ceiling)", Target::new(ceiling_addr, ceiling::PATH, &one, key)),
        ("(b) evaluate one flag", Target::new(pennon.server.addr, pennon::PATH, &one, key)),
        ("(c) evaluate all 50 flags", Target::new(pennon.server.addr, pennon::PATH, &all, key)),
    ];
    if args.browser {
        targets.extend(browser_targets(&pennon, &one));
    }
    check_answers(&targets)?;

    println!("{}", setup(&args));
    let generator_args = args.clone();
    let measured = std::thread::Builder::new()
        .name("bench-client".into())
        .spawn(move || measure(targets, &generator_args))
        .context("starting the generator's thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("the generator's thread panicked"))?;
    let missed = report(&mut measured?);
    servers.block_on(pennon.server.shutdown());
    if missed > 0 && args.fail_on_miss {
        anyhow::bail!("{missed} target(s) missed");
    }
    Ok(())
}

/// Measures every target back to back and then at half that rate; on the generator's thread.
fn measure(targets: Vec<(&'static str, Target)>, args: &Args) -> anyhow::Result<Vec<Scenario>> {
    let load = Load {
        connections: args.connections,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        rate: None,
    };
    // Back-to-back runs, the scenarios interleaved round by round (in reverse order every other round) so that
    // the machine's speed, which drifts over minutes here, is about the same for the runs compared: each
    // round gives each scenario's ratio to the ceiling, and the median of those counts.
    let mut rounds: Vec<Vec<(Outcome, Cpu)>> = vec![Vec::new(); targets.len()];
    for round in 1..=args.rounds.max(1) {
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for i in order {
            let (name, target) = &targets[i];
            eprintln!("round {round}: {name} ...");
            let before = cpu::threads_cpu(SERVER_THREADS);
            let max = load::run(target, load)?;
            ensure!(max.ok > 0, "{name}: no request succeeded");
            let cpu = per_request(before, max.sent);
            rounds[i].push((max, cpu));
        }
    }
    let ratios: Vec<Vec<f64>> = rounds
        .iter()
        .map(|runs| {
            runs.iter().zip(&rounds[0]).map(|(run, ceiling)| run.0.throughput() / ceiling.0.throughput()).collect()
        })
        .collect();
    let mut maxima = Vec::new();
    for (((name, target), mut runs), ratios) in targets.into_iter().zip(rounds).zip(ratios) {
        runs.sort_by(|x, y| x.0.throughput().total_cmp(&y.0.throughput()));
        let errors: u64 = runs.iter().map(|(run, _)| run.errors).sum();
        let (max, cpu) = runs.swap_remove(runs.len() / 2);
        maxima.push((name, target, max, cpu, errors, ratios));
    }
    // Half-rate runs, interleaved over the rounds in the same way; each scenario keeps its median round by
    // p99, and every round is reported: a hiccup of the machine (another process or the host taking a core
    // for some milliseconds) can set a 4-second run's p99 alone.
    let mut halves: Vec<Vec<(Outcome, Cpu)>> = vec![Vec::new(); maxima.len()];
    for round in 1..=args.rounds.max(1) {
        for ((name, target, max, ..), runs) in maxima.iter().zip(&mut halves) {
            let rate = max.throughput() / 2.0;
            eprintln!("round {round}: {name} at {rate:.0} requests per second ...");
            let before = cpu::threads_cpu(SERVER_THREADS);
            let half = load::run(target, Load { rate: Some(rate), ..load })?;
            let cpu = per_request(before, half.sent);
            runs.push((half, cpu));
        }
    }
    let mut scenarios = Vec::new();
    for ((name, _, max, cpu, max_errors, ratios), mut runs) in maxima.into_iter().zip(halves) {
        let p99s: Vec<Duration> = runs.iter_mut().map(|(r, _)| r.latencies.quantile(0.99)).collect();
        let mut by_p99: Vec<usize> = (0..runs.len()).collect();
        by_p99.sort_by_key(|&i| p99s[i]);
        let errors = max_errors + runs.iter().map(|(r, _)| r.errors).sum::<u64>();
        let (half, half_cpu) = runs.swap_remove(by_p99[by_p99.len() / 2]);
        scenarios.push(Scenario { name, max, half, half_p99s: p99s, ratios, errors, cpu, half_cpu });
    }
    Ok(scenarios)
}

/// The servers' threads, by name.
const SERVER_THREADS: &str = "bench-server";

/// Server CPU time per request since `before`.
fn per_request(before: Cpu, requests: u64) -> Cpu {
    let n = u32::try_from(requests.max(1)).unwrap_or(u32::MAX);
    before.zip(cpu::threads_cpu(SERVER_THREADS)).map(|(s0, s1)| s1.saturating_sub(s0) / n)
}

/// Checks that each target answers what it is meant to before it is measured.
fn check_answers(targets: &[(&str, Target)]) -> anyhow::Result<()> {
    let ceiling = load::probe(&targets[0].1)?;
    ensure!(ceiling["variant"] == "on", "the ceiling answered {ceiling}");
    let one = load::probe(&targets[1].1)?;
    ensure!(one["reason"]["kind"] == "FALLTHROUGH" && one["reason"]["bucket"].is_u64(), "one flag: {one}");
    let all = load::probe(&targets[2].1)?;
    let evaluations = all["evaluations"].as_array().map_or(&[][..], Vec::as_slice);
    ensure!(evaluations.len() == pennon::FLAGS, "all flags answered {} evaluations", evaluations.len());
    ensure!(evaluations.iter().all(|e| e["reason"]["kind"] == "FALLTHROUGH"), "all flags: {all}");
    if let [.., (_, preflight), (_, browser)] = targets
        && targets.len() == 5
    {
        load::probe_bytes(preflight)?;
        let browser = load::probe(browser)?;
        ensure!(browser["reason"]["kind"] == "FALLTHROUGH", "the browser's flag: {browser}");
    }
    Ok(())
}

/// The browser's preflight and actual request, each from the environment's allowed origin.
fn browser_targets(pennon: &pennon::Pennon, bodies: &[bytes::Bytes]) -> [(&'static str, Target); 2] {
    let (addr, host) = (pennon.server.addr, pennon.server.addr.to_string());
    let preflight = [
        ("origin", pennon::ORIGIN),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "authorization,content-type"),
    ];
    let preflight = vec![pennon_bench::wire::request("OPTIONS", &host, pennon::PATH, &preflight, None)];
    let actual = [("authorization", pennon.client_authorization.as_str()), ("origin", pennon::ORIGIN)];
    let actual =
        bodies.iter().map(|body| pennon_bench::wire::request("POST", &host, pennon::PATH, &actual, Some(body)));
    [
        ("(d) browser: CORS preflight", Target::written(addr, pennon::PATH, preflight)),
        ("(e) browser: one flag, client key", Target::written(addr, pennon::PATH, actual.collect())),
    ]
}

fn setup(args: &Args) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split(' ').next().map(str::to_owned));
    format!(
        "setup: {cpus} CPUs (load average {}); servers and generator in one process on 127.0.0.1, HTTP/1.1 \
         keep-alive; server runtime {} worker thread(s), generator one polling thread; {} connections back to \
         back (ratios to the ceiling per round, median of {} interleaved rounds) and at half rate (as many interleaved rounds, the median p99 \
         kept); per run {} s warm-up + {} s measured; Pennon on SQLite with the default log filter (info)",
        load.as_deref().unwrap_or("?"),
        args.server_threads,
        args.connections,
        args.rounds.max(1),
        args.warmup,
        args.duration,
    )
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The median of `values` (the mean of the middle two of an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

/// Prints the table and the targets; returns how many targets were missed.
fn report(scenarios: &mut [Scenario]) -> usize {
    println!();
    println!(
        "| scenario | req/s | p50 | p90 | p99 | errors | half-rate req/s | half-rate p50 | half-rate p99 | vs ceiling \
         | server CPU/req | half-rate server CPU/req |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in scenarios.iter_mut() {
        let (max, half) = (&mut s.max, &mut s.half);
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {:.0} | {} | {} | {:.0}% | {} | {} |",
            s.name,
            max.throughput(),
            ms(max.latencies.quantile(0.5)),
            ms(max.latencies.quantile(0.9)),
            ms(max.latencies.quantile(0.99)),
            s.errors,
            half.throughput(),
            ms(half.latencies.quantile(0.5)),
            ms(half.latencies.quantile(0.99)),
            100.0 * median(&s.ratios),
            s.cpu.map_or("?".into(), us),
            s.half_cpu.map_or("?".into(), us),
        );
    }
    println!();
    for s in &scenarios[1..] {
        let rounds: Vec<String> = s.ratios.iter().map(|r| format!("{:.0}%", r * 100.0)).collect();
        println!("vs ceiling by round, {}: {}", s.name, rounds.join(", "));
    }
    for s in scenarios.iter() {
        let rounds: Vec<String> = s.half_p99s.iter().map(|d| ms(*d)).collect();
        println!("half-rate p99 by round, {}: {}", s.name, rounds.join(", "));
    }
    println!();
    let mut missed = 0;
    let mut check = |what: String, ok: bool| {
        println!("{} {what}", if ok { "met   " } else { "MISSED" });
        missed += usize::from(!ok);
    };
    for (s, floor) in scenarios[1..].iter().zip([0.70, 0.35]) {
        let ratio = median(&s.ratios);
        check(
            format!("{}: {:.0}% of the ceiling (target >= {:.0}%)", s.name, ratio * 100.0, floor * 100.0),
            ratio >= floor,
        );
    }
    for s in scenarios.iter_mut().skip(1) {
        let p99 = s.half.latencies.quantile(0.99);
        check(
            format!("{}: p99 {} at half the maximum rate (target <= 5 ms)", s.name, ms(p99)),
            p99 <= HALF_RATE_P99_LIMIT,
        );
        if s.errors > 0 {
            check(format!("{}: {} failed requests (target 0)", s.name, s.errors), false);
        }
    }
    missed
}
