//! Settings of `pennon relay`. The settings it shares with `pennon serve` (body limits, timeouts, the SSE
//! heartbeat, context limits) keep the server's defaults and `PENNON_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};
use secrecy::SecretString;

use super::config::{ServeConfig, parse_seconds};

/// Settings of `pennon relay`.
#[derive(Debug, Clone, Args)]
pub struct RelayConfig {
    /// The upstream: a Pennon server (or another relay), e.g. `http://pennon.internal:8080`.
    #[arg(long, env = "PENNON_RELAY_UPSTREAM")]
    pub upstream: url::Url,
    /// A server SDK key of each environment to serve (repeat it; comma-separated in the variable). A secret.
    /// Needed unless --relay-key is given.
    #[arg(
        long = "key",
        env = "PENNON_RELAY_KEYS",
        value_delimiter = ',',
        required_unless_present = "relay_key",
        hide_env_values = true
    )]
    pub keys: Vec<SecretString>,
    /// A relay credential (`pnn_rly_...`, created by an admin) used for every --environment. A secret.
    #[arg(long, env = "PENNON_RELAY_KEY", requires = "environments", hide_env_values = true)]
    pub relay_key: Option<SecretString>,
    /// An environment to serve with --relay-key (repeat it; comma-separated in the variable); the credential
    /// must name it.
    #[arg(long = "environment", env = "PENNON_RELAY_ENVIRONMENTS", value_delimiter = ',', requires = "relay_key")]
    pub environments: Vec<String>,
    /// Address to listen on.
    #[arg(long, env = "PENNON_RELAY_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Where each environment's snapshot and keys are kept (written atomically), so that a relay started while
    /// the upstream is down serves at once. None when unset.
    #[arg(long, env = "PENNON_RELAY_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// First wait before reconnecting to the upstream, in seconds; it doubles (with jitter) up to
    /// --reconnect-max.
    #[arg(long, env = "PENNON_RELAY_RECONNECT_MIN", default_value = "0.2", value_parser = parse_seconds)]
    pub reconnect_min: Duration,
    /// Longest wait before reconnecting to the upstream, in seconds.
    #[arg(long, env = "PENNON_RELAY_RECONNECT_MAX", default_value = "10", value_parser = parse_seconds)]
    pub reconnect_max: Duration,
    /// An upstream stream silent this long (no event, no heartbeat), in seconds, is dropped and reopened.
    #[arg(long, env = "PENNON_RELAY_HEARTBEAT_TIMEOUT", default_value = "40", value_parser = parse_seconds)]
    pub heartbeat_timeout: Duration,
    /// How often the keys, allowed origins and watched metrics are asked of the upstream, in seconds: a key
    /// revoked upstream stops working here within about this long.
    #[arg(long, env = "PENNON_RELAY_KEY_INTERVAL", default_value = "2", value_parser = parse_seconds)]
    pub key_interval: Duration,
    /// How often SDK metrics received here are forwarded upstream, in seconds.
    #[arg(long, env = "PENNON_RELAY_FORWARD_INTERVAL", default_value = "5", value_parser = parse_seconds)]
    pub forward_interval: Duration,
    /// Most metric aggregates kept while the upstream does not take them; past it they are counted in
    /// `relay_metrics_dropped` and lost.
    #[arg(long, env = "PENNON_RELAY_METRICS_BUFFER", default_value_t = 100_000)]
    pub metrics_buffer: usize,
    /// Timeout of each request to the upstream (not of the stream, which --heartbeat-timeout watches), in
    /// seconds.
    #[arg(long, env = "PENNON_RELAY_UPSTREAM_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub upstream_timeout: Duration,
}

/// `pennon serve`'s settings alone, to read their defaults and variables.
#[derive(Parser)]
struct ServeOnly {
    #[command(flatten)]
    serve: ServeConfig,
}

impl RelayConfig {
    /// What each environment is followed with: every --key alone, then --relay-key with each --environment.
    pub fn credentials(&self) -> Vec<(SecretString, Option<String>)> {
        let mut credentials: Vec<_> = self.keys.iter().map(|key| (key.clone(), None)).collect();
        if let Some(relay_key) = &self.relay_key {
            let mut environments: Vec<&String> = Vec::new();
            for environment in &self.environments {
                if !environments.contains(&environment) {
                    environments.push(environment);
                }
            }
            credentials.extend(environments.into_iter().map(|e| (relay_key.clone(), Some(e.clone()))));
        }
        credentials
    }

    /// The server settings the relay's HTTP side and the shared handlers read: the server's defaults (and
    /// `PENNON_*` variables), listening on --listen.
    pub fn serve_settings(&self) -> anyhow::Result<ServeConfig> {
        let mut serve = ServeOnly::try_parse_from(["pennon"])?.serve;
        serve.listen = self.listen;
        Ok(serve)
    }
}
