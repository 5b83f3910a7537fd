//! The open-file limit, with the `pennon` binary under a shell's `ulimit`: the server raises its soft limit
//! to the hard one at start, and at the hard limit it logs and counts failing accepts and serves again once
//! connections close.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Starts `pennon serve` under `ulimit` arguments on a free port of 127.0.0.1, and waits until it answers.
fn serve_under(ulimit: &str, dir: &std::path::Path) -> (Child, SocketAddr) {
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit {ulimit} && exec \"$0\" serve"))
        .arg(env!("CARGO_BIN_EXE_pennon"))
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.join("pennon.db").display()))
        .env("PENNON_LISTEN", addr.to_string())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    for _ in 0..200 {
        if let Ok(answer) = get(addr, "/healthz")
            && answer.starts_with("HTTP/1.1 200")
        {
            return (child, addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = stop(child);
    panic!("the server did not start: {output}");
}

/// Sends a GET on a new connection and reads its answer (the server closes after it).
fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: pennon\r\nconnection: close\r\n\r\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Opens a connection that asks for `/healthz` and stays open.
fn held(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: pennon\r\n\r\n").unwrap();
    stream
}

fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn the_soft_open_file_limit_is_raised_at_start() {
    let dir = tempfile::tempdir().unwrap();
    // Soft 64, hard as inherited: 150 open connections need the server to have raised it.
    let (child, addr) = serve_under("-Sn 64", dir.path());
    let mut streams: Vec<TcpStream> = (0..150).map(|_| held(addr)).collect();
    for stream in &mut streams {
        stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).expect("every held connection is answered");
        assert_eq!(&answer, b"HTTP/1.1 200");
    }
    let output = stop(child);
    assert!(output.contains("raised the open-file limit"), "{output}");
}

#[test]
fn at_the_open_file_limit_accept_errors_are_logged_counted_and_survived() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = serve_under("-n 48", dir.path());
    // More connections than the server has files for: some wait in the backlog, accept fails meanwhile.
    let streams: Vec<TcpStream> = (0..80).map(|_| held(addr)).collect();
    std::thread::sleep(Duration::from_millis(500));
    drop(streams);
    // Once they close, the server serves again, and the failures were counted.
    let mut errors = None;
    for _ in 0..200 {
        if let Ok(answer) = get(addr, "/metrics")
            && answer.starts_with("HTTP/1.1 200")
        {
            errors = answer
                .lines()
                .find(|line| line.starts_with("pennon_http_accept_errors_total"))
                .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let errors = errors.expect("served again");
    assert!(errors >= 1.0, "{errors}");
    let output = stop(child);
    let lines = output.matches("cannot accept connections").count();
    assert!(lines >= 1, "logged: {output}");
    assert!(lines <= 2 && f64::from(lines as u32) <= errors, "logged at most once per 10 s: {output}");
}
