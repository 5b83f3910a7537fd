//! Building and running the server. Tests call the same functions (`spawn` binds port 0 and returns the
//! real address).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::config::ServeConfig;
use crate::app::state::AppState;
use crate::delivery::snapshots::Snapshots;
use crate::http::connection::Timeouts;
use crate::http::serve::ConnectionSettings;
use crate::store::Store;

/// How often the dashboard's feed looks for new audit rows (written by any replica).
const AUDIT_POLL: Duration = Duration::from_secs(1);

/// Connects to the database, migrates it and loads every snapshot.
pub async fn build_state(config: ServeConfig) -> anyhow::Result<AppState> {
    let store = Store::connect_lazy(config.database.database_url.expose_secret(), config.database.db_max_connections)?;
    store.migrate().await.context("applying database migrations")?;
    let snapshots = Snapshots::load(store.clone()).await.context("loading snapshots")?;
    let auth = crate::auth::AuthService::start(&config, &store).await.context("setting up authentication")?;
    let metrics = crate::telemetry::metrics::Metrics::default();
    let intake = crate::ingest::MetricsIntake::new(metrics.sdk_metrics_set_aside.clone());
    Ok(AppState::new(crate::app::state::Shared {
        store,
        snapshots: Arc::new(snapshots),
        config: Arc::new(config),
        metrics: Arc::new(metrics),
        auth: Arc::new(auth),
        streams: Arc::new(crate::delivery::streams::Streams::default()),
        intake: Arc::new(intake),
    }))
}

/// A running server.
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its state (tests reach the store through it).
    pub state: AppState,
    /// Whether this replica runs the guard loop (one replica at a time on PostgreSQL).
    pub guard_leader: crate::jobs::leader::Leader,
    /// Whether this replica runs the rollout-plan scheduler (one replica at a time on PostgreSQL).
    pub plan_leader: crate::jobs::leader::Leader,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    /// Writes SDK metrics; stopped (never aborted) so that no flush is cut short.
    flusher: JoinHandle<()>,
    /// Periodic jobs that run on the leader replica; stopped, so that they hand leadership over at once.
    jobs: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// The base URL, e.g. `http://127.0.0.1:43121`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, ends open streams, finishes in-flight requests (up to the grace period), writes the
    /// SDK metrics still in memory and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in &self.background {
            task.abort();
        }
        let grace = self.state.config.shutdown_grace;
        match tokio::time::timeout(grace, self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "server stopped with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "server task failed"),
            Err(_) => tracing::warn!("in-flight requests did not finish within the grace period"),
        }
        for job in self.jobs {
            let _ = tokio::time::timeout(grace, job).await;
        }
        let _ = tokio::time::timeout(grace, self.flusher).await;
        if let Err(e) = self.state.intake.flush(&self.state.store).await {
            let pending = self.state.intake.pending();
            tracing::warn!(error = %e, pending, "SDK metrics could not be written before shutdown and are lost");
        }
        let usage =
            crate::ingest::usage::flush(&self.state.metrics.usage, &self.state.store, crate::store::now_millis()).await;
        if let Err(e) = usage {
            tracing::warn!(error = %e, "flag usage could not be written before shutdown and is lost");
        }
        self.state.store.close().await;
    }

    /// Waits until the server stops by itself (it does not, unless it fails).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        (&mut self.task).await??;
        Ok(())
    }
}

