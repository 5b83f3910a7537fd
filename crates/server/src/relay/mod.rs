//! The relay (`pennon relay`): a process without a database that sits next to the applications, follows an
//! upstream server (or relay) per environment and serves the SDK, evaluation and OFREP endpoints from memory.
//!
//! It serves with the server's own code: the state is an [`AppState`] whose snapshots are fed by the
//! upstream ([`follower`]) instead of a database, and whose SDK keys are learned from the upstream as digests
//! ([`follower::follow_keys`]); the routes are the server's handlers ([`http`]), the streams the server's
//! dispatcher with its pre-encoded frames, the metrics intake the server's, forwarded upstream instead of
//! written ([`forwarder`]). So a relay answers as the server it follows does. With `--cache-dir` each
//! environment's snapshot and keys are kept on disk ([`cache`]) and served at start while the upstream is
//! away.
//!
//! A layer beside [`crate::app`]: it uses the layers below (api, http, delivery, auth, ingest) as `app` does.

pub mod cache;
pub mod follower;
pub mod forwarder;
pub mod http;
pub mod sse;
pub mod status;
pub mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::api::sdk::relay::RelayInfo;
use crate::app::relay_config::RelayConfig;
use crate::app::state::{AppState, Shared};
use crate::delivery::snapshots::Snapshots;
use crate::http::connection::Timeouts;
use crate::http::serve::ConnectionSettings;
use crate::store::Store;
use cache::Cache;
use status::{Slot, Source};
use upstream::Upstream;

/// One configured key: its upstream, its cache files and what is known of its environment.
#[derive(Debug)]
pub struct Tie {
    /// The environment's status.
    pub slot: Arc<Slot>,
    /// The upstream, with this key.
    pub upstream: Upstream,
    /// Its cache files, with `--cache-dir`.
    pub cache: Option<Cache>,
}

/// The relay's shared parts.
#[derive(Debug)]
pub struct Relay {
    /// The server's state, fed by the upstream.
    pub state: AppState,
    /// Its settings.
    pub config: RelayConfig,
    /// One per `--key`.
    pub ties: Vec<Arc<Tie>>,
    /// What each environment's upstream said of its keys, origins and watched metrics.
    learned: Mutex<HashMap<String, RelayInfo>>,
}

impl Relay {
    /// The tie whose environment is `environment`.
    pub fn tie_of(&self, environment: &str) -> Option<&Arc<Tie>> {
        self.ties.iter().find(|t| t.slot.environment().as_deref() == Some(environment))
    }

    /// Writes the environment's snapshot to the cache, if there is one.
    async fn cache_snapshot(&self, tie: &Tie, environment: &str) {
        if let (Some(cache), Some(snapshot)) = (&tie.cache, self.state.snapshots.get(environment)) {
            cache.store_snapshot(&snapshot.to_json()).await;
        }
    }

    /// Takes in what the upstream said of an environment: its keys replace the ones known, and the allowed
    /// origins and watched metrics of every environment are set again.
    async fn learn(&self, tie: &Tie, info: RelayInfo) {
        let mut learned = self.learned.lock().await;
        self.state.auth.keys.replace_environment(&info.environment, &info.keys);
        tie.slot.set_keys();
        if let Some(cache) = &tie.cache {
            cache.store_info(&info).await;
        }
        learned.insert(info.environment.clone(), info);
        let snapshots = &self.state.snapshots;
        snapshots.origins().replace(learned.values().map(|i| (i.environment.as_str(), i.allowed_origins.as_slice())));
        snapshots.watched().replace(
            learned
                .values()
                .flat_map(|i| i.watched.iter().map(|w| (i.environment.clone(), w.flag.clone(), w.metric.clone()))),
        );
    }
}

/// A running relay.
pub struct RunningRelay {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its parts.
    pub relay: Arc<Relay>,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    forwarder: JoinHandle<()>,
}

impl RunningRelay {
    /// Stops serving, forwards the SDK metrics still held (once) and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in &self.background {
            task.abort();
        }
        let grace = self.relay.state.config.shutdown_grace;
        let _ = tokio::time::timeout(grace, self.task).await;
        let _ = tokio::time::timeout(grace, self.forwarder).await;
    }

    /// Waits until the relay stops by itself (it does not, unless it fails).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        (&mut self.task).await??;
        Ok(())
    }
}

