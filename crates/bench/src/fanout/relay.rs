//! A relay under test: the release `pennon` binary started as `pennon relay`, a process of its own that
//! follows the benchmark's server with its SDK key, and the servers' `/metrics` read for a gauge.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

/// A running `pennon relay`, killed when dropped.
pub struct Relay {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Relay {
    /// Starts `pennon relay` on a free port of 127.0.0.1, following `upstream` with the server key whose
    /// `Authorization` value is `authorization`; returns once its `/readyz` says `ready`.
    pub async fn start(pennon: &Path, upstream: SocketAddr, authorization: &str) -> anyhow::Result<Relay> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let key = authorization.strip_prefix("Bearer ").unwrap_or(authorization);
        let child = Command::new(pennon)
            .arg("relay")
            .args(["--upstream", &format!("http://{upstream}"), "--listen", &addr.to_string()])
            .env("PENNON_RELAY_KEYS", key)
            // Every subscriber holds a connection: no limit below the open-file limit.
            .env("PENNON_MAX_CONNECTIONS", "1000000")
            .env("RUST_LOG", std::env::var("PENNON_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} relay", pennon.display()))?;
        let mut relay = Relay { child, addr };
        relay.wait_until_ready().await?;
        Ok(relay)
    }

    /// The relay's process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the relay has exited")
    }

    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let url = format!("http://{}/readyz", self.addr);
        for _ in 0..400 {
            if let Some(status) = self.child.try_wait()? {
                bail!("pennon relay exited at start: {status}");
            }
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
                && response.text().await.is_ok_and(|body| body.contains("\"ready\""))
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("pennon relay was not ready within 20 s")
    }

    /// Stops the relay.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// The value of the sample `series` (name and labels as exposed, e.g.
/// `pennon_sse_subscribers{stream="sdk"}`) in the `/metrics` of the process at `addr`, a whole number; 0 when
/// absent.
pub async fn gauge(addr: SocketAddr, series: &str) -> anyhow::Result<u64> {
    let text = reqwest::get(format!("http://{addr}/metrics")).await?.error_for_status()?.text().await?;
    sample(&text, series)
}

/// The value of `series` in a Prometheus text exposition, rounded; 0 when absent.
fn sample(text: &str, series: &str) -> anyhow::Result<u64> {
    for line in text.lines() {
        if let Some(value) = line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')) {
            let value: f64 = value.trim().parse()?;
            return Ok(value.round() as u64);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn reads_one_series_of_a_family() {
        let text = "# HELP pennon_sse_subscribers Open Server-Sent Events streams\n\
                    # TYPE pennon_sse_subscribers gauge\n\
                    pennon_sse_subscribers{stream=\"admin\"} 7\n\
                    pennon_sse_subscribers{stream=\"sdk\"} 2\n\
                    pennon_sse_subscribers_total 9\n";
        assert_eq!(sample(text, "pennon_sse_subscribers{stream=\"sdk\"}").unwrap(), 2);
        assert_eq!(sample(text, "pennon_sse_subscribers{stream=\"admin\"}").unwrap(), 7);
        assert_eq!(sample(text, "pennon_sse_lagged{stream=\"sdk\"}").unwrap(), 0, "absent counts as 0");
        assert!(sample("x{a=\"b\"} many\n", "x{a=\"b\"}").is_err(), "a value that is not a number");
    }
}
