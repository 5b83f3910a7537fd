//! `sse-fanout`: how long a change takes to reach every SSE subscriber of one server, and what an idle
//! subscriber costs the server in memory.
//!
//! ```text
//! cargo build --release -p pennon-server -p pennon-bench
//! target/release/sse-fanout [--subscribers 1000,10000] [--writes 20]
//! ```
//!
//! Three processes on 127.0.0.1: the release `pennon` binary (next to this one unless `--pennon` says
//! otherwise) on a fresh SQLite database, this driver, and a subscriber process (this binary again) holding
//! every SSE connection. The driver toggles a flag through the admin API, notes when the answer arrived,
//! and compares that with the times at which the subscribers read the change, on the shared
//! `CLOCK_MONOTONIC`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::{Parser, Subcommand};
use pennon_bench::fanout::os::{cpu_time, raise_open_files, rss_bytes};
use pennon_bench::fanout::server::Server;
use pennon_bench::fanout::subscribers::{self, KEY_VARIABLE};
use pennon_bench::stats::Latencies;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Targets of issue 5, at 10,000 subscribers.
const P99_TARGET: Duration = Duration::from_millis(250);
const RSS_TARGET_BYTES: f64 = 20.0 * 1024.0;

/// Measures the fan-out of a change to many SSE subscribers.
#[derive(Debug, Parser)]
#[command(name = "sse-fanout")]
struct Args {
    /// Subscriber counts to measure, each on a fresh server.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    subscribers: Vec<usize>,
    /// Writes measured per count.
    #[arg(long, default_value_t = 20)]
    writes: usize,
    /// Pause after each write has reached every subscriber, in milliseconds.
    #[arg(long, default_value_t = 300)]
    pause_ms: u64,
    /// Seconds to let connections settle before the idle memory is read.
    #[arg(long, default_value_t = 3.0)]
    settle: f64,
    /// Longest wait for one write to reach everyone, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Worker threads of the subscriber process.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// The `pennon` binary (default: next to this one).
    #[arg(long)]
    pennon: Option<PathBuf>,
    /// Exit with an error when a target is missed.
    #[arg(long)]
    fail_on_miss: bool,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// The subscriber process (started by the driver).
    #[command(hide = true)]
    Subscribers {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

/// The figures of one subscriber count.
struct Outcome {
    subscribers: usize,
    connected: usize,
    connect: Duration,
    rss_before: u64,
    rss_idle: u64,
    latencies: Latencies,
    /// Receipts read before the write's answer was (counted as zero).
    early: usize,
    /// (write, subscriber) pairs that never arrived.
    missing: usize,
    server_cpu: Duration,
    client_cpu: Duration,
}

impl Outcome {
    fn rss_per_subscriber(&self) -> f64 {
        self.rss_idle.saturating_sub(self.rss_before) as f64 / self.connected.max(1) as f64
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let limit = raise_open_files()?;
    if let Some(Role::Subscribers { addr, count, threads }) = args.role {
        return subscribers::run_process(addr, count, threads);
    }
    let largest = args.subscribers.iter().copied().max().unwrap_or(0) as u64;
    ensure!(largest + 100 < limit, "{largest} subscribers need more open files than the limit of {limit}");
    let pennon = match &args.pennon {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("pennon"),
    };
    ensure!(pennon.exists(), "{} not found: build it with `cargo build --release -p pennon-server`", pennon.display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut outcomes = Vec::new();
    for &n in &args.subscribers {
        let outcome = runtime.block_on(measure(&args, &pennon, n))?;
        report(&[&outcome]);
        outcomes.push(outcome);
    }
    println!("\n{}", loadavg());
    report(&outcomes.iter().collect::<Vec<_>>());
    if args.fail_on_miss {
        for o in outcomes.iter_mut().filter(|o| o.subscribers >= 10_000) {
            ensure!(o.latencies.quantile(0.99) <= P99_TARGET, "p99 over {P99_TARGET:?} at {}", o.subscribers);
            ensure!(o.rss_per_subscriber() <= RSS_TARGET_BYTES, "RSS per subscriber over 20 KiB");
            ensure!(o.missing == 0, "{} receipts missing", o.missing);
        }
    }
    Ok(())
}

/// One subscriber count, on a fresh server.
async fn measure(args: &Args, pennon: &std::path::Path, n: usize) -> anyhow::Result<Outcome> {
    let server = Server::start(pennon).await?;
    let pid = server.pid()?;
    // A first change and a first stream, so that the baseline holds what any running server holds.
    server.toggle().await?;
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let rss_before = rss_bytes(pid)?;

    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args(["subscribers", "--addr", &server.addr.to_string(), "--count", &n.to_string()])
        .args(["--threads", &args.client_threads.to_string()])
        .env(KEY_VARIABLE, &server.sdk_authorization)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let child_pid = child.id().context("the subscriber process has exited")?;
    let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    let ready = next_line(&mut lines).await?;
    let connected: usize = match ready.split_whitespace().collect::<Vec<_>>()[..] {
        ["ready", connected, _failed] => connected.parse()?,
        _ => bail!("unexpected from the subscribers: {ready:?}"),
    };
    let connect = started.elapsed();
    eprintln!("{n} subscribers: {connected} connected in {connect:.1?}");
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let rss_idle = rss_bytes(pid)?;

    let mut outcome = Outcome {
        subscribers: n,
        connected,
        connect,
        rss_before,
        rss_idle,
        latencies: Latencies::with_capacity(connected * args.writes),
        early: 0,
        missing: 0,
        server_cpu: Duration::ZERO,
        client_cpu: Duration::ZERO,
    };
    let mut stdin = child.stdin.take().context("no stdin")?;
    for _ in 0..args.writes {
        let (server_cpu, client_cpu) = (cpu_time(pid)?, cpu_time(child_pid)?);
        let answered = server.toggle().await?;
        let revision = server.revision().await?;
        stdin.write_all(format!("wait {revision} {}\n", args.timeout_ms).as_bytes()).await?;
        let line = next_line(&mut lines).await?;
        let mut words = line.split_whitespace();
        ensure!(words.next() == Some("times") && words.next() == Some(&revision.to_string()), "unexpected: {line:.80}");
        let open: usize = words.next().context("no count")?.parse()?;
        let received: usize = words.next().context("no count")?.parse()?;
        outcome.missing += open.saturating_sub(received) + connected.saturating_sub(open);
        for at in words {
            let at: u64 = at.parse()?;
            if at < answered {
                outcome.early += 1;
            }
            outcome.latencies.record(Duration::from_nanos(at.saturating_sub(answered)));
        }
        outcome.server_cpu += cpu_time(pid)?.saturating_sub(server_cpu);
        outcome.client_cpu += cpu_time(child_pid)?.saturating_sub(client_cpu);
        tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
    }
    outcome.server_cpu /= args.writes.max(1) as u32;
    outcome.client_cpu /= args.writes.max(1) as u32;
    drop(stdin);
    finish(child).await;
    server.stop().await?;
    Ok(outcome)
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> anyhow::Result<String> {
    lines.next_line().await?.context("the subscriber process ended")
}

/// Lets the subscriber process end by itself (its input has ended), or ends it.
async fn finish(mut child: Child) {
    if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

fn loadavg() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!("load average after the run: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn report(outcomes: &[&Outcome]) {
    println!(
        "| subscribers | connected in | RSS before → idle | RSS per idle subscriber | p50 | p99 | max | early | missing | server CPU per write | subscriber CPU per write |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for o in outcomes {
        let mut latencies = o.latencies.clone();
        println!(
            "| {} of {} | {:.1} s | {:.1} → {:.1} MiB | {:.1} KiB | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} | {:.1} ms | {:.1} ms |",
            o.connected,
            o.subscribers,
            o.connect.as_secs_f64(),
            o.rss_before as f64 / 1_048_576.0,
            o.rss_idle as f64 / 1_048_576.0,
            o.rss_per_subscriber() / 1024.0,
            ms(latencies.quantile(0.5)),
            ms(latencies.quantile(0.99)),
            ms(latencies.quantile(1.0)),
            o.early,
            o.missing,
            ms(o.server_cpu),
            ms(o.client_cpu),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
