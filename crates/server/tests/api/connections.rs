//! The connection level, over raw TCP: clients too slow to send a request, or quiet for too long, are cut
//! off (SDK streams are not, and end as soon as their client leaves); a body announced over the limit is
//! refused at once, without `100 Continue`; every 413 is a problem; connections past the limit are refused at
//! once and counted.

use std::net::SocketAddr;
use std::time::Duration;

use pennon_server::app::config::ServeConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both;
use crate::helpers::{Db, TestApp, TestDatabase};
use crate::sse::{SseReader, bearer, sdk_key};

both!(
    slow_and_quiet_clients_are_cut_off,
    streams_outlive_the_idle_timeout,
    streams_whose_client_leaves_end_at_once,
    bodies_announced_over_the_limit_are_refused_at_once,
    every_413_is_a_problem,
    connections_past_the_limit_are_refused_and_counted,
);

/// How long any one read waits before the test gives up on it: a guard against hanging, not a measurement.
const HANG_GUARD: Duration = Duration::from_secs(15);

async fn app_with(db: Db, tune: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    tune(&mut config);
    let mut app = TestApp::spawn_with(database, config).await;
    // A fresh connection per request: the server may close idle ones under the tests' short clocks.
    app.client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    app
}

fn addr(app: &TestApp) -> SocketAddr {
    app.server.as_ref().expect("running").addr
}

/// Writes `bytes` on a new connection and reads until the server closes it. Returns what was read.
async fn until_closed(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(bytes).await.expect("writes");
    read_to_close(&mut stream).await
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut read = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let Ok(result) = tokio::time::timeout(HANG_GUARD, stream.read(&mut buffer)).await else {
            panic!("the server kept the connection open; read so far: {}", String::from_utf8_lossy(&read))
        };
        match result {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&read).into_owned(),
            Ok(n) => read.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Reads one response (head and a `content-length` body) without waiting for the connection to close.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut read = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&read).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                .map_or(0, |n| n.trim().parse::<usize>().unwrap());
            if body.len() >= length {
                return text;
            }
        }
        let n = tokio::time::timeout(HANG_GUARD, stream.read(&mut buffer))
            .await
            .expect("the answer comes")
            .expect("the connection reads");
        assert!(n > 0, "the connection closed before the answer was complete: {text}");
        read.extend_from_slice(&buffer[..n]);
    }
}

