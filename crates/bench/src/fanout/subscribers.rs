//! The subscriber process: `count` plain HTTP/1.1 connections to `/api/v1/sdk/stream`, each noting the
//! monotonic time at which it read the first event of every new revision.
//!
//! It speaks to the driver over its standard streams, one line each way:
//! - it prints `ready <connected> <failed>` once every connection has had its opening `put`;
//! - on `wait <revision> <timeout ms>` it waits until every open connection has seen that revision (or the
//!   time is up) and prints `times <revision> <open> <received> <t1> <t2> ...` (nanoseconds of
//!   `CLOCK_MONOTONIC`, one per connection that received it);
//! - it ends when its input ends.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};

use super::os::monotonic_nanos;
use super::sse::EventReader;

/// Connections opened at once: the server's accept backlog must not overflow.
const CONNECTING: usize = 128;
/// Bytes read at a time per connection.
const READ_BUFFER: usize = 2048;

/// What every connection reports to.
#[derive(Debug, Default)]
struct Receipts {
    times: Mutex<HashMap<u64, Vec<u64>>>,
    /// Connections that have had their opening `put` and are still open.
    open: AtomicUsize,
    /// Connections that could not be opened, or ended.
    failed: AtomicUsize,
    /// Connections that got as far as the opening `put`.
    ready: AtomicUsize,
    changed: Notify,
}

impl Receipts {
    fn record(&self, revision: u64, at: u64) {
        self.times.lock().unwrap_or_else(PoisonError::into_inner).entry(revision).or_default().push(at);
        self.changed.notify_one();
    }

    fn received(&self, revision: u64) -> usize {
        self.times.lock().unwrap_or_else(PoisonError::into_inner).get(&revision).map_or(0, Vec::len)
    }

    fn take(&self, revision: u64) -> Vec<u64> {
        self.times.lock().unwrap_or_else(PoisonError::into_inner).remove(&revision).unwrap_or_default()
    }
}

/// The environment variable that hands the SDK key to a subscriber process.
pub const KEY_VARIABLE: &str = "PENNON_BENCH_SDK_AUTHORIZATION";

/// The whole of a subscriber process started by a driver: its runtime of `threads` workers, the SDK key from
/// [`KEY_VARIABLE`], and [`run`].
pub fn run_process(addr: SocketAddr, count: usize, threads: usize) -> anyhow::Result<()> {
    let authorization = std::env::var(KEY_VARIABLE).context("no SDK key given")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("subscriber")
        .enable_all()
        .build()?;
    runtime.block_on(run(addr, &authorization, count))
}

/// Runs the subscriber process until its input ends.
pub async fn run(addr: SocketAddr, authorization: &str, count: usize) -> anyhow::Result<()> {
    let request: Arc<[u8]> = format!(
        "GET /api/v1/sdk/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\n\
         Accept: text/event-stream\r\n\r\n"
    )
    .into_bytes()
    .into();
    let receipts = Arc::new(Receipts::default());
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    for _ in 0..count {
        let (request, receipts, connecting) = (request.clone(), receipts.clone(), connecting.clone());
        tokio::spawn(async move {
            if let Err(e) = subscriber(addr, &request, &receipts, &connecting).await {
                receipts.failed.fetch_add(1, Ordering::Relaxed);
                eprintln!("subscriber: {e:#}");
            }
        });
    }
    while receipts.ready.load(Ordering::Relaxed) + receipts.failed.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    say(&format!("ready {} {}", receipts.ready.load(Ordering::Relaxed), receipts.failed.load(Ordering::Relaxed)))?;

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("wait"), Some(revision), Some(timeout)) => {
                let revision: u64 = revision.parse()?;
                let timeout = Duration::from_millis(timeout.parse()?);
                wait(&receipts, revision, timeout).await;
                let open = receipts.open.load(Ordering::Relaxed);
                let times = receipts.take(revision);
                let mut out = format!("times {revision} {open} {}", times.len());
                for t in times {
                    out.push(' ');
                    out.push_str(&t.to_string());
                }
                say(&out)?;
            }
            _ => bail!("unknown command {line:?}"),
        }
    }
    Ok(())
}

/// Waits until every open connection has seen `revision`, or `timeout`.
async fn wait(receipts: &Receipts, revision: u64, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while receipts.received(revision) < receipts.open.load(Ordering::Relaxed) {
        let notified = receipts.changed.notified();
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return;
        }
    }
}

fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// One connection: opens the stream, waits for the opening `put`, then notes the time of each new revision
/// until the stream ends.
async fn subscriber(
    addr: SocketAddr,
    request: &[u8],
    receipts: &Receipts,
    connecting: &Semaphore,
) -> anyhow::Result<()> {
    let permit = connecting.acquire().await?;
    let mut stream = TcpStream::connect(addr).await.context("connecting")?;
    stream.set_nodelay(true)?;
    stream.write_all(request).await?;
    let mut buf = vec![0u8; READ_BUFFER];
    let mut head = Vec::new();
    let body_start = loop {
        let n = stream.read(&mut buf).await?;
        ensure!(n > 0, "the server closed the connection before answering");
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        ensure!(head.len() < 16 * 1024, "response head too long");
    };
    let status = String::from_utf8_lossy(&head[..head.iter().position(|&b| b == b'\r').unwrap_or(0)]).into_owned();
    ensure!(status.starts_with("HTTP/1.1 200"), "the stream was refused: {status}");
    let headers = String::from_utf8_lossy(&head[..body_start]).to_ascii_lowercase();
    ensure!(headers.contains("transfer-encoding: chunked"), "the stream is not chunked");

    let mut reader = EventReader::default();
    // The highest revision seen: 0 until the opening `put`.
    let mut newest = 0u64;
    let mut on_event = |id: Option<u64>, at: u64| {
        let Some(id) = id else { return };
        if newest == 0 {
            receipts.ready.fetch_add(1, Ordering::Relaxed);
            receipts.open.fetch_add(1, Ordering::Relaxed);
        } else if id > newest {
            receipts.record(id, at);
        }
        newest = newest.max(id);
    };
    let rest = &head[body_start..];
    let mut open = reader.feed(rest, |id| on_event(id, monotonic_nanos()));
    drop(permit);
    let mut ended = Ok(());
    while open {
        let n = match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                ended = Err(e);
                break;
            }
        };
        let at = monotonic_nanos();
        open = reader.feed(&buf[..n], |id| on_event(id, at));
    }
    if newest > 0 {
        receipts.open.fetch_sub(1, Ordering::Relaxed);
    }
    ended?;
    bail!("the stream ended")
}
