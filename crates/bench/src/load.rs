//! An HTTP/1.1 load generator: a fixed number of keep-alive connections, each with one request in flight,
//! either back to back (the most the server can take) or on a fixed schedule (a target rate; a request the
//! server's slowness held back is measured from when it was due, so that a stalled server cannot hide its
//! queueing delay).
//!
//! The generator is one thread that never sleeps: it polls its non-blocking connections in turn. On a
//! machine of two cores that gives the server the other core as its own, and it keeps the generator out of
//! the measurement: a generator that slept between answers would be woken by each of the server's writes,
//! and on a virtual machine the server's thread pays for that wake-up (an inter-processor interrupt), which
//! a slower server pays more often. Sending on time needs no timer either: a request goes out within a few
//! microseconds of when it is due.

use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;

use crate::stats::Latencies;
use crate::wire::{self, Answer, AnswerBuf};

/// What to send: `POST path` with one of a list of bodies, in turn.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server.
    pub addr: SocketAddr,
    /// The request path.
    pub path: String,
    /// The requests as written on the wire, sent round-robin (each connection starts at a different one).
    requests: Arc<Vec<Bytes>>,
}

impl Target {
    /// `POST path` on `addr` with each of the JSON `bodies` and the `Authorization` value, if any.
    pub fn new(addr: SocketAddr, path: &str, bodies: &[Bytes], authorization: Option<&str>) -> Self {
        let host = addr.to_string();
        let requests = bodies.iter().map(|body| wire::post(&host, path, authorization, body)).collect();
        Target { addr, path: path.to_owned(), requests: Arc::new(requests) }
    }

    /// Requests on `addr` already written out ([`wire::request`]), sent round-robin.
    pub fn written(addr: SocketAddr, path: &str, requests: Vec<Bytes>) -> Self {
        Target { addr, path: path.to_owned(), requests: Arc::new(requests) }
    }
}

/// How to send it.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Keep-alive connections, each with one request in flight.
    pub connections: usize,
    /// Requests sent but not measured, to warm up connections, allocators and caches.
    pub warmup: Duration,
    /// How long requests are measured.
    pub duration: Duration,
    /// Requests per second across all connections; `None` sends back to back.
    pub rate: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Requests answered 200 during the measured period.
    pub ok: u64,
    /// Requests answered otherwise, or that failed.
    pub errors: u64,
    /// Every request sent, warm-up included: what the server did work for.
    pub sent: u64,
    /// The measured period.
    pub elapsed: Duration,
    /// Latency of each measured request.
    pub latencies: Latencies,
}

impl Outcome {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// How long the last answers may take once the run is over.
const DRAIN: Duration = Duration::from_secs(10);

/// One connection and the request it has in flight.
struct Conn {
    stream: TcpStream,
    answer: AnswerBuf,
    /// The next request to send, as an index into the target's requests.
    next: usize,
    /// With a schedule, when the next request is due.
    due: Instant,
    /// When the previous answer arrived: a request it held past its due time was held by the server.
    answered_at: Instant,
    /// The request in flight: where its latency counts from, and how much of it is written.
    in_flight: Option<(Instant, usize)>,
}

impl Conn {
    fn open(addr: SocketAddr, next: usize, due: Instant) -> anyhow::Result<Self> {
        let stream = wire::connect(addr)?;
        stream.set_nonblocking(true)?;
        Ok(Conn { stream, answer: AnswerBuf::with_capacity(16 << 10), next, due, answered_at: due, in_flight: None })
    }

