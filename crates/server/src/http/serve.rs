//! The accept loop: each connection is served by hyper's HTTP/1 server under the clocks of
//! [`crate::http::connection`], at most a set number at once, and a failing `accept` is logged and counted.
//!
//! axum's `serve` has no read timeouts and no connection limit, and it sleeps through accept errors
//! (`EMFILE` when the open-file limit is reached) without a word; this loop does what it did otherwise: the
//! peer address for handlers (`ConnectInfo`), graceful shutdown that lets every connection finish.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Request};
use axum::response::Response;
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::{Service, ServiceExt as _};

use crate::http::connection::{Activity, Phase, RequestBody, ResponseBody, Timeouts, Watched};
use crate::http::listener::StallGuard;
use crate::http::woken_apart::WokenApart;
use crate::telemetry::metrics::Metrics;

/// The future of one request's answer.
type Answer = Pin<Box<dyn Future<Output = Result<Response<ResponseBody<Body>>, Infallible>> + Send>>;

/// How the connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// The clocks of each connection.
    pub timeouts: Timeouts,
    /// A write that makes no progress for this long closes its connection.
    pub write_stall: Duration,
    /// Most connections at once.
    pub max_connections: usize,
}

/// How long accepting pauses after an error that is not one connection's own (the open-file limit: some
/// connections must close first).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line about failing accepts per this long.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// The answer to a connection over the limit, written (if the socket takes it at once) before it is closed.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 107\r\n\r\n\
{\"type\":\"/problems/unavailable\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"too many connections\"}";

/// Serves `app` on `listener` until `shutdown` resolves, then waits for every open connection to finish
/// (streams are ended by the caller; requests in progress are answered).
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    settings: ConnectionSettings,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let permits = Arc::new(Semaphore::new(settings.max_connections.min(Semaphore::MAX_PERMITS)));
    // Connections watch `signal` (closed: shut down gracefully) and hold `done` (all dropped: finished).
    let (signal, signal_rx) = watch::channel(());
    let (done, done_rx) = watch::channel(());
    let mut errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                if let Some(pause) = errors.failed(&e, &metrics) {
                    tokio::time::sleep(pause).await;
                }
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.connections_refused.inc();
            // Best effort: a socket that cannot take the answer at once is closed without it.
            let _ = stream.try_write(TOO_MANY_CONNECTIONS);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Spawned as it is: a future wrapped in another that awaits it would be stored twice in the task.
        let held = (permit, done_rx.clone());
        tokio::spawn(serve_connection(stream, peer, app.clone(), settings, metrics.clone(), signal.clone(), held));
    }
    drop(listener);
    drop(signal_rx);
    drop(done_rx);
    done.closed().await;
    Ok(())
}

/// Serves one connection until it ends, a clock runs out, or (gracefully) the server shuts down; then drops
/// `held` (the connection's permit, and what tells the server that it ended).
async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    app: S,
    settings: ConnectionSettings,
    metrics: Arc<Metrics>,
    signal: watch::Sender<()>,
    held: impl Send,
) where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let open = metrics.connections_open.clone();
    open.inc();
    let activity = Activity::new();
    let io = TokioIo::new(Watched::new(StallGuard::new(stream, settings.write_stall), activity.clone()));
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (in_flight, body_guard) = requests.request(!request.body().is_end_stream());
        let mut request = request.map(|body| Body::new(RequestBody::new(body, body_guard)));
        request.extensions_mut().insert(ConnectInfo(peer));
        let answer = app.clone().oneshot(request);
        let activity = requests.clone();
        // Boxed: hyper keeps a place for the service's future as long as the connection lives, which for an
        // SDK's stream is long after the answer's head was sent; a box of its own is freed with the future.
        let answer: Answer = Box::pin(async move {
            let mut response = answer.await?;
            if activity.body_unread() {
                // The body was refused or left unread: the client must not send another request on this
                // connection (it would be read, and dropped, as the rest of this one's body).
                response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(response.map(|body| ResponseBody::new(body, in_flight)))
        });
        answer
    });
    // Made where they stay (`pin!` of the expression): a future made first and pinned after is stored twice
    // in this one, which an SDK's stream holds for as long as it is open.
    let mut connection = std::pin::pin!(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
    // The clocks and the shutdown signal, polled only when they woke the task, not on its every wake-up.
    let mut expired = std::pin::pin!(activity.expired(settings.timeouts));
    let mut closed = std::pin::pin!(signal.closed());
    let mut shutting_down = false;
    let mut sidelines = WokenApart::new(std::future::poll_fn(move |cx| {
        if !shutting_down && closed.as_mut().poll(cx).is_ready() {
            shutting_down = true;
            return Poll::Ready(Sideline::ShuttingDown);
        }
        expired.as_mut().poll(cx).map(Sideline::Expired)
    }));
    loop {
        tokio::select! {
            biased;
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            sideline = &mut sidelines => match sideline {
                Sideline::ShuttingDown => connection.as_mut().graceful_shutdown(),
                Sideline::Expired(phase) => {
                    metrics.connection_timed_out(phase.as_str());
                    tracing::debug!(%peer, phase = phase.as_str(), "closing a connection whose client is too slow or quiet");
                    break;
                }
            },
        }
    }
    open.dec();
    drop(held);
}

/// What a connection's task watches besides the connection.
enum Sideline {
    /// The server began to shut down: the connection ends after its request in progress.
    ShuttingDown,
    /// A clock ran out.
    Expired(Phase),
}

/// Failing accepts: counted, logged at most once per [`ACCEPT_LOG_EVERY`].
#[derive(Debug, Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    /// Records `e`; returns how long to pause before accepting again, if at all.
    fn failed(&mut self, e: &io::Error, metrics: &Metrics) -> Option<Duration> {
        // One client's connection failing before it was accepted says nothing about the server.
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
        ) {
            return None;
        }
        metrics.accept_errors.inc();
        self.unlogged += 1;
        let now = Instant::now();
        if self.last_logged.is_none_or(|last| now.duration_since(last) >= ACCEPT_LOG_EVERY) {
            tracing::error!(
                error = %e,
                failures = self.unlogged,
                "cannot accept connections (at the open-file limit?); new connections wait until some close"
            );
            self.last_logged = Some(now);
            self.unlogged = 0;
        }
        Some(ACCEPT_BACKOFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_answer() {
        let text = std::str::from_utf8(TOO_MANY_CONNECTIONS).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 503);
    }

    #[test]
    fn accept_errors_are_counted_and_logged_now_and_then() {
        let metrics = Metrics::default();
        let mut errors = AcceptErrors::default();
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(errors.failed(&emfile, &metrics), Some(ACCEPT_BACKOFF));
        assert_eq!(errors.failed(&emfile, &metrics), Some(ACCEPT_BACKOFF));
        assert_eq!(errors.unlogged, 1, "the second failure within the interval is not logged");
        assert_eq!(errors.failed(&io::Error::from(io::ErrorKind::ConnectionAborted), &metrics), None);
        assert_eq!(metrics.accept_errors.get(), 2);
    }
}
