//! `relay-fanout`: how long a change takes to reach SDK streams held by relays, what an idle stream costs a
//! relay in memory, and how fast a relay evaluates next to its server.
//!
//! ```text
//! cargo build --release -p pennon-server -p pennon-bench
//! target/release/relay-fanout [--streams 20000] [--relays 2] [--writes 20]
//! ```
//!
//! Processes of their own on one machine: the release `pennon` binary (next to this one unless `--pennon`
//! says otherwise) serving a fresh SQLite database, `--relays` × `pennon relay` following it with its SDK
//! key, one subscriber process per relay (this binary again, as in `sse-fanout`) holding that relay's share
//! of the streams, and this driver. The driver toggles a flag through the server's admin API, notes when the
//! answer arrived, and compares that with the times at which the subscribers read the change, on the shared
//! `CLOCK_MONOTONIC`. It checks that the server holds only the relays' streams. Last, with the streams still
//! open, it runs the `http-eval` generator against the first relay and against the server in turn, one flag
//! with the same key, and reports the relay's throughput as a fraction of the server's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::{Parser, Subcommand};
use pennon_bench::fanout::evaluation::{self, Evaluation};
use pennon_bench::fanout::os::{cpu_time, raise_open_files, rss_bytes};
use pennon_bench::fanout::relay::{Relay, gauge};
use pennon_bench::fanout::server::Server;
use pennon_bench::fanout::subscribers::{self, KEY_VARIABLE};
use pennon_bench::load::Load;
use pennon_bench::stats::Latencies;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The server's gauge of open SDK streams.
const SDK_STREAMS: &str = "pennon_sse_subscribers{stream=\"sdk\"}";
/// Targets of issue 22.
const P99_TARGET: Duration = Duration::from_millis(300);
const RSS_TARGET_BYTES: f64 = 20.0 * 1024.0;