    /// Writes what is left of the request in flight; `true` once all of it is written.
    fn write(&mut self, request: &[u8]) -> io::Result<bool> {
        let Some((_, written)) = &mut self.in_flight else { return Ok(true) };
        while *written < request.len() {
            match self.stream.write(&request[*written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => *written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Reads what has arrived; the answer's status once it is complete.
    fn read(&mut self) -> anyhow::Result<Option<u16>> {
        match self.answer.fill(&mut self.stream) {
            Ok(0) => bail!("the server closed the connection"),
            Ok(_) => Ok(self.answer.answer()?.map(|Answer { status, .. }| status)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs the load on this thread, which it keeps busy until the run is over, and returns what it measured.
pub fn run(target: &Target, load: Load) -> anyhow::Result<Outcome> {
    let count = load.connections.max(1);
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    // With a schedule each connection sends every `connections / rate` seconds, the connections evenly
    // staggered.
    let interval = load.rate.map(|rate| Duration::from_secs_f64(count as f64 / rate));
    let mut conns = (0..count)
        .map(|i| Conn::open(target.addr, i, start + interval.unwrap_or_default().mul_f64(i as f64 / count as f64)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let requests = &target.requests;
    let mut outcome =
        Outcome { ok: 0, errors: 0, sent: 0, elapsed: load.duration, latencies: Latencies::with_capacity(1 << 20) };
    while Instant::now() < start {
        std::hint::spin_loop();
    }
    loop {
        let now = Instant::now();
        if now >= end && conns.iter().all(|c| c.in_flight.is_none()) {
            return Ok(outcome);
        }
        if now >= end + DRAIN {
            bail!(
                "{} answers had not arrived {DRAIN:?} after the run",
                conns.iter().filter(|c| c.in_flight.is_some()).count()
            );
        }
        for conn in &mut conns {
            let request = &requests[conn.next % requests.len()];
            if conn.in_flight.is_none() {
                let Some(from) = send_time(conn, interval, now, end) else { continue };
                conn.answer.clear();
                conn.in_flight = Some((from, 0));
                outcome.sent += 1;
            }
            let done = match conn.write(request) {
                Ok(true) => match conn.read() {
                    Ok(None) => continue,
                    Ok(Some(status)) => Ok(status),
                    Err(e) => Err(e),
                },
                Ok(false) => continue,
                Err(e) => Err(anyhow::Error::from(e)),
            };
            let (from, _) = conn.in_flight.take().expect("a request in flight");
            conn.answered_at = Instant::now();
            conn.next += 1;
            if from >= measure_from && from < end {
                if matches!(done, Ok(200)) {
                    outcome.ok += 1;
                    outcome.latencies.record(conn.answered_at - from);
                } else {
                    outcome.errors += 1;
                }
            }
            if done.is_err() {
                let (next, due) = (conn.next, conn.due);
                *conn = Conn::open(target.addr, next, due).context("reconnecting after a failed request")?;
            }
        }
    }
}

/// Whether `conn`, idle, sends its next request now, and if so when its latency counts from.
///
/// Back to back it always does. On a schedule it sends once the request is due; latency then counts from
/// when it was due if the previous answer came too late to send it then (the server held it back), else
/// from now (the generator's own lateness is not the server's). A generator more than an interval behind
/// (its thread was descheduled) moves its schedule on rather than sending a backlog the server did not
/// cause.
fn send_time(conn: &mut Conn, interval: Option<Duration>, now: Instant, end: Instant) -> Option<Instant> {
    let Some(interval) = interval else { return (now < end).then_some(now) };
    let due = conn.due;
    if now < due || due >= end {
        return None;
    }
    conn.due += interval;
    if conn.answered_at > due {
        return Some(due);
    }
    if now > conn.due {
        conn.due = now + interval;
    }
    Some(now)
}

/// Sends one request and returns the answer's body, failing unless it is 200: to check a target answers
/// what the benchmark expects before measuring it.
pub fn probe(target: &Target) -> anyhow::Result<serde_json::Value> {
    let body = probe_bytes(target)?;
    Ok(serde_json::from_slice(&body)?)
}

/// Sends the target's first request on a connection of its own and returns the body of its 200 answer.
pub fn probe_bytes(target: &Target) -> anyhow::Result<Vec<u8>> {
    let mut stream = wire::connect(target.addr)?;
    let (status, body) = wire::exchange(&mut stream, &target.requests[0])?;
    if status != 200 {
        bail!("{} answered {status}: {}", target.path, String::from_utf8_lossy(&body));
    }
    Ok(body)
}
