//! `guard-reaction`: the time from the metrics batch that carries a breach to every SDK client seeing the flag
//! off.
//!
//! Each run starts a server in this process on a fresh SQLite database (or `--database-url`), sets up a boolean
//! flag split 50/50 with an error-rate guard (`on` may not err more than 10% above `off`), connects
//! `--clients` SDK clients over HTTP and SSE, waits a random part of a guard interval (so that batches land at
//! every phase of the guard loop's tick), then posts one metrics batch (2% errors on `on`, 0.5% on `off`,
//! 20,000 exposures each) to `POST /api/v1/sdk/metrics` and times until the last client's change listener
//! hears that `checkout` changed. The target is at most one guard interval plus 250 ms.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use pennon_sdk::Client;
use pennon_server::app::config::ServeConfig;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// The guard loop's interval, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// SDK clients per run.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Runs.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// A PostgreSQL database to use instead of a fresh SQLite file (emptied by nobody: use a fresh one).
    #[arg(long)]
    database_url: Option<String>,
}

const PASSWORD: &str = "guarded-rollouts-2026";

async fn call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = http.request(method, format!("{base}{path}")).bearer_auth(token).json(&body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{path}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One run: returns the reaction time of the slowest client.
async fn run(args: &Args, database_url: &str, offset: Duration) -> anyhow::Result<Duration> {
    let mut config = ServeConfig::for_database(database_url);
    config.guard_interval = Duration::from_millis(args.interval_ms);
    config.metrics_flush_interval = Duration::from_hours(1);
    config.admin_email = Some("bench@pennon.test".to_owned());
    config.admin_password = Some(PASSWORD.into());
    let server = pennon_server::app::startup::spawn(config).await?;
    let base = server.url();
    let http = reqwest::Client::new();
    let login = json!({ "email": "bench@pennon.test", "password": PASSWORD });
    let session = http.post(format!("{base}/api/v1/auth/login")).json(&login).send().await?.json::<Value>().await?;
    let token = session["token"].as_str().context("a session token")?.to_owned();
    call(&http, &base, &token, Method::POST, "/api/v1/environments", json!({ "key": "production" })).await?;
    call(&http, &base, &token, Method::POST, "/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await?;
    let split = json!({ "split": { "weights": [{ "variant": "on", "weight": 50_000 }, { "variant": "off", "weight": 50_000 }] } });
    let cfg = json!({ "enabled": true, "off_variant": "off", "default": split });
    call(&http, &base, &token, Method::PUT, "/api/v1/flags/checkout/environments/production", cfg).await?;
    let key = call(
        &http,
        &base,
        &token,
        Method::POST,
        "/api/v1/environments/production/keys",
        json!({ "kind": "server", "name": "bench" }),
    )
    .await?;
    let key = key["key"].as_str().context("an SDK key")?.to_owned();
    let metric = json!({ "key": "checkout_error", "kind": "rate", "direction": "lower_is_better" });
    call(&http, &base, &token, Method::POST, "/api/v1/metrics", metric).await?;
    let guard = json!({ "metric": "checkout_error", "statistic": "rate", "direction": "higher_is_worse",
        "threshold": { "relative": 0.1 }, "variant": "on" });
    call(&http, &base, &token, Method::POST, "/api/v1/flags/checkout/environments/production/guards", guard).await?;
    // The guard counts the 10-second metric buckets that start after its creation.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    tokio::time::sleep(Duration::from_millis(u64::try_from(10_020 - now % 10_000)?)).await;

    let mut clients = Vec::new();
    for _ in 0..args.clients {
        let client = Client::builder(base.clone(), key.clone()).events(false).build().await?;
        client.wait_until_ready(Duration::from_secs(10)).await?;
        clients.push(client);
    }
    let mut heard = Vec::new();
    for client in &clients {
        let mut changes = client.subscribe();
        heard.push(tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(change) if change.key == "checkout" => return Some(Instant::now()),
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
        }));
    }
    tokio::time::sleep(offset).await;
    let metric = |variant: &str, n: u64| json!({ "flag": "checkout", "variant": variant, "metric": "checkout_error", "count": n, "sum": n as f64, "sum_squares": n as f64 });
    let batch = json!({
        "exposures": [{ "flag": "checkout", "variant": "on", "count": 20_000 }, { "flag": "checkout", "variant": "off", "count": 20_000 }],
        "metrics": [metric("on", 400), metric("off", 100)]
    });
    let sent = Instant::now();
    let answer = http.post(format!("{base}/api/v1/sdk/metrics")).bearer_auth(&key).json(&batch).send().await?;
    if answer.status().as_u16() != 202 {
        bail!("metrics refused: {}", answer.status());
    }
    let mut slowest = Duration::ZERO;
    for task in heard {
        let at = tokio::time::timeout(Duration::from_millis(args.interval_ms) * 4 + Duration::from_secs(5), task)
            .await
            .context("a client did not see the change")??
            .context("a client's change channel closed")?;
        slowest = slowest.max(at.duration_since(sent));
    }
    for client in &clients {
        client.close().await;
    }
    server.shutdown().await;
    Ok(slowest)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut times = Vec::new();
    for i in 0..args.runs {
        let dir = tempfile::tempdir()?;
        let url = args
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("pennon.db").display()));
        // Spread the batches evenly over the phases of the guard loop's tick.
        let offset = Duration::from_millis(args.interval_ms * (i as u64 % 10) / 10 + 300);
        let t = run(&args, &url, offset).await?;
        println!("run {i}: {:.1} ms", t.as_secs_f64() * 1e3);
        times.push(t);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = times[times.len() / 2];
    println!(
        "guard interval {} ms, {} clients, {} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms (target <= {} ms)",
        args.interval_ms,
        args.clients,
        times.len(),
        ms(times[0]),
        ms(median),
        ms(times[times.len() - 1]),
        args.interval_ms + 250
    );
    Ok(())
}
