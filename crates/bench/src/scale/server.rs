//! The server under test: the release `pennon` binary as a process of its own on a fresh SQLite database.
//! Started once to make the environment, the admin and an SDK key through the API, stopped while the flags
//! are written in bulk ([`super::environment::load`]), and started again: it loads them as after any restart.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const ADMIN_EMAIL: &str = "bench@pennon.invalid";
const ADMIN_PASSWORD: &str = "guarded-rollouts-2026";
/// The environment the flags are in.
pub const ENVIRONMENT: &str = "bench";

/// A running `pennon serve`, killed when dropped.
pub struct Server {
    child: Option<Child>,
    pennon: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A server SDK key of [`ENVIRONMENT`].
    pub sdk_key: String,
    http: reqwest::Client,
    token: String,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts `pennon` on a fresh database, makes the environment and an SDK key, stops it, writes `flags`
    /// flags into the database and starts it again; returns once it answers (and how long loading took).
    pub async fn with_flags(pennon: &Path, flags: usize) -> anyhow::Result<(Server, Duration)> {
        let dir = tempfile::tempdir()?;
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let http = reqwest::Client::builder().timeout(Duration::from_mins(2)).build()?;
        let mut server = Server {
            child: None,
            pennon: pennon.to_owned(),
            addr,
            sdk_key: String::new(),
            http,
            token: String::new(),
            dir,
        };
        server.start().await?;
        server.call("POST", "/api/v1/environments", Some(json!({ "key": ENVIRONMENT, "name": "Scale" }))).await?;
        let key = server
            .call(
                "POST",
                &format!("/api/v1/environments/{ENVIRONMENT}/keys"),
                Some(json!({ "kind": "server", "name": "scale" })),
            )
            .await?;
        server.sdk_key = key["key"].as_str().context("no key secret")?.to_owned();
        server.stop().await?;
        let started = Instant::now();
        super::environment::load(&server.database_url(), ENVIRONMENT, flags).await?;
        server.start().await?;
        Ok((server, started.elapsed()))
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.dir.path().join("pennon.db").display())
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let child = Command::new(&self.pennon)
            .arg("serve")
            .env("DATABASE_URL", self.database_url())
            .env("PENNON_LISTEN", self.addr.to_string())
            .env("PENNON_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PENNON_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", std::env::var("PENNON_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.pennon.display()))?;
        self.child = Some(child);
        let url = format!("http://{}/healthz", self.addr);
        let mut up = false;
        for _ in 0..2400 {
            if let Some(status) = self.child.as_mut().context("started")?.try_wait()? {
                bail!("pennon exited at start: {status}");
            }
            if self.http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ensure!(up, "pennon did not answer /healthz within 120 s");
        let login = self
            .call("POST", "/api/v1/auth/login", Some(json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD })))
            .await?;
        login["token"].as_str().context("no session token")?.clone_into(&mut self.token);
        Ok(())
    }

    /// Stops the server.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// The server's process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.as_ref().and_then(Child::id).context("the server has exited")
    }

    /// The base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
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

    /// Turns a flag on or off through the admin API (one change: its config recompiled, one `patch` frame).
    pub async fn toggle(&self, flag: &str) -> anyhow::Result<()> {
        self.call("POST", &format!("/api/v1/flags/{flag}/environments/{ENVIRONMENT}/toggle"), None).await?;
        Ok(())
    }

    /// The environment's revision.
    pub async fn revision(&self) -> anyhow::Result<u64> {
        let env = self.call("GET", &format!("/api/v1/environments/{ENVIRONMENT}"), None).await?;
        env["revision"].as_u64().context("no revision")
    }
}
