//! Graceful shutdown: requests in flight finish, idle connections do not hold shutdown up, the port is freed.

use std::time::{Duration, Instant};

use pennon_server::app::startup::spawn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::both;
use crate::helpers::{Db, TestApp};

both!(in_flight_request_completes, idle_connections_do_not_delay_shutdown);

/// Reads one HTTP/1.1 response whose body is JSON or empty; returns the status line and the whole text.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("the response arrives")
            .expect("read");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if n == 0 || complete(&text) {
            return text;
        }
    }
}

fn complete(text: &str) -> bool {
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok()).flatten()
    });
    length.is_some_and(|length| body.len() >= length)
}

/// A request whose body is still arriving when shutdown starts: the server waits for it, answers it, then
/// stops. (The slow client stands in for a slow handler; no test-only route is needed.)
async fn in_flight_request_completes(db: Db) {
    let mut app = TestApp::spawn(db).await;
    let server = app.server.take().expect("running");
    let addr = server.addr;

    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // One request first, so that the connection is certainly being served before shutdown begins.
    stream.write_all(format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await.expect("write");
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));

    let body = br#"{"key": "late", "name": "Arrived during shutdown"}"#;
    let head = format!(
        "POST /api/v1/environments HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         authorization: Bearer {}\r\ncontent-length: {}\r\n\r\n",
        app.admin_token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(&body[..10]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!shutdown.is_finished(), "shutdown must wait for the request in flight");

    stream.write_all(&body[10..]).await.expect("write the rest of the body");
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 201"), "the request in flight was answered: {response}");
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("shutdown finishes once the request is answered")
        .expect("shutdown task");
    TcpListener::bind(addr).await.expect("the port is released");

    // The write was committed: a new server on the same database has it.
    let server = spawn(app.config.clone()).await.expect("server starts again");
    app.base = server.url();
    app.server = Some(server);
    assert_eq!(app.get("/api/v1/environments/late").await.expect(200).body["name"], "Arrived during shutdown");
}

/// Keep-alive connections with nothing in flight are closed at once rather than waited for.
async fn idle_connections_do_not_delay_shutdown(db: Db) {
    let mut app = TestApp::spawn(db).await;
    // The client keeps its connection open in its pool.
    app.get("/healthz").await.expect(200);
    let mut idle = TcpStream::connect(app.server.as_ref().expect("running").addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: pennon\r\n\r\n").await.expect("write");
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));

    let server = app.server.take().expect("running");
    let addr = server.addr;
    let grace = app.config.shutdown_grace;
    let started = Instant::now();
    server.shutdown().await;
    let took = started.elapsed();
    assert!(took < grace / 2, "shutdown took {took:?} with only idle connections (grace {grace:?})");
    TcpListener::bind(addr).await.expect("the port is released");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the idle connection was closed by the server");
}
