//! Building and running the server. Tests call the same functions (`spawn` binds port 0 and returns the
//! real address).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;

use axum::body::Body;
use axum::http::Request;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::config::ServeConfig;
use crate::app::state::AppState;
use crate::delivery::snapshots::Snapshots;
use crate::http::listener::GuardedListener;
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
    // `tap_io` also makes the peer address available to handlers (`ConnectInfo<SocketAddr>`).
    let listener = GuardedListener::new(listener, state.config.write_stall_timeout).tap_io(|io| {
        // Small SSE frames and answers go out at once.
        let _ = io.get_ref().set_nodelay(true);
    });
    let (stop, mut stopped) = watch::channel(false);
    let app = crate::http::router::app(state.clone());
    let streams = state.streams.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, axum::ServiceExt::<Request<Body>>::into_make_service_with_connect_info::<SocketAddr>(app))
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
                // Streams never finish by themselves: end them, or they would hold shutdown up.
                streams.close();
            })
            .await
    });
    let events = state.snapshots.subscribe();
    let mut background = vec![
        tokio::spawn(refresh_loop(state.clone())),
        tokio::spawn(crate::delivery::streams::dispatch(
            state.streams.clone(),
            state.snapshots.clone(),
            events,
            state.config.sse_heartbeat,
        )),
        tokio::spawn(crate::delivery::streams::poll_audit(state.streams.clone(), state.store.clone(), AUDIT_POLL)),
    ];
    let flusher = tokio::spawn(crate::ingest::run_flusher(
        state.intake.clone(),
        state.store.clone(),
        state.config.metrics_flush_interval,
        state.config.metrics_retention,
        stop.subscribe(),
    ));
    let guards = crate::jobs::leader::Leader::start(state.store.clone(), crate::jobs::leader::GUARD_LOOP);
    let plans = crate::jobs::leader::Leader::start(state.store.clone(), crate::jobs::leader::PLAN_SCHEDULER);
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
    ];
    if state.store.backend() == crate::store::Backend::Postgres {
        let url = state.config.database.database_url.clone();
        background.push(tokio::spawn(crate::delivery::replication::listen(url, state.snapshots.clone())));
    }
    tracing::info!(%addr, backend = ?state.store.backend(), "pennon listening");
    Ok(RunningServer { addr, state, guard_leader: guards, plan_leader: plans, stop, task, background, flusher, jobs })
}

/// The safety net behind the catch-up after each commit: every interval, snapshots are compared with the
/// database and caught up; the change log is pruned now and then.
async fn refresh_loop(state: AppState) {
    let mut tick = tokio::time::interval(state.config.refresh_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds = 0u64;
    loop {
        tick.tick().await;
        if let Err(e) = state.snapshots.refresh_all().await {
            tracing::debug!(error = %e, "snapshot refresh failed; serving the last snapshots");
        }
        if let Err(e) = state.auth.keys.reload(&state.store).await {
            tracing::debug!(error = %e, "SDK key refresh failed; keeping the last known keys");
        }
        rounds += 1;
        if rounds.is_multiple_of(720)
            && let Err(e) = state.store.prune_change_log(10_000).await
        {
            tracing::debug!(error = %e, "change log pruning failed");
        }
    }
}

/// Runs until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
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

async fn shutdown_signal() {
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