/// Builds the relay's state: the server's, without a database.
async fn build_state(config: &RelayConfig) -> anyhow::Result<AppState> {
    let serve = config.serve_settings()?;
    // Never opened: the relay's routes read memory only. A catch-up or a replay from the change log asked of it
    // fails as a database that is away does (503, or a `put` instead of a replay).
    let store = Store::connect_lazy("sqlite::memory:", 1)?;
    let auth = crate::auth::AuthService::detached(&serve).await?;
    let metrics = crate::telemetry::metrics::Metrics::default();
    let intake = crate::ingest::MetricsIntake::new(metrics.sdk_metrics_set_aside.clone());
    Ok(AppState::new(Shared {
        snapshots: Arc::new(Snapshots::empty(store.clone())),
        store,
        config: Arc::new(serve),
        metrics: Arc::new(metrics),
        auth: Arc::new(auth),
        streams: Arc::new(crate::delivery::streams::Streams::default()),
        intake: Arc::new(intake),
    }))
}

/// Starts the relay: loads the caches, binds, serves, and follows the upstream in the background.
pub async fn spawn(config: RelayConfig) -> anyhow::Result<RunningRelay> {
    let state = build_state(&config).await?;
    let ties = config
        .credentials()
        .into_iter()
        .enumerate()
        .map(|(i, (key, environment))| {
            // A relay credential's environments each get their own cache files.
            let cache_name = match &environment {
                Some(environment) => format!("{}\n{environment}", key.expose_secret()),
                None => key.expose_secret().to_owned(),
            };
            let upstream = Upstream::new(&config.upstream, key, environment, config.upstream_timeout);
            let cache = config.cache_dir.as_deref().map(|dir| Cache::new(dir, &cache_name));
            Arc::new(Tie { slot: Arc::new(Slot::new(i)), upstream, cache })
        })
        .collect();
    let relay = Arc::new(Relay { state: state.clone(), config, ties, learned: Mutex::default() });
    for tie in &relay.ties {
        let Some(cache) = &tie.cache else { continue };
        if let Some((snapshot, info)) = cache.load().await {
            let environment = snapshot.environment.clone();
            tracing::info!(
                environment,
                revision = snapshot.revision,
                "serving the cached snapshot until the upstream answers"
            );
            state.snapshots.receive_whole(snapshot).await;
            tie.slot.set_snapshot(&environment, Source::Cache);
            relay.learn(tie, info).await;
        }
    }

    let listen = relay.config.listen;
    let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let app = http::app(relay.clone());
    let streams = state.streams.clone();
    let serve = &state.config;
    let settings = ConnectionSettings {
        timeouts: Timeouts {
            header_read: serve.header_read_timeout,
            body_read: serve.body_read_timeout,
            idle: serve.idle_timeout,
        },
        write_stall: serve.write_stall_timeout,
        max_connections: serve.max_connections as usize,
    };
    let task = tokio::spawn(crate::http::serve::serve(listener, app, settings, state.metrics.clone(), async move {
        let _ = stopped.wait_for(|s| *s).await;
        streams.close();
    }));
    let events = state.snapshots.subscribe();
    let mut background = vec![tokio::spawn(crate::delivery::streams::dispatch(
        state.streams.clone(),
        state.snapshots.clone(),
        events,
        state.config.sse_heartbeat,
        state.metrics.clone(),
    ))];
    for tie in &relay.ties {
        background.push(tokio::spawn(follower::follow(relay.clone(), tie.clone())));
        background.push(tokio::spawn(follower::follow_keys(relay.clone(), tie.clone())));
    }
    let forwarder = tokio::spawn(forwarder::run(relay.clone(), stop.subscribe()));
    tracing::info!(%addr, upstream = %relay.config.upstream, environments = relay.ties.len(), "pennon relay listening");
    Ok(RunningRelay { addr, relay, stop, task, background, forwarder })
}

/// Runs until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn run(config: RelayConfig) -> anyhow::Result<()> {
    crate::app::startup::raise_open_file_limit();
    let mut relay = spawn(config).await?;
    tokio::select! {
        result = relay.wait() => result,
        () = crate::app::startup::shutdown_signal() => {
            tracing::info!("shutting down the relay");
            relay.shutdown().await;
            Ok(())
        }
    }
}
