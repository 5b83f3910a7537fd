//! The ceiling: the least an axum endpoint can do for the same request — read the JSON body, answer a
//! fixed small JSON body — on the same machine, measured by the same generator. Pennon's evaluation cannot
//! be faster than this; the benchmark reports how close it comes.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use tokio::net::TcpListener;

/// An evaluation-sized answer, the shape `POST /api/v1/evaluate` gives for one flag.
pub const BODY: &str =
    r#"{"flag":"flag-00","value":true,"variant":"on","version":2,"reason":{"kind":"FALLTHROUGH","bucket":12345}}"#;

/// The path it answers on.
pub const PATH: &str = "/evaluate";

/// The router: `POST /evaluate` reads the body and answers [`BODY`].
pub fn router() -> Router {
    Router::new().route(PATH, post(|_body: Bytes| async { ([(CONTENT_TYPE, "application/json")], BODY) }))
}

/// Serves `POST /evaluate` on an ephemeral port of 127.0.0.1, on the current runtime.
pub async fn spawn() -> anyhow::Result<SocketAddr> {
    let app = router();
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}