/// Builds the state, binds the configured address and serves in the background.
pub async fn spawn(config: ServeConfig) -> anyhow::Result<RunningServer> {
    let listen = config.listen;
    let state = build_state(config).await?;
    let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let app = crate::http::router::app(state.clone());
    let streams = state.streams.clone();
    let config = &state.config;
    let settings = ConnectionSettings {
        timeouts: Timeouts {
            header_read: config.header_read_timeout,
            body_read: config.body_read_timeout,
            idle: config.idle_timeout,
        },
        write_stall: config.write_stall_timeout,
        max_connections: config.max_connections as usize,
    };
    let task = tokio::spawn(crate::http::serve::serve(listener, app, settings, state.metrics.clone(), async move {
        let _ = stopped.wait_for(|s| *s).await;
        // Streams never finish by themselves: end them, or they would hold shutdown up.
        streams.close();
    }));
    let events = state.snapshots.subscribe();
    let mut background = vec![
        tokio::spawn(refresh_loop(state.clone())),
        tokio::spawn(crate::delivery::streams::dispatch(
            state.streams.clone(),
            state.snapshots.clone(),
            events,
            state.config.sse_heartbeat,
            state.metrics.clone(),
        )),
        tokio::spawn(crate::delivery::streams::poll_audit(state.streams.clone(), state.store.clone(), AUDIT_POLL)),
    ];
    let flusher = crate::ingest::Flusher {
        intake: state.intake.clone(),
        metrics: state.metrics.clone(),
        store: state.store.clone(),
        interval: state.config.metrics_flush_interval,
        retention: state.config.metrics_retention,
        stale_after: state.config.stale_after(),
    };
    let flusher = tokio::spawn(crate::ingest::run_flusher(flusher, stop.subscribe()));
    let guards = crate::jobs::leader::Leader::start(state.store.clone(), crate::jobs::leader::GUARD_LOOP);
    let plans = crate::jobs::leader::Leader::start(state.store.clone(), crate::jobs::leader::PLAN_SCHEDULER);
    let webhooks = crate::jobs::leader::Leader::start(state.store.clone(), crate::jobs::leader::WEBHOOKS);
    let jobs = vec![
        tokio::spawn(crate::jobs::guard_loop::run(
            state.clone(),
            guards.clone(),
            state.config.guard_interval,
            stop.subscribe(),
        )),
        tokio::spawn(crate::jobs::plan_scheduler::run(
            state.clone(),
            plans.clone(),
            state.config.plan_tick,
            stop.subscribe(),
        )),
        tokio::spawn(crate::jobs::webhooks::run(state.clone(), webhooks, stop.subscribe())),
    ];
    if state.store.backend() == crate::store::Backend::Postgres {
        let url = state.config.database.database_url.clone();
        let credentials = Arc::new(tokio::sync::Notify::new());
        background.push(tokio::spawn(crate::delivery::replication::listen(
            url,
            state.snapshots.clone(),
            credentials.clone(),
        )));
        background.push(tokio::spawn(reload_credentials_on_notice(state.clone(), credentials)));
    }
    tracing::info!(%addr, backend = ?state.store.backend(), "pennon listening");
    Ok(RunningServer { addr, state, guard_leader: guards, plan_leader: plans, stop, task, background, flusher, jobs })
}

/// The safety net behind the catch-up after each commit: every interval, snapshots are compared with the
/// database and caught up, and the credentials kept in memory are reloaded; the change log and expired
/// sessions are pruned now and then.
async fn refresh_loop(state: AppState) {
    let mut tick = tokio::time::interval(state.config.refresh_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds = 0u64;
    loop {
        tick.tick().await;
        if let Err(e) = state.snapshots.refresh_all().await {
            tracing::debug!(error = %e, "snapshot refresh failed; serving the last snapshots");
        }
        if let Err(e) = state.auth.reload(&state.store).await {
            tracing::debug!(error = %e, "credential refresh failed; keeping the last known keys, tokens and sessions");
        }
        rounds += 1;
        if rounds.is_multiple_of(720) {
            if let Err(e) = state.store.prune_change_log(10_000).await {
                tracing::debug!(error = %e, "change log pruning failed");
            }
            if let Err(e) = state.store.prune_sessions().await {
                tracing::debug!(error = %e, "session pruning failed");
            }
        }
    }
}

/// Reloads the credentials kept in memory whenever another replica changed some (PostgreSQL notifications).
async fn reload_credentials_on_notice(state: AppState, notice: Arc<tokio::sync::Notify>) {
    loop {
        notice.notified().await;
        if let Err(e) = state.auth.reload(&state.store).await {
            tracing::debug!(error = %e, "credential reload failed; the refresh loop will retry");
        }
    }
}

/// Raises the soft limit on open files to the hard limit: each connection holds a file descriptor, and the
/// soft limit a process inherits is often far below what the system allows (1,024). Returns the limit in
/// effect.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return limit.current;
    }
    let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(from = limit.current, to = limit.maximum, "raised the open-file limit");
            limit.maximum
        }
        Err(e) => {
            tracing::warn!(error = %e, limit = limit.current, "could not raise the open-file limit");
            limit.current
        }
    }
}

/// Runs until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let open_files = raise_open_file_limit();
    if let Some(open_files) = open_files
        && open_files < u64::from(config.max_connections)
    {
        tracing::warn!(
            open_files,
            max_connections = config.max_connections,
            "the open-file limit is below --max-connections: past it, new connections wait for others to close"
        );
    }
    let mut server = spawn(config).await?;
    tokio::select! {
        result = server.wait() => result,
        () = shutdown_signal() => {
            tracing::info!("shutting down: finishing in-flight requests");
            server.shutdown().await;
            Ok(())
        }
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