/// Measures the fan-out of a change through relays, and a relay's evaluation throughput.
#[derive(Debug, Parser)]
#[command(name = "relay-fanout")]
struct Args {
    /// SDK streams in all, spread evenly over the relays.
    #[arg(long, default_value_t = 20_000)]
    streams: usize,
    /// Relays, each a process following the server.
    #[arg(long, default_value_t = 2)]
    relays: usize,
    /// Writes measured.
    #[arg(long, default_value_t = 20)]
    writes: usize,
    /// Pause after each write has reached every stream, in milliseconds.
    #[arg(long, default_value_t = 300)]
    pause_ms: u64,
    /// Seconds to let connections settle before memory is read.
    #[arg(long, default_value_t = 3.0)]
    settle: f64,
    /// Longest wait for one write to reach everyone, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Worker threads of each subscriber process.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Seconds measured per evaluation run.
    #[arg(long, default_value_t = 3.0)]
    eval_duration: f64,
    /// Seconds of unmeasured warm-up before each evaluation run.
    #[arg(long, default_value_t = 1.0)]
    eval_warmup: f64,
    /// Evaluation rounds, the relay and the server once each per round (interleaved); the median ratio counts.
    #[arg(long, default_value_t = 5)]
    eval_rounds: usize,
    /// Keep-alive connections of the evaluation generator.
    #[arg(long, default_value_t = 16)]
    eval_connections: usize,
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
    /// A subscriber process (started by the driver).
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

/// A subscriber process and its standard streams.
struct Subscribers {
    child: Child,
    pid: u32,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    connected: usize,
}

/// What one relay held.
struct RelayFigures {
    streams: usize,
    rss_before: u64,
    rss_idle: u64,
}

impl RelayFigures {
    fn rss_per_stream(&self) -> f64 {
        self.rss_idle.saturating_sub(self.rss_before) as f64 / self.streams.max(1) as f64
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let limit = raise_open_files()?;
    if let Some(Role::Subscribers { addr, count, threads }) = args.role {
        return subscribers::run_process(addr, count, threads);
    }
    ensure!(args.relays > 0, "--relays must be at least 1");
    let share = args.streams.div_ceil(args.relays) as u64;
    ensure!(share + 100 < limit, "{share} streams per process need more open files than the limit of {limit}");
    let pennon = match &args.pennon {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("pennon"),
    };
    ensure!(pennon.exists(), "{} not found: build it with `cargo build --release -p pennon-server`", pennon.display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let missed = runtime.block_on(measure(&args, &pennon))?;
    println!("\n{}", loadavg());
    if args.fail_on_miss && missed > 0 {
        bail!("{missed} target(s) missed");
    }
    Ok(())
}

/// What the writes measured.
struct Delivery {
    connected: usize,
    connect: Duration,
    latencies: Latencies,
    /// Receipts read before the write's answer was (counted as zero).
    early: usize,
    /// (write, stream) pairs that never arrived.
    missing: usize,
    /// The SDK streams the server's and the relays' gauges counted with every stream open.
    upstream_streams: u64,
    relay_streams: u64,
    /// CPU time per write of the server, the relays and the subscriber processes.
    cpu: [Duration; 3],
}

/// The whole run; returns how many targets were missed.
async fn measure(args: &Args, pennon: &Path) -> anyhow::Result<usize> {
    let server = Server::start(pennon).await?;
    // A first change, so that the relays' baseline holds what any running relay holds.
    server.toggle().await?;
    let mut relays = Vec::new();
    for _ in 0..args.relays {
        relays.push(Relay::start(pennon, server.addr, &server.sdk_authorization).await?);
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let mut figures = Vec::new();
    for relay in &relays {
        figures.push(RelayFigures { streams: 0, rss_before: rss_bytes(relay.pid()?)?, rss_idle: 0 });
    }

    let started = Instant::now();
    let mut processes = Vec::new();
    for (i, relay) in relays.iter().enumerate() {
        let count = args.streams / args.relays + usize::from(i < args.streams % args.relays);
        processes.push(spawn_subscribers(relay.addr, count, args.client_threads, &server.sdk_authorization)?);
    }
    for (p, f) in processes.iter_mut().zip(&mut figures) {
        let ready = next_line(&mut p.lines).await?;
        p.connected = match ready.split_whitespace().collect::<Vec<_>>()[..] {
            ["ready", connected, _failed] => connected.parse()?,
            _ => bail!("unexpected from the subscribers: {ready:?}"),
        };
        f.streams = p.connected;
    }
    let connect = started.elapsed();
    let connected: usize = processes.iter().map(|p| p.connected).sum();
    eprintln!("{connected} of {} streams connected to {} relays in {connect:.1?}", args.streams, args.relays);
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    for (relay, f) in relays.iter().zip(&mut figures) {
        f.rss_idle = rss_bytes(relay.pid()?)?;
    }
    let mut delivery = deliver(args, &server, &relays, &mut processes).await?;
    delivery.connect = connect;

    let eval = compare_evaluation(args, relays[0].addr, server.addr, &server.sdk_authorization).await?;
    for p in processes {
        drop(p.stdin);
        finish(p.child).await;
    }
    for relay in relays {
        relay.stop().await?;
    }
    server.stop().await?;
    Ok(report(args, &mut delivery, &figures, &eval))
}

/// Counts the streams, then makes the writes and collects when each stream received each.
async fn deliver(
    args: &Args,
    server: &Server,
    relays: &[Relay],
    processes: &mut [Subscribers],
) -> anyhow::Result<Delivery> {
    let connected: usize = processes.iter().map(|p| p.connected).sum();
    let mut out = Delivery {
        connected,
        connect: Duration::ZERO,
        latencies: Latencies::with_capacity(connected * args.writes),
        early: 0,
        missing: 0,
        upstream_streams: gauge(server.addr, SDK_STREAMS).await?,
        relay_streams: 0,
        cpu: [Duration::ZERO; 3],
    };
    for relay in relays {
        out.relay_streams += gauge(relay.addr, SDK_STREAMS).await?;
    }
    let server_pid = [server.pid()?];
    let relay_pids: Vec<u32> = relays.iter().map(Relay::pid).collect::<anyhow::Result<_>>()?;
    let client_pids: Vec<u32> = processes.iter().map(|p| p.pid).collect();
    let groups = [&server_pid[..], &relay_pids, &client_pids];
    for _ in 0..args.writes {
        let before = [cpu_sum(groups[0])?, cpu_sum(groups[1])?, cpu_sum(groups[2])?];
        let answered = server.toggle().await?;
        let revision = server.revision().await?;
        for p in processes.iter_mut() {
            p.stdin.write_all(format!("wait {revision} {}\n", args.timeout_ms).as_bytes()).await?;
        }
        for p in processes.iter_mut() {
            let line = next_line(&mut p.lines).await?;
            let mut words = line.split_whitespace();
            ensure!(
                words.next() == Some("times") && words.next() == Some(&revision.to_string()),
                "unexpected: {line:.80}"
            );
            let open: usize = words.next().context("no count")?.parse()?;
            let received: usize = words.next().context("no count")?.parse()?;
            out.missing += open.saturating_sub(received) + p.connected.saturating_sub(open);
            for at in words {
                let at: u64 = at.parse()?;
                out.early += usize::from(at < answered);
                out.latencies.record(Duration::from_nanos(at.saturating_sub(answered)));
            }
        }
        for (cpu, (group, before)) in out.cpu.iter_mut().zip(groups.iter().zip(before)) {
            *cpu += cpu_sum(group)?.saturating_sub(before);
        }
        tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
    }
    for cpu in &mut out.cpu {
        *cpu /= args.writes.max(1) as u32;
    }
    Ok(out)
}

/// Prints the tables and the targets; returns how many targets were missed.
fn report(args: &Args, d: &mut Delivery, figures: &[RelayFigures], eval: &Evaluation) -> usize {
    println!(
        "\n| streams (relays) | connected in | p50 | p99 | max | early | missing | upstream SDK streams | relays' SDK streams | server / relays / subscribers CPU per write |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} of {} ({}) | {:.1} s | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} | {} | {} | {:.1} / {:.1} / {:.1} ms |",
        d.connected,
        args.streams,
        args.relays,
        d.connect.as_secs_f64(),
        ms(d.latencies.quantile(0.5)),
        ms(d.latencies.quantile(0.99)),
        ms(d.latencies.quantile(1.0)),
        d.early,
        d.missing,
        d.upstream_streams,
        d.relay_streams,
        ms(d.cpu[0]),
        ms(d.cpu[1]),
        ms(d.cpu[2]),
    );
    println!("\n| relay | idle streams | RSS before → with streams | RSS per idle stream |");
    println!("|---:|---:|---:|---:|");
    for (i, f) in figures.iter().enumerate() {
        println!(
            "| {} | {} | {:.1} → {:.1} MiB | {:.1} KiB |",
            i + 1,
            f.streams,
            f.rss_before as f64 / 1_048_576.0,
            f.rss_idle as f64 / 1_048_576.0,
            f.rss_per_stream() / 1024.0
        );
    }
    println!("\n{eval}");

    let p99 = d.latencies.quantile(0.99);
    let worst_rss = figures.iter().map(RelayFigures::rss_per_stream).fold(0.0, f64::max);
    let checks = [
        (format!("p99 delivery {:.1} ms ≤ {} ms", ms(p99), P99_TARGET.as_millis()), p99 <= P99_TARGET),
        (
            format!("every stream received every write ({} missing)", d.missing),
            d.missing == 0 && d.connected == args.streams,
        ),
        (
            format!("the upstream holds only the relays' streams ({})", d.upstream_streams),
            d.upstream_streams == args.relays as u64,
        ),
        (format!("relay memory per idle stream {:.1} KiB ≤ 20 KiB", worst_rss / 1024.0), worst_rss <= RSS_TARGET_BYTES),
        (
            format!("relay evaluation {:.2}× the server's ≥ {}×", eval.ratio, evaluation::TARGET),
            eval.ratio >= evaluation::TARGET,
        ),
    ];
    println!();
    for (what, met) in &checks {
        println!("- {what}: {}", if *met { "met" } else { "MISSED" });
    }
    checks.iter().filter(|(_, met)| !met).count()
}

/// Runs the evaluation comparison off the driver's thread, with the streams still open.
async fn compare_evaluation(
    args: &Args,
    relay: SocketAddr,
    server: SocketAddr,
    authorization: &str,
) -> anyhow::Result<Evaluation> {
    let load = Load {
        connections: args.eval_connections,
        warmup: Duration::from_secs_f64(args.eval_warmup),
        duration: Duration::from_secs_f64(args.eval_duration),
        rate: None,
    };
    let (rounds, authorization) = (args.eval_rounds, authorization.to_owned());
    tokio::task::spawn_blocking(move || evaluation::compare(relay, server, &authorization, load, rounds)).await?
}

fn spawn_subscribers(
    addr: SocketAddr,
    count: usize,
    threads: usize,
    authorization: &str,
) -> anyhow::Result<Subscribers> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["subscribers", "--addr", &addr.to_string(), "--count", &count.to_string()])
        .args(["--threads", &threads.to_string()])
        .env(KEY_VARIABLE, authorization)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("the subscriber process has exited")?;
    let stdin = child.stdin.take().context("no stdin")?;
    let lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    Ok(Subscribers { child, pid, stdin, lines, connected: 0 })
}

fn cpu_sum(pids: &[u32]) -> anyhow::Result<Duration> {
    pids.iter().map(|&pid| cpu_time(pid)).sum()
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> anyhow::Result<String> {
    lines.next_line().await?.context("a subscriber process ended")
}

/// Lets a subscriber process end by itself (its input has ended), or ends it.
async fn finish(mut child: Child) {
    if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

fn loadavg() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!("load average after the run: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
