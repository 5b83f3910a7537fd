//! The monitoring side of the Prometheus test: real `prometheus` and `alertmanager` processes with generated
//! configurations (ports found free, storage in a temporary directory, killed when dropped), and a tiny
//! service exporting per-variant counters for Prometheus to scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cluster::PATIENCE;

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("the bound address").port()
}

/// The first of `names` found on `PATH`. Fails the test, saying what to install, when none is: CI installs
/// them (`.ci/test`, `ensure_prometheus`).
pub fn program(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("none of {names:?} is on PATH: install Debian's prometheus and prometheus-alertmanager packages");
}

/// A child process killed (and reaped) when dropped, its output in a log printed when the test fails.
pub struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `program` with `args`, its output going to `dir/<name>.log`.
    pub fn start(name: &'static str, program: &Path, args: &[String], dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("a log file");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("the log file, again"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{} cannot be started: {e}", program.display()));
        Process { name, child, log }
    }

    /// Waits until `url` answers 200.
    pub async fn wait_ready(&mut self, url: &str) {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("an HTTP client");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("the status") {
                panic!("{} exited ({status}):\n{}", self.name, self.log_text());
            }
            if matches!(http.get(url).send().await, Ok(r) if r.status() == 200) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{} is not ready:\n{}", self.name, self.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(8 * 1024);
        text[text.floor_char_boundary(start)..].to_owned()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- log of {} ---\n{}--- end of log ---", self.name, self.log_text());
        }
    }
}

/// What [`Stack::start`] runs.
pub struct StackConfig<'a> {
    /// Where configurations, storage and logs go.
    pub dir: &'a Path,
    pub prometheus_port: u16,
    pub alertmanager_port: u16,
    /// Rule files Prometheus loads.
    pub rule_files: &'a [PathBuf],
    /// Scrape jobs: (job name, `host:port`).
    pub targets: &'a [(&'a str, String)],
    /// The alert Alertmanager routes to `webhook`; every other alert goes nowhere.
    pub alert: &'a str,
    pub webhook: &'a str,
}

/// Prometheus (scrape and rule evaluation every second, sending alerts to Alertmanager) and Alertmanager
/// (`group_wait: 0s`), both ready; killed when dropped.
pub struct Stack {
    _prometheus: Process,
    _alertmanager: Process,
}

impl Stack {
    pub async fn start(c: &StackConfig<'_>) -> Self {
        let am_config = format!(
            "route:\n  receiver: nobody\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  \
             repeat_interval: 1h\n  routes:\n    - receiver: webhook\n      matchers: ['alertname=\"{}\"']\n\
             receivers:\n  - name: nobody\n  - name: webhook\n    webhook_configs:\n      - url: {}\n        \
             send_resolved: false\n",
            c.alert, c.webhook
        );
        std::fs::write(c.dir.join("alertmanager.yml"), am_config).unwrap();
        let mut prom_config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{}']\nrule_files:\n",
            c.alertmanager_port
        );
        for file in c.rule_files {
            let _ = writeln!(prom_config, "  - {}", file.display());
        }
        prom_config.push_str("scrape_configs:\n");
        for (job, target) in c.targets {
            let _ = writeln!(prom_config, "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']");
        }
        std::fs::write(c.dir.join("prometheus.yml"), prom_config).unwrap();
        let path = |name: &str| c.dir.join(name).display().to_string();
        let mut alertmanager = Process::start(
            "alertmanager",
            &program(&["prometheus-alertmanager", "alertmanager"]),
            &[
                format!("--config.file={}", path("alertmanager.yml")),
                format!("--storage.path={}", path("am")),
                format!("--web.listen-address=127.0.0.1:{}", c.alertmanager_port),
                "--cluster.listen-address=".to_owned(),
            ],
            c.dir,
        );
        let mut prometheus = Process::start(
            "prometheus",
            &program(&["prometheus"]),
            &[
                format!("--config.file={}", path("prometheus.yml")),
                format!("--storage.tsdb.path={}", path("tsdb")),
                format!("--web.listen-address=127.0.0.1:{}", c.prometheus_port),
            ],
            c.dir,
        );
        alertmanager.wait_ready(&format!("http://127.0.0.1:{}/-/ready", c.alertmanager_port)).await;
        prometheus.wait_ready(&format!("http://127.0.0.1:{}/-/ready", c.prometheus_port)).await;
        Stack { _prometheus: prometheus, _alertmanager: alertmanager }
    }
}

/// Prometheus' HTTP API.
pub struct PrometheusApi {
    pub url: String,
    http: reqwest::Client,
}

impl PrometheusApi {
    pub fn new(url: String) -> Self {
        PrometheusApi { url, http: reqwest::Client::new() }
    }

    /// `GET path` (under the server), as JSON whose `status` is `success`; its `data`.
    pub async fn get(&self, path: &str) -> Value {
        let reply = self.http.get(format!("{}{path}", self.url)).send().await.expect("Prometheus answers");
        let body: Value = reply.json().await.expect("JSON");
        assert_eq!(body["status"], "success", "{path}: {body}");
        body["data"].clone()
    }

    /// The value of an instant query answering one series, if it does.
    pub async fn value(&self, promql: &str) -> Option<f64> {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/query", self.url), [("query", promql)])
            .expect("a query URL");
        let reply = self.http.get(url).send().await.expect("Prometheus answers");
        let body: Value = reply.json().await.expect("JSON");
        body["data"]["result"].as_array()?.first()?["value"][1].as_str()?.parse().ok()
    }
}

/// Counters and gauges of the demo service: (name, labels) → value.
pub type Series = Arc<Mutex<BTreeMap<(String, String), f64>>>;

/// Serves `GET /metrics` on a free port until the runtime ends: the series in `series` (their names ending
/// in `_total` are counters, the others gauges) and then `extra()` (e.g. the SDK's exposure counters).
/// Returns the port.
pub async fn serve_metrics(series: Series, extra: impl Fn() -> String + Send + Sync + 'static) -> u16 {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("a port");
    let port = listener.local_addr().expect("an address").port();
    let extra = Arc::new(extra);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { continue };
            let (series, extra) = (series.clone(), extra.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = render(&series) + &extra();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    port
}

fn render(series: &Series) -> String {
    let series = series.lock().unwrap();
    let mut out = String::new();
    let mut last = "";
    for ((name, labels), value) in series.iter() {
        if name != last {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP {name} Demo service series.\n# TYPE {name} {kind}");
            last = name;
        }
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
    out
}
