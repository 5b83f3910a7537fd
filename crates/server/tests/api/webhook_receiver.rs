//! A webhook receiver for the tests: an HTTP server on 127.0.0.1 that records every request and answers with
//! the status it is told to, and the documented signature check.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub delivery: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Clone, Default)]
pub struct Log {
    received: Arc<Mutex<Vec<Received>>>,
    /// The status it answers with.
    status: Arc<AtomicU16>,
}

/// A webhook receiver: records every request, answers with the status set.
pub struct Receiver {
    pub addr: SocketAddr,
    log: Log,
    task: tokio::task::JoinHandle<()>,
}

async fn record(State(log): State<Log>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    log.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        delivery: header("pennon-delivery"),
        timestamp: header("pennon-timestamp"),
        signature: header("pennon-signature"),
        body: String::from_utf8(body.to_vec()).expect("UTF-8"),
    });
    StatusCode::from_u16(log.status.load(Ordering::SeqCst)).unwrap()
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), Log::default()).await
    }

    pub async fn start_on(addr: SocketAddr, log: Log) -> Receiver {
        if log.status.load(Ordering::SeqCst) == 0 {
            log.status.store(200, Ordering::SeqCst);
        }
        let listener = tokio::net::TcpListener::bind(addr).await.expect("receiver binds");
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(record).with_state(log.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Receiver { addr, log, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn answer(&self, status: u16) {
        self.log.status.store(status, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..1500 {
            let got = self.received();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the receiver never got {what}: {:#?}", self.received());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The documented recipe: `sha256=` + hex HMAC-SHA256 over `"<Pennon-Timestamp>.<body>"` with the secret.
pub fn verifies(secret: &str, r: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", r.timestamp, r.body).as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    r.signature == expected
}