/// The metric's value summed over its series whose labels contain `labels`.
async fn metric(app: &TestApp, name: &str, labels: &str) -> f64 {
    let text = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| line.starts_with(name) && line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn slow_and_quiet_clients_are_cut_off(db: Db) {
    let app = app_with(db, |c| {
        c.header_read_timeout = Duration::from_millis(300);
        c.body_read_timeout = Duration::from_millis(300);
        c.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = addr(&app);
    // A connection that never sends anything.
    assert_eq!(until_closed(addr, b"").await, "");
    // A head that never ends.
    assert_eq!(until_closed(addr, b"GET /healthz HTTP/1.1\r\nhost: pennon\r\nx-slow: ").await, "");
    // A body that never ends: the handler reading it is dropped with the connection.
    let login = b"POST /api/v1/auth/login HTTP/1.1\r\nhost: pennon\r\ncontent-type: application/json\r\n\
                  content-length: 100\r\n\r\n{\"email\": \"a";
    assert_eq!(until_closed(addr, login).await, "");
    // A kept-alive connection after its answer.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: pennon\r\n\r\n").await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    assert_eq!(read_to_close(&mut stream).await, "", "closed after the idle timeout, with nothing more said");
    // Each was counted by the clock that ran out.
    let timed_out = "pennon_http_connections_timed_out_total";
    assert!(metric(&app, timed_out, "phase=\"header\"").await >= 2.0);
    assert!(metric(&app, timed_out, "phase=\"body\"").await >= 1.0);
    assert!(metric(&app, timed_out, "phase=\"idle\"").await >= 1.0);
    // The server still answers.
    let reply = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(reply.status(), 200);
}

async fn streams_outlive_the_idle_timeout(db: Db) {
    let app = app_with(db, |c| {
        c.header_read_timeout = Duration::from_millis(200);
        c.idle_timeout = Duration::from_millis(200);
        c.sse_heartbeat = Duration::from_millis(600);
    })
    .await;
    app.environment("production").await;
    let key = sdk_key(&app, "production", "server").await;
    let mut stream = SseReader::open(&app, "/api/v1/sdk/stream", &[("authorization", &bearer(&key))]).await;
    while stream.next().await.event.as_deref() != Some("put") {}
    // Heartbeats arrive three times further apart than the idle timeout, and the stream stays open.
    for _ in 0..4 {
        assert!(stream.next().await.is_heartbeat(), "a heartbeat on the open stream");
    }
    assert!((metric(&app, "pennon_sse_subscribers", "stream=\"sdk\"").await - 1.0).abs() < f64::EPSILON);
}

/// A stream whose client leaves ends at once (hyper reads the socket during the answer and sees the close),
/// not at the next heartbeat, whose write would be the first to fail.
async fn streams_whose_client_leaves_end_at_once(db: Db) {
    let app = app_with(db, |c| c.sse_heartbeat = Duration::from_mins(10)).await;
    app.environment("production").await;
    let key = sdk_key(&app, "production", "server").await;
    let mut stream = SseReader::open(&app, "/api/v1/sdk/stream", &[("authorization", &bearer(&key))]).await;
    while stream.next().await.event.as_deref() != Some("put") {}
    let open = "pennon_http_connections_open";
    assert!((metric(&app, "pennon_sse_subscribers", "stream=\"sdk\"").await - 1.0).abs() < f64::EPSILON);
    drop(stream);
    let started = tokio::time::Instant::now();
    loop {
        let subscribers = metric(&app, "pennon_sse_subscribers", "stream=\"sdk\"").await;
        // The scrape itself holds one connection open.
        if subscribers == 0.0 && metric(&app, open, "").await <= 1.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the stream outlived its client: {subscribers}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The paths of several endpoints that take a body, besides one that does not exist.
fn endpoints_with_bodies(id: i64) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/api/v1/flags".to_owned()),
        ("POST", "/api/v1/environments".to_owned()),
        ("PUT", "/api/v1/segments/staff".to_owned()),
        ("POST", format!("/api/v1/environments/production/keys/{id}/rotate")),
        ("POST", "/api/v1/auth/login".to_owned()),
        ("POST", "/api/v1/evaluate".to_owned()),
        ("POST", "/ofrep/v1/evaluate/flags".to_owned()),
        ("POST", "/api/v1/sdk/metrics".to_owned()),
        ("POST", "/api/v1/no-such-thing".to_owned()),
    ]
}

/// An app with `production` and a server key; returns the key's id and secret.
async fn app_with_key(db: Db, tune: impl FnOnce(&mut ServeConfig)) -> (TestApp, i64, String) {
    let app = app_with(db, tune).await;
    app.environment("production").await;
    let created = app
        .post("/api/v1/environments/production/keys", json!({ "kind": "server", "name": "tests" }))
        .await
        .expect(201);
    (app, created.body["id"].as_i64().unwrap(), created.body["key"].as_str().unwrap().to_owned())
}

/// A 413 in the route's error shape: a problem, or OFREP's own failure on OFREP routes.
#[track_caller]
fn assert_problem_413(answer: &str, what: &str) {
    assert!(answer.starts_with("HTTP/1.1 413"), "{what}: {answer}");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    // The body was not read: the connection closes, so that nothing sent after it is taken for its rest.
    assert!(head.contains("connection: close"), "{what}: {answer}");
    let problem: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: a JSON answer: {answer}"));
    if what.contains("/ofrep/") {
        assert!(head.contains("content-type: application/json"), "{what}: {answer}");
        assert_eq!(problem["errorCode"], "GENERAL", "{what}");
    } else {
        assert!(head.contains("content-type: application/problem+json"), "{what}: {answer}");
        assert_eq!(problem["status"], 413, "{what}");
    }
}

async fn bodies_announced_over_the_limit_are_refused_at_once(db: Db) {
    let (app, id, key) = app_with_key(db, |_| {}).await;
    let flags_before = app.get("/api/v1/flags").await.expect(200).body;
    for (method, path) in endpoints_with_bodies(id) {
        for credential in [format!("Bearer {}", app.admin_token), bearer(&key)] {
            let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
            let head = format!(
                "{method} {path} HTTP/1.1\r\nhost: pennon\r\nauthorization: {credential}\r\n\
                 content-type: application/json\r\ncontent-length: 52428800\r\nexpect: 100-continue\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            // The answer comes without a byte of the body sent, and it is not `100 Continue`.
            let answer = read_response(&mut stream).await;
            assert_problem_413(&answer, &format!("{method} {path}"));
        }
    }
    assert_eq!(app.get("/api/v1/flags").await.expect(200).body, flags_before);
}

async fn every_413_is_a_problem(db: Db) {
    let (app, id, key) = app_with_key(db, |c| c.max_body_bytes = 1024).await;
    let keys_before = app.get("/api/v1/environments/production/keys").await.expect(200).body;
    // A body sent in chunks announces no length: it is refused once the limit is passed.
    let chunk = format!("{{\"name\": \"{}\"}}", "x".repeat(2048));
    for (method, path) in endpoints_with_bodies(id) {
        let mut refused = 0;
        for credential in [format!("Bearer {}", app.admin_token), bearer(&key)] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nhost: pennon\r\nauthorization: {credential}\r\n\
                 content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
                 {:x}\r\n{chunk}\r\n0\r\n\r\n",
                chunk.len()
            );
            let answer = until_closed(addr(&app), request.as_bytes()).await;
            // Some endpoints check the caller before the body (a 401 or 403 comes first); a path that names
            // nothing is 404 whatever its body.
            if ["401", "403", "404"].iter().any(|status| answer.starts_with(&format!("HTTP/1.1 {status}"))) {
                continue;
            }
            assert_problem_413(&answer, &format!("{method} {path} with {}", &credential[..15]));
            refused += 1;
        }
        assert!(refused > 0 || path.contains("no-such-thing"), "{method} {path} read no body");
    }
    assert_eq!(app.get("/api/v1/environments/production/keys").await.expect(200).body, keys_before);
}

async fn connections_past_the_limit_are_refused_and_counted(db: Db) {
    let app = app_with(db, |c| c.max_connections = 4).await;
    let addr = addr(&app);
    // Held open after their answer; at most 4 are served at once.
    let mut held = Vec::new();
    let (mut served, mut refused) = (0, 0);
    for _ in 0..8 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: pennon\r\n\r\n").await.unwrap();
        let answer = read_response(&mut stream).await;
        if answer.starts_with("HTTP/1.1 200") {
            served += 1;
        } else {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(answer.contains("application/problem+json"), "{answer}");
            assert_eq!(read_to_close(&mut stream).await, "", "closed after the refusal");
            refused += 1;
        }
        held.push(stream);
    }
    assert!(served <= 4 && refused >= 4, "served {served}, refused {refused}");
    // Once they close, new connections are served again, and the refusals were counted.
    drop(held);
    let mut counted = None;
    for _ in 0..100 {
        if let Ok(reply) = app.client.get(format!("{}/metrics", app.base)).send().await
            && reply.status() == 200
        {
            let text = reply.text().await.unwrap();
            counted = text
                .lines()
                .find(|line| line.starts_with("pennon_http_connections_refused_total"))
                .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counted.expect("served again") >= f64::from(refused));
}
