//! The real `pennon relay` run as a child process, as [`crate::process::ServerProcess`] runs the server: on a
//! port of its own, kept across [`kill`](RelayProcess::kill) and [`restart`](RelayProcess::restart), killed
//! when dropped, its log printed when a test fails.

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::cluster::{PATIENCE, Server};
use crate::process::binary;

/// A `pennon relay` child process.
pub struct RelayProcess {
    child: Option<Child>,
    addr: SocketAddr,
    upstream: String,
    /// The credential arguments: `--key K` each, or `--relay-key K --environment E ...`.
    credentials: Vec<String>,
    cache: Option<PathBuf>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl RelayProcess {
    /// Starts a relay of `upstream` for `keys` (with `cache` as its cache directory) and waits until its
    /// `/readyz` answers 200.
    pub async fn start(upstream: &str, keys: &[&str], cache: Option<&Path>) -> Self {
        let credentials = keys.iter().flat_map(|k| ["--key".to_owned(), (*k).to_owned()]).collect();
        Self::start_with(upstream, credentials, cache).await
    }

    /// Starts a relay of `upstream` with one relay credential for `environments`.
    pub async fn start_with_relay_key(upstream: &str, relay_key: &str, environments: &[&str]) -> Self {
        let mut credentials = vec!["--relay-key".to_owned(), relay_key.to_owned()];
        for environment in environments {
            credentials.extend(["--environment".to_owned(), (*environment).to_owned()]);
        }
        Self::start_with(upstream, credentials, None).await
    }

    async fn start_with(upstream: &str, credentials: Vec<String>, cache: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().expect("a directory for the relay's log");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a port").port();
        let mut relay = RelayProcess {
            child: None,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            upstream: upstream.to_owned(),
            credentials,
            cache: cache.map(Path::to_owned),
            log: dir.path().join("relay.log"),
            _dir: dir,
        };
        relay.restart().await;
        relay
    }

    /// Kills the relay with SIGKILL.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the relay runs");
        child.kill().expect("the relay is killed");
        let _ = child.wait();
    }

    /// Starts the relay again on its port and waits until `/readyz` answers 200.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the relay already runs");
        let log = OpenOptions::new().create(true).append(true).open(&self.log).expect("the relay's log file");
        let mut command = Command::new(binary());
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("PENNON_") || n == "DATABASE_URL") {
                command.env_remove(name);
            }
        }
        command.arg("relay").arg("--upstream").arg(&self.upstream);
        command.args(&self.credentials);
        if let Some(cache) = &self.cache {
            command.arg("--cache-dir").arg(cache);
        }
        command
            .env("PENNON_RELAY_LISTEN", self.addr.to_string())
            .env("PENNON_RELAY_RECONNECT_MIN", "0.02")
            .env("PENNON_RELAY_RECONNECT_MAX", "0.2")
            .env("PENNON_RELAY_KEY_INTERVAL", "0.2")
            .env("PENNON_RELAY_FORWARD_INTERVAL", "0.2")
            .env("PENNON_RELAY_UPSTREAM_TIMEOUT", "2")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file, again"))
            .stderr(log);
        let child = command.spawn().unwrap_or_else(|e| panic!("{} cannot be started: {e}", binary().display()));
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let child = self.child.as_mut().expect("just started");
            if let Some(status) = child.try_wait().expect("the relay's status") {
                panic!("the relay exited ({status}):\n{}", self.log_text());
            }
            if self.readiness().await.0 == 200 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the relay is not ready:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `/readyz`: its status code (0 when nothing answers) and body.
    pub async fn readiness(&self) -> (u16, Value) {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("an HTTP client");
        match http.get(format!("http://{}/readyz", self.addr)).send().await {
            Ok(reply) => (reply.status().as_u16(), reply.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        }
    }

    fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        let start = text.len().saturating_sub(16 * 1024);
        text[text.floor_char_boundary(start)..].to_owned()
    }
}

impl Server for RelayProcess {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- log of the relay on {} ---\n{}--- end of log ---", self.addr, self.log_text());
        }
    }
}
