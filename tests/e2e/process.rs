//! The real `pennon` binary run as a child process, so that a test can kill it the way an operating system
//! does: SIGKILL, with no shutdown of any kind. Its output goes to a log file that is printed when a test fails.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cluster::{ADMIN_EMAIL, ADMIN_PASSWORD, PATIENCE, Server};

/// How many ports a first start tries, each found free a moment before, when the server cannot bind one.
const PORT_ATTEMPTS: usize = 5;

/// The `pennon` binary built next to this test executable (`target/<profile>/deps/e2e-<hash>`, wherever
/// `CARGO_TARGET_DIR` put it): `target/<profile>/pennon`. Panics, saying how to build it, when it is missing.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("the test executable lives in target/<profile>/deps");
    let binary = profile_dir.join(format!("pennon{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "the server binary {} is missing: build it first: cargo build -p pennon-server",
        binary.display()
    );
    binary
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("the bound address").port()
}

/// A `pennon serve` child process on 127.0.0.1 and a database of its own choosing. It keeps its port across
/// [`kill`](Self::kill) and [`restart`](Self::restart). Dropping it kills the process (a failed test leaves
/// nothing running) and, when the test is failing, prints the server's log.
pub struct ServerProcess {
    child: Option<Child>,
    addr: SocketAddr,
    database_url: String,
    /// Settings added to the defaults below.
    env: Vec<(String, String)>,
    log: PathBuf,
    // Holds the log file; removed when dropped.
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts a server on `database_url` on a free port, and waits until it is ready. Its periodic refresh
    /// (the safety net) is set out of reach, as for the in-process replicas: changes reach it by LISTEN/NOTIFY,
    /// and a restarted process by loading the database.
    pub async fn start(database_url: &str) -> Self {
        Self::start_with_env(database_url, &[]).await
    }

    /// [`start`](Self::start) with these settings (`PENNON_*` variables) besides.
    pub async fn start_with_env(database_url: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a directory for the server's log");
        let mut server = ServerProcess {
            child: None,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            database_url: database_url.to_owned(),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            log: dir.path().join("pennon.log"),
            _dir: dir,
        };
        for _ in 0..PORT_ATTEMPTS {
            // Another program may take the port between finding it free and the server binding it: then the
            // server exits, and another port is tried.
            server.addr.set_port(free_port());
            if server.spawn_and_wait().await {
                return server;
            }
        }
        panic!("the server did not start on any of {PORT_ATTEMPTS} ports:\n{}", server.log_text());
    }

    /// Kills the process with SIGKILL (no graceful shutdown: its connections are cut by the kernel) and reaps it.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the server runs");
        child.kill().expect("the server is killed");
        let status = child.wait().expect("the killed server is reaped");
        assert!(!status.success(), "the server was killed, not stopped: {status}");
    }

    /// Starts the process again on the same port and database, and waits until it is ready. The port may be
    /// held for a moment after the kill, so an early exit is retried until [`PATIENCE`] runs out.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the server already runs");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.spawn_and_wait().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server cannot start again on {}:\n{}",
                self.addr,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether anything accepts a TCP connection on the server's port.
    pub fn answers(&self) -> bool {
        TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok()
    }

    /// Spawns `pennon serve` on `self.addr` and waits until `/readyz` answers 200 (`true`) or the process
    /// exits (`false`). Panics when it neither answers nor exits within [`PATIENCE`].
    async fn spawn_and_wait(&mut self) -> bool {
        let log = OpenOptions::new().create(true).append(true).open(&self.log).expect("the server's log file");
        let mut command = Command::new(binary());
        // Only the settings below: none of the caller's own PENNON_* or DATABASE_URL.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("PENNON_") || n == "DATABASE_URL") {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .env("PENNON_LISTEN", self.addr.to_string())
            .env("DATABASE_URL", &self.database_url)
            .env("PENNON_DB_MAX_CONNECTIONS", "4")
            .env("PENNON_REFRESH_INTERVAL", "3600")
            .env("PENNON_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PENNON_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file, again"))
            .stderr(log);
        let child = command.spawn().unwrap_or_else(|e| panic!("{} cannot be started: {e}", binary().display()));
        let child = self.child.insert(child);

        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("an HTTP client");
        let readyz = format!("http://{}/readyz", self.addr);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().expect("the server's status") {
                self.child = None;
                eprintln!("the server on {} exited before it was ready ({status})", self.addr);
                return false;
            }
            if matches!(http.get(&readyz).send().await, Ok(reply) if reply.status() == 200) {
                return true;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server on {} is not ready after {PATIENCE:?}:\n{}",
                self.addr,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of the server's log (every start of it so far).
    fn log_text(&self) -> String {
        const TAIL: u64 = 16 * 1024;
        let Ok(mut file) = File::open(&self.log) else { return "(no log)".to_owned() };
        let len = file.metadata().map_or(0, |m| m.len());
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Server for ServerProcess {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- log of the server on {} ---\n{}--- end of log ---", self.addr, self.log_text());
        }
    }
}
