//! The relay's polling fallback, against a stand-in upstream whose stream cannot be opened (a proxy that
//! refuses event streams, say) but whose snapshot can: the relay serves the snapshot, says it is degraded, and
//! picks up new revisions by polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser as _;
use pennon_server::app::config::{Cli, Command};
use serde_json::{Value, json};

const KEY: &str = "pnn_srv_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The stand-in upstream: the snapshot at the revision held in `revision`, relay information naming [`KEY`],
/// and a stream that always answers 503.
async fn upstream(revision: Arc<AtomicU64>) -> String {
    async fn snapshot(State(revision): State<Arc<AtomicU64>>, headers: HeaderMap) -> Response {
        let revision = revision.load(Ordering::SeqCst);
        if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(&format!("\"{revision}\"")) {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        let body = json!({ "environment": "production", "revision": revision, "flags": [], "segments": [] });
        ([("etag", format!("\"{revision}\""))], axum::Json(body)).into_response()
    }
    async fn relay_info() -> axum::Json<Value> {
        let digest = pennon_server::auth::secrets::hash(KEY);
        axum::Json(json!({ "environment": "production", "allowed_origins": [], "watched": [],
            "keys": [{ "id": 1, "kind": "server", "digest": digest, "expires_at": null }] }))
    }
    let app = Router::new()
        .route("/api/v1/sdk/snapshot", get(snapshot))
        .route("/api/v1/sdk/stream", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route("/api/v1/sdk/relay", get(relay_info))
        .with_state(revision);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_polls_the_snapshot_while_the_stream_cannot_be_opened() {
    let revision = Arc::new(AtomicU64::new(3));
    let url = upstream(revision.clone()).await;
    let args = ["pennon", "relay", "--upstream", &url, "--key", KEY, "--listen", "127.0.0.1:0"];
    let args = args.into_iter().chain(["--reconnect-min", "0.02", "--reconnect-max", "0.1", "--key-interval", "0.1"]);
    let Command::Relay(config) = Cli::try_parse_from(args).expect("valid arguments").command else { panic!("relay") };
    let relay = pennon_server::relay::spawn(config).await.expect("the relay starts");
    let base = format!("http://{}", relay.addr);
    let http = reqwest::Client::new();
    let served = || async {
        let reply = http.get(format!("{base}/api/v1/sdk/snapshot")).bearer_auth(KEY).send().await.unwrap();
        (reply.status().as_u16(), reply.headers().get("etag").map(|v| v.to_str().unwrap().to_owned()))
    };
    let until = |wanted: &'static str| {
        let served = &served;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while served().await != (200, Some(wanted.to_owned())) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the relay does not serve {wanted}: {:?}",
                    served().await
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    until("\"3\"").await;
    let readyz: Value = http.get(format!("{base}/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(readyz["status"], "degraded", "{readyz}");
    assert_eq!(readyz["environments"][0]["upstream_connected"], false, "{readyz}");
    assert_eq!(readyz["environments"][0]["source"], "upstream", "{readyz}");
    revision.store(4, Ordering::SeqCst);
    until("\"4\"").await;
    let other = http.get(format!("{base}/api/v1/sdk/snapshot")).bearer_auth(KEY.replace('0', "1")).send().await;
    assert_eq!(other.unwrap().status(), 401, "a key the upstream does not list is refused");
    relay.shutdown().await;
}
