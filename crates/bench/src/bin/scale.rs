//! `scale`: what one change costs as the environment grows (see `docs/benchmarks.md`).
//!
//! For each size (`--sizes`, default 50, 1,000, 10,000 and 50,000 flags of realistic shapes, written into a
//! fresh SQLite database in bulk) it starts the release `pennon` binary, connects one raw SSE subscriber and
//! one SDK client (on a thread of its own), and measures:
//!
//! - the server's idle RSS once the flags are loaded;
//! - sequential write throughput over the real HTTP API (`--writes` toggles of flags spread over the
//!   environment, each answered before the next is sent) and the server's CPU per write (`/proc/<pid>/stat`);
//! - the time from a write's answer to its `patch` frame on the subscribed stream, p50 and p99 over
//!   `--changes` writes sent one at a time;
//! - the SDK client's CPU per applied patch (its thread's run time, `/proc/thread-self/schedstat`).
//!
//! Then it prints the table and the target ratios: writes/s at 10,000 flags ≥ 0.8× the rate at 50, stream
//! latency at 10,000 ≤ 1.5× the latency at 50, SDK patch cost within 2× across sizes.
//!
//! ```text
//! cargo build --release -p pennon-server -p pennon-bench
//! target/release/scale --sizes 50,1000,10000,50000
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use pennon_bench::scale::server::Server;
use pennon_bench::scale::{environment, process_cpu, process_rss, thread_cpu};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Parser)]
struct Args {
    /// Numbers of flags, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [50usize, 1_000, 10_000, 50_000])]
    sizes: Vec<usize>,
    /// Writes for the throughput figure.
    #[arg(long, default_value_t = 300)]
    writes: usize,
    /// Writes for the latency figure (one at a time, each waited for on the stream).
    #[arg(long, default_value_t = 100)]
    changes: usize,
    /// The server binary.
    #[arg(long, default_value = "target/release/pennon")]
    pennon: PathBuf,
}

#[derive(Debug)]
struct Row {
    flags: usize,
    load: Duration,
    rss: u64,
    writes_per_second: f64,
    server_cpu_per_write: Duration,
    p50: Duration,
    p99: Duration,
    sdk_cpu_per_patch: Duration,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rows = Vec::new();
    for &flags in &args.sizes {
        let row = measure(&args, flags).await.with_context(|| format!("{flags} flags"))?;
        eprintln!("{row:?}");
        rows.push(row);
    }
    print(&rows);
    Ok(())
}

/// The flags the writes toggle: spread over the environment.
fn targets(flags: usize, n: usize) -> Vec<String> {
    (0..n).map(|i| environment::key((i * 7919 + flags / 2) % flags)).collect()
}

async fn measure(args: &Args, flags: usize) -> anyhow::Result<Row> {
    let (server, load) = Server::with_flags(&args.pennon, flags).await?;
    let pid = server.pid()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = process_rss(pid).context("no RSS")?;

    let (frames_tx, mut frames) = mpsc::unbounded_channel();
    let stream = tokio::spawn(subscribe(server.base(), server.sdk_key.clone(), frames_tx));
    let sdk = Sdk::start(server.base(), server.sdk_key.clone()).await?;
    let start_revision = server.revision().await?;
    // The stream's `put` first.
    let mut seen = 0;
    while seen < start_revision {
        seen = frames.recv().await.context("the stream ended")?.0;
    }

    // Throughput: sequential writes, each answered before the next.
    let to_toggle = targets(flags, args.writes);
    let (cpu_before, sdk_before) = (process_cpu(pid).context("no CPU")?, sdk.cpu().await?);
    let started = Instant::now();
    for flag in &to_toggle {
        server.toggle(flag).await?;
    }
    let elapsed = started.elapsed();
    let server_cpu = process_cpu(pid).context("no CPU")?.saturating_sub(cpu_before);

    // Latency: one change at a time, from its answer to its frame.
    let mut latencies = Vec::with_capacity(args.changes);
    let mut revision = start_revision + args.writes as u64;
    let mut arrivals: HashMap<u64, Instant> = HashMap::new();
    for flag in targets(flags, args.changes) {
        server.toggle(&flag).await?;
        let answered = Instant::now();
        revision += 1;
        while !arrivals.contains_key(&revision) {
            let (r, at) = tokio::time::timeout(Duration::from_secs(30), frames.recv())
                .await
                .context("no frame within 30 s")?
                .context("the stream ended")?;
            arrivals.insert(r, at);
        }
        latencies.push(arrivals[&revision].saturating_duration_since(answered));
    }
    sdk.wait_for(revision).await?;
    let sdk_cpu = sdk.cpu().await?.saturating_sub(sdk_before);
    let patches = (args.writes + args.changes) as u32;
    latencies.sort();
    let quantile = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    stream.abort();
    drop(sdk);
    let mut server = server;
    server.stop().await?;
    Ok(Row {
        flags,
        load,
        rss,
        writes_per_second: args.writes as f64 / elapsed.as_secs_f64(),
        server_cpu_per_write: server_cpu / args.writes as u32,
        p50: quantile(0.5),
        p99: quantile(0.99),
        sdk_cpu_per_patch: sdk_cpu / patches,
    })
}

