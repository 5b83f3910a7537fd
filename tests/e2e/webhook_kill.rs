//! Webhook deliveries across a crash: the server binary killed with SIGKILL while deliveries wait for a
//! receiver that refuses them, and started again. Deliveries are queued in the change's transaction, so none
//! is lost; a delivery may be attempted more than once (at least once), always with the same delivery id.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use pennon_tests::database::{Db, TestDatabase};
use pennon_tests::eventually;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::cluster::{Admin, PATIENCE};
use crate::process::ServerProcess;

/// One attempt the receiver saw: its delivery id, the audit row it carries, and the status answered.
#[derive(Debug, Clone)]
struct Attempt {
    delivery: String,
    audit: i64,
    status: u16,
}

type Attempts = Arc<Mutex<Vec<Attempt>>>;

/// A receiver on a free port answering every request with `status`, recording each attempt.
async fn receiver(status: Arc<AtomicU16>, attempts: Attempts) -> u16 {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("a port");
    let port = listener.local_addr().expect("an address").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { continue };
            let (status, attempts) = (status.clone(), attempts.clone());
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                let (head_end, length) = loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>()))
                            .and_then(Result::ok)
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while data.len() < head_end + length {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&data[..head_end]).to_lowercase();
                let delivery = head
                    .lines()
                    .find_map(|l| l.strip_prefix("pennon-delivery:").map(|v| v.trim().to_owned()))
                    .unwrap_or_default();
                let body: Value = serde_json::from_slice(&data[head_end..head_end + length]).unwrap_or(Value::Null);
                let answer = status.load(Ordering::SeqCst);
                let audit = body["audit"]["id"].as_i64().unwrap_or(-1);
                attempts.lock().unwrap().push(Attempt { delivery, audit, status: answer });
                let reply = format!("HTTP/1.1 {answer} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_waiting_when_the_server_is_killed_arrive_after_it_restarts() {
    let database = TestDatabase::new(Db::Postgres).await;
    let quick = [
        ("PENNON_WEBHOOK_TICK", "0.05"),
        ("PENNON_WEBHOOK_BACKOFF_BASE", "0.05"),
        ("PENNON_WEBHOOK_BACKOFF_CAP", "0.2"),
        ("PENNON_WEBHOOK_DISABLE_AFTER", "100000"),
    ];
    let mut server = ServerProcess::start_with_env(&database.url, &quick).await;
    let admin = Admin::sign_in(&server).await;
    admin.set_up(&server).await;
    let status = Arc::new(AtomicU16::new(503));
    let attempts: Attempts = Arc::default();
    let port = receiver(status.clone(), attempts.clone()).await;
    let hook = json!({ "url": format!("http://127.0.0.1:{port}/hook"), "flags": ["checkout"] });
    admin.call(&server, Method::POST, "/api/v1/webhooks", Some(hook), 201).await;

    for i in 0..6 {
        admin.serve(&server, "checkout", if i % 2 == 0 { "on" } else { "off" }).await;
    }
    let refused = || attempts.lock().unwrap().iter().filter(|a| a.status == 503).count() >= 3;
    eventually("the receiver refuses some attempts", PATIENCE, refused).await;
    server.kill();

    status.store(200, Ordering::SeqCst);
    server.restart().await;
    for i in 0..2 {
        admin.serve(&server, "checkout", if i % 2 == 0 { "on" } else { "off" }).await;
    }
    let delivered = || {
        let got = attempts.lock().unwrap();
        got.iter().filter(|a| a.status == 200).map(|a| a.audit).collect::<std::collections::BTreeSet<_>>().len() >= 8
    };
    eventually("all eight changes delivered", PATIENCE * 2, delivered).await;

    let got = attempts.lock().unwrap().clone();
    let mut ids: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for a in &got {
        ids.entry(a.audit).or_default().push(a.delivery.clone());
    }
    assert_eq!(ids.len(), 8, "one delivery per change, none lost: {got:#?}");
    for (audit, deliveries) in &ids {
        assert!(deliveries.iter().all(|d| !d.is_empty() && d == &deliveries[0]), "audit {audit}: {deliveries:?}");
    }
    let distinct: std::collections::BTreeSet<&Vec<String>> = ids.values().collect();
    assert_eq!(distinct.len(), 8, "each change has its own delivery id");
    // In order per hook: the changes were delivered (answered 200) in the order of their audit rows.
    let order: Vec<i64> = got.iter().filter(|a| a.status == 200).map(|a| a.audit).collect();
    let mut firsts = Vec::new();
    for a in order {
        if !firsts.contains(&a) {
            firsts.push(a);
        }
    }
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "in order: {firsts:?}");
}
