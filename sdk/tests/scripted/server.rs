//! A small real HTTP server on 127.0.0.1 that answers the SDK endpoints as a test scripts it: statuses,
//! event streams whose bytes the test sends as it goes, snapshots, metrics statuses. Every request is
//! recorded for assertions.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::mpsc;

/// What the next stream request gets.
#[derive(Debug, Clone)]
pub enum StreamPlan {
    /// This status, no body.
    Status(u16),
    /// This status with this `Retry-After` value.
    RetryAfter(u16, String),
    /// 200 with `text/plain` (a proxy that does not speak SSE).
    NotEventStream,
    /// 200 `text/event-stream`; the test gets a [`Connection`] to send bytes.
    Open,
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub last_event_id: Option<String>,
    pub if_none_match: Option<String>,
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

/// An open event stream: what the test writes reaches the client.
pub struct Connection {
    tx: mpsc::UnboundedSender<Bytes>,
    pub last_event_id: Option<String>,
}

impl Connection {
    pub fn send(&self, text: &str) {
        let _ = self.tx.send(Bytes::copy_from_slice(text.as_bytes()));
    }

    /// Sends one event as the server would.
    pub fn event(&self, event: &str, id: u64, data: &Value) {
        self.send(&format!("event: {event}\nid: {id}\ndata: {data}\n\n"));
    }

    /// Whether the client is still connected.
    pub fn is_open(&self) -> bool {
        !self.tx.is_closed()
    }
}

#[derive(Default)]
struct Script {
    streams: Mutex<VecDeque<StreamPlan>>,
    /// Statuses (and `Retry-After` values) for the next snapshot requests; then the current snapshot (or 503
    /// without one).
    snapshot_statuses: Mutex<VecDeque<Answer>>,
    snapshot: Mutex<Option<Value>>,
    metrics_statuses: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<Seen>>,
    connections: Mutex<Option<mpsc::UnboundedSender<Connection>>>,
}

/// A planned status, with a `Retry-After` value or not.
type Answer = (u16, Option<String>);

fn answer((code, retry_after): Answer) -> Response {
    let status = StatusCode::from_u16(code).unwrap();
    match retry_after {
        Some(value) => (status, [(header::RETRY_AFTER, value)]).into_response(),
        None => status.into_response(),
    }
}

pub struct ScriptedServer {
    pub addr: SocketAddr,
    script: Arc<Script>,
    connections: tokio::sync::Mutex<mpsc::UnboundedReceiver<Connection>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedServer {
    pub async fn start() -> Self {
        let script = Arc::new(Script::default());
        let (tx, rx) = mpsc::unbounded_channel();
        *script.connections.lock().unwrap() = Some(tx);
        let app = Router::new()
            .route("/api/v1/sdk/stream", get(stream))
            .route("/api/v1/sdk/snapshot", get(snapshot))
            .route("/api/v1/sdk/metrics", post(metrics))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedServer { addr, script, connections: tokio::sync::Mutex::new(rx), task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Plans the answers to the next stream requests (after those planned before). Unplanned: 503.
    pub fn plan_streams(&self, plans: impl IntoIterator<Item = StreamPlan>) {
        self.script.streams.lock().unwrap().extend(plans);
    }

    pub fn plan_snapshot_statuses(&self, statuses: impl IntoIterator<Item = u16>) {
        self.script.snapshot_statuses.lock().unwrap().extend(statuses.into_iter().map(|code| (code, None)));
    }

    /// The next snapshot request gets `status` with `Retry-After: <retry_after>`.
    pub fn plan_snapshot_retry_after(&self, status: u16, retry_after: &str) {
        self.script.snapshot_statuses.lock().unwrap().push_back((status, Some(retry_after.to_owned())));
    }

    pub fn set_snapshot(&self, snapshot: Value) {
        *self.script.snapshot.lock().unwrap() = Some(snapshot);
    }

    pub fn plan_metrics_statuses(&self, statuses: impl IntoIterator<Item = u16>) {
        self.script.metrics_statuses.lock().unwrap().extend(statuses.into_iter().map(|code| (code, None)));
    }

    /// The next metrics request gets `status` with `Retry-After: <retry_after>`.
    pub fn plan_metrics_retry_after(&self, status: u16, retry_after: &str) {
        self.script.metrics_statuses.lock().unwrap().push_back((status, Some(retry_after.to_owned())));
    }

    /// The next stream the client opens (planned as [`StreamPlan::Open`]).
    pub async fn connection(&self) -> Connection {
        let mut rx = self.connections.lock().await;
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a stream connection in time").unwrap()
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.script.seen.lock().unwrap().iter().filter(|s| s.path.ends_with(path)).cloned().collect()
    }
}

fn record(script: &Script, path: &str, headers: &HeaderMap, body: Value) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    script.seen.lock().unwrap().push(Seen {
        path: path.to_owned(),
        authorization: header("authorization"),
        last_event_id: header("last-event-id"),
        if_none_match: header("if-none-match"),
        body,
        at: Instant::now(),
    });
}

async fn stream(State(script): State<Arc<Script>>, headers: HeaderMap) -> Response {
    record(&script, "/api/v1/sdk/stream", &headers, Value::Null);
    let plan = script.streams.lock().unwrap().pop_front().unwrap_or(StreamPlan::Status(503));
    match plan {
        StreamPlan::Status(code) => answer((code, None)),
        StreamPlan::RetryAfter(code, value) => answer((code, Some(value))),
        StreamPlan::NotEventStream => ([(header::CONTENT_TYPE, "text/plain")], "hello").into_response(),
        StreamPlan::Open => {
            let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
            let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
            if let Some(connections) = &*script.connections.lock().unwrap() {
                let _ = connections.send(Connection { tx, last_event_id });
            }
            let body = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|bytes| (Ok::<_, Infallible>(bytes), rx))
            });
            ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(body)).into_response()
        }
    }
}

async fn snapshot(State(script): State<Arc<Script>>, headers: HeaderMap) -> Response {
    record(&script, "/api/v1/sdk/snapshot", &headers, Value::Null);
    if let Some(planned) = script.snapshot_statuses.lock().unwrap().pop_front() {
        return answer(planned);
    }
    let Some(snapshot) = script.snapshot.lock().unwrap().clone() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let etag = format!("\"{}\"", snapshot["revision"]);
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    ([(header::ETAG, etag), (header::CONTENT_TYPE, "application/json".to_owned())], snapshot.to_string())
        .into_response()
}

async fn metrics(State(script): State<Arc<Script>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&script, "/api/v1/sdk/metrics", &headers, body);
    answer(script.metrics_statuses.lock().unwrap().pop_front().unwrap_or((202, None)))
}