/// Reads the SDK stream and sends each frame's revision (its `id:`) with the time it arrived.
async fn subscribe(base: String, key: String, out: mpsc::UnboundedSender<(u64, Instant)>) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let mut response = http.get(format!("{base}/api/v1/sdk/stream")).bearer_auth(key).send().await?;
    if !response.status().is_success() {
        bail!("stream: {}", response.status());
    }
    let mut pending = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let at = Instant::now();
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = pending.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&frame);
            if let Some(id) = text.lines().find_map(|l| l.strip_prefix("id: ")) {
                let _ = out.send((id.trim().parse()?, at));
            }
        }
    }
    Ok(())
}

/// An SDK client on a thread (and a single-threaded runtime) of its own, so that the CPU its patches cost is
/// that thread's.
struct Sdk {
    commands: mpsc::UnboundedSender<Command>,
}

enum Command {
    Cpu(oneshot::Sender<Duration>),
    WaitFor(u64, oneshot::Sender<bool>),
}

impl Sdk {
    async fn start(base: String, key: String) -> anyhow::Result<Sdk> {
        let (commands, mut rx) = mpsc::unbounded_channel::<Command>();
        let (ready_tx, ready) = oneshot::channel::<anyhow::Result<()>>();
        std::thread::Builder::new().name("sdk-client".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async move {
                let client = match pennon_sdk::Client::builder(base, key).events(false).build().await {
                    Ok(client) => client,
                    Err(e) => return drop(ready_tx.send(Err(e.into()))),
                };
                let ready = client.wait_until_ready(Duration::from_mins(2)).await.map_err(anyhow::Error::from);
                let _ = ready_tx.send(ready);
                while let Some(command) = rx.recv().await {
                    match command {
                        Command::Cpu(reply) => drop(reply.send(thread_cpu().unwrap_or_default())),
                        Command::WaitFor(revision, reply) => {
                            let deadline = Instant::now() + Duration::from_secs(30);
                            while client.revision() < revision && Instant::now() < deadline {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            let _ = reply.send(client.revision() >= revision);
                        }
                    }
                }
                client.close().await;
            });
        })?;
        ready.await.context("the SDK thread ended")??;
        Ok(Sdk { commands })
    }

    async fn cpu(&self) -> anyhow::Result<Duration> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Cpu(tx)).ok().context("the SDK thread ended")?;
        Ok(rx.await?)
    }

    async fn wait_for(&self, revision: u64) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::WaitFor(revision, tx)).ok().context("the SDK thread ended")?;
        if !rx.await? {
            bail!("the SDK client did not reach revision {revision}");
        }
        Ok(())
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn print(rows: &[Row]) {
    println!(
        "| flags | load (bulk + start) | idle RSS | writes/s | server CPU per write | write → stream p50 | p99 | SDK CPU per patch |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.1} s | {:.1} MiB | {:.0} | {} | {} | {} | {} |",
            r.flags,
            r.load.as_secs_f64(),
            r.rss as f64 / (1024.0 * 1024.0),
            r.writes_per_second,
            us(r.server_cpu_per_write),
            ms(r.p50),
            ms(r.p99),
            us(r.sdk_cpu_per_patch),
        );
    }
    let (Some(small), Some(big)) = (rows.first(), rows.iter().find(|r| r.flags == 10_000).or(rows.last())) else {
        return;
    };
    if rows.len() > 1 {
        let per_thousand = (big.rss as f64 - small.rss as f64) / (big.flags - small.flags) as f64 * 1000.0;
        println!();
        println!(
            "idle RSS per 1,000 flags (server, {} → {}): {:.2} MiB",
            small.flags,
            big.flags,
            per_thousand / 1_048_576.0
        );
        println!(
            "writes/s at {} / at {}: {:.2} (target ≥ 0.8)",
            big.flags,
            small.flags,
            big.writes_per_second / small.writes_per_second
        );
        println!(
            "write → stream p50 at {} / at {}: {:.2} (target ≤ 1.5)",
            big.flags,
            small.flags,
            big.p50.as_secs_f64() / small.p50.as_secs_f64()
        );
        let costs: Vec<f64> = rows.iter().map(|r| r.sdk_cpu_per_patch.as_secs_f64()).collect();
        let (min, max) = costs.iter().fold((f64::MAX, 0f64), |(lo, hi), &c| (lo.min(c), hi.max(c)));
        println!("SDK CPU per patch, largest / smallest over every size: {:.2} (target ≤ 2)", max / min);
    }
}
