//! The server under test: the release `pennon` binary, started as a process of its own (`pennon serve`) on a
//! fresh SQLite database, set up and written to through its HTTP API like any deployment.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::os::monotonic_nanos;

const ADMIN_EMAIL: &str = "bench@pennon.invalid";
const ADMIN_PASSWORD: &str = "guarded-rollouts-2026";
/// The environment the subscribers listen to.
pub const ENVIRONMENT: &str = "bench";
/// The flag that every write toggles.
pub const FLAG: &str = "fanout";

/// A running `pennon serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A server SDK key of [`ENVIRONMENT`], as an `Authorization` value.
    pub sdk_authorization: String,
    http: reqwest::Client,
    token: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `pennon` on a free port of 127.0.0.1 and creates the environment, the flag and a server key.
    pub async fn start(pennon: &Path) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(pennon)
            .arg("serve")
            .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.path().join("pennon.db").display()))
            .env("PENNON_LISTEN", addr.to_string())
            // Every subscriber holds a connection: no limit below the open-file limit.
            .env("PENNON_MAX_CONNECTIONS", "1000000")
            .env("PENNON_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PENNON_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", std::env::var("PENNON_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", pennon.display()))?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let mut server =
            Server { child, addr, sdk_authorization: String::new(), http, token: String::new(), _dir: dir };
        server.wait_until_up().await?;
        let login = server
            .call("POST", "/api/v1/auth/login", Some(json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD })))
            .await?;
        server.token = login["token"].as_str().context("no session token")?.to_owned();
        server.call("POST", "/api/v1/environments", Some(json!({ "key": ENVIRONMENT, "name": "Benchmark" }))).await?;
        server.call("POST", "/api/v1/flags", Some(json!({ "key": FLAG, "kind": "boolean" }))).await?;
        let key = server
            .call(
                "POST",
                &format!("/api/v1/environments/{ENVIRONMENT}/keys"),
                Some(json!({ "kind": "server", "name": "bench" })),
            )
            .await?;
        server.sdk_authorization = format!("Bearer {}", key["key"].as_str().context("no key secret")?);
        Ok(server)
    }

    /// The server's process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the server has exited")
    }

    async fn wait_until_up(&mut self) -> anyhow::Result<()> {
        let url = format!("http://{}/healthz", self.addr);
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait()? {
                bail!("pennon exited at start: {status}");
            }
            if self.http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("pennon did not answer /healthz within 10 s")
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("http://{}{path}", self.addr);
        let mut request = self.http.request(method.parse()?, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "{method} {path}: {status} {text}");
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }

    /// Turns the flag on or off through the admin API; returns the `CLOCK_MONOTONIC` time at which the
    /// answer arrived.
    pub async fn toggle(&self) -> anyhow::Result<u64> {
        let url = format!("http://{}/api/v1/flags/{FLAG}/environments/{ENVIRONMENT}/toggle", self.addr);
        let response = self.http.post(url).bearer_auth(&self.token).send().await?;
        let at = monotonic_nanos();
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "toggle: {status} {text}");
        Ok(at)
    }

    /// The environment's revision.
    pub async fn revision(&self) -> anyhow::Result<u64> {
        let env = self.call("GET", &format!("/api/v1/environments/{ENVIRONMENT}"), None).await?;
        env["revision"].as_u64().context("no revision")
    }

    /// Stops the server.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}
