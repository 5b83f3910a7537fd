//! An HTTP/1.1 load generator on tokio and hyper: a fixed number of keep-alive connections, each sending one
//! request at a time, either back to back (the most the server can take) or on a fixed schedule (a target
//! rate; a request the server's slowness held back is measured from when it was due, so that a stalled
//! server cannot hide its queueing delay).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::stats::Latencies;

/// What to send: `POST path` with one of `bodies`, in turn.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server.
    pub addr: SocketAddr,
    /// The request path.
    pub path: String,
    /// JSON request bodies, sent round-robin (each connection starts at a different one).
    pub bodies: Arc<Vec<Bytes>>,
    /// The `Authorization` header to send, if any.
    pub authorization: Option<HeaderValue>,
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

/// Runs the load on the current runtime and returns what it measured.
pub async fn run(target: &Target, load: Load) -> anyhow::Result<Outcome> {
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let mut tasks = Vec::with_capacity(load.connections);
    for i in 0..load.connections {
        let mut conn = Connection::open(target).await?;
        let target = target.clone();
        // Each connection sends every `connections / rate` seconds, the connections evenly staggered.
        let schedule = load.rate.map(|rate| {
            let interval = Duration::from_secs_f64(load.connections as f64 / rate);
            (interval, start + interval.mul_f64(i as f64 / load.connections as f64))
        });
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::with_capacity(1 << 16);
            let (mut ok, mut errors, mut sent_all) = (0u64, 0u64, 0u64);
            let mut next_body = i;
            let mut due = schedule.map_or(start, |(_, first)| first);
            // When the previous answer arrived: a request it held past its due time was held by the server.
            let mut answered_at = start;
            tokio::time::sleep_until(start.into()).await;
            loop {
                // With a schedule, latency counts from when the request was due if the previous answer came
                // too late to send it then (the server held it back), else from when it was sent: tokio's
                // timers fire on whole milliseconds, and the generator's own lateness is not the server's.
                // A generator more than an interval behind (its thread was descheduled) moves its schedule
                // on rather than sending a backlog the server did not cause.
                let sent = match schedule {
                    Some((interval, _)) => {
                        let this = due;
                        due += interval;
                        if answered_at > this {
                            this
                        } else {
                            if Instant::now() < this {
                                tokio::time::sleep_until(this.into()).await;
                            }
                            let now = Instant::now();
                            if now > due {
                                due = now + interval;
                            }
                            now
                        }
                    }
                    None => Instant::now(),
                };
                if sent >= end {
                    break;
                }
                let body = target.bodies[next_body % target.bodies.len()].clone();
                next_body += 1;
                let answered = conn.send(body).await;
                answered_at = Instant::now();
                sent_all += 1;
                if sent >= measure_from {
                    match answered {
                        Ok(StatusCode::OK) => {
                            ok += 1;
                            latencies.record(sent.elapsed());
                        }
                        Ok(_) | Err(_) => errors += 1,
                    }
                }
                if answered.is_err() {
                    conn = Connection::open(&target).await?;
                }
            }
            anyhow::Ok((ok, errors, sent_all, latencies))
        }));
    }
    let mut outcome = Outcome { ok: 0, errors: 0, sent: 0, elapsed: load.duration, latencies: Latencies::default() };
    for task in tasks {
        let (ok, errors, sent, latencies) = task.await??;
        outcome.ok += ok;
        outcome.sent += sent;
        outcome.errors += errors;
        outcome.latencies.merge(latencies);
    }
    Ok(outcome)
}

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    path: String,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
}

impl Connection {
    async fn open(target: &Target) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(target.addr).await.with_context(|| format!("connecting to {}", target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let host = HeaderValue::from_str(&target.addr.to_string())?;
        Ok(Connection { sender, path: target.path.clone(), host, authorization: target.authorization.clone() })
    }

    /// Sends one request and reads the whole answer; returns its status.
    async fn send(&mut self, body: Bytes) -> anyhow::Result<StatusCode> {
        let (status, _) = self.exchange(body).await?;
        Ok(status)
    }

    async fn exchange(&mut self, body: Bytes) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.path.as_str())
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let request = request.body(Full::new(body))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// Sends one request and returns the answer's body, failing unless it is 200: to check a target answers
/// what the benchmark expects before measuring it.
pub async fn probe(target: &Target) -> anyhow::Result<serde_json::Value> {
    let mut conn = Connection::open(target).await?;
    let (status, body) = conn.exchange(target.bodies[0].clone()).await?;
    if status != StatusCode::OK {
        bail!("POST {} answered {status}: {}", target.path, String::from_utf8_lossy(&body));
    }
    Ok(serde_json::from_slice(&body)?)
}
