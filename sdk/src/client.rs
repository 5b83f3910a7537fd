//! [`Client`]: its state, background tasks, status, listeners, `track`, `flush` and `close`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pennon_engine::{Context, Snapshot};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::builder::{ClientBuilder, Config};
use crate::cache;
use crate::changes::FlagChange;
use crate::error::{BuildError, ReadyError, Status};
use crate::events::Events;
use crate::http::{Failure, Http};
use crate::state::{FlagState, Source};
use crate::store::Store;

/// What the client and its background tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    pub events: Events,
    pub status: watch::Sender<Status>,
    pub http: Option<Http>,
    pub config: Config,
    /// The state last written to the cache file.
    cache_written: Mutex<Option<Arc<FlagState>>>,
    /// No metrics are sent before this instant: the server answered 429/503 with `Retry-After`.
    metrics_not_before: Mutex<Option<Instant>>,
}

impl Shared {
    pub(crate) fn new(config: Config, http: Option<Http>, initial: Snapshot, source: Source, status: Status) -> Self {
        let stripes = std::thread::available_parallelism().map_or(4, usize::from).min(16);
        Shared {
            store: Store::new(initial, source, stripes),
            events: Events::new(config.attribution_entries, config.max_pending_rows),
            status: watch::channel(status).0,
            http,
            config,
            cache_written: Mutex::new(None),
            metrics_not_before: Mutex::new(None),
        }
    }

    /// Moves the status on, except out of `Failed` and `Closed`, which are final.
    pub(crate) fn set_status(&self, status: Status) {
        self.status.send_if_modified(|current| {
            let final_state = matches!(current, Status::Closed)
                || matches!(current, Status::Failed { .. }) && status != Status::Closed;
            if final_state || *current == status {
                return false;
            }
            match &status {
                Status::Interrupted { error } => {
                    tracing::warn!(%error, "not connected to the flag server; serving the last known flags");
                }
                Status::Failed { error } => {
                    tracing::error!(%error, "stopped contacting the flag server; serving the last known flags");
                }
                Status::Ready => tracing::info!("flags are current"),
                _ => {}
            }
            *current = status;
            true
        });
    }

    /// Writes the current flags to the cache file, off the async threads, when they came from the server and
    /// differ from what was written last.
    pub(crate) fn persist(self: &Arc<Self>) {
        if self.config.cache_file.is_none() {
            return;
        }
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            let Some(path) = &shared.config.cache_file else { return };
            let mut written = shared.cache_written.lock().unwrap_or_else(PoisonError::into_inner);
            let state = shared.store.current();
            if state.source != Source::Server || written.as_ref().is_some_and(|w| Arc::ptr_eq(w, &state)) {
                return;
            }
            match cache::write_atomic(path, &state.snapshot.to_snapshot()) {
                Ok(()) => *written = Some(state),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "could not write the cache file"),
            }
        });
    }
}

/// Stops the background tasks when the last clone of a client goes away.
#[derive(Debug)]
struct Lifecycle {
    shutdown: watch::Sender<bool>,
    sync: Mutex<Option<JoinHandle<()>>>,
    flush: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.sync.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

/// The Pennon client: evaluates flags locally and keeps them current in the background.
///
/// Cheap to clone (clones share everything); the background tasks stop when [`close`](Self::close) is called
/// or the last clone is dropped. See the [crate documentation](crate) for a tour.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    life: Arc<Lifecycle>,
}

impl Client {
    /// Starts configuring a client for the server at `base_url` (e.g. `http://pennon.internal:8080`) with an
    /// environment's server key (`pnn_srv_...`).
    pub fn builder(base_url: impl Into<String>, server_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url, server_key)
    }

    pub(crate) async fn start(config: Config) -> Result<Client, BuildError> {
        let http = if config.offline { None } else { Some(Http::new(&config)?) };
        // Snapshot files can be large: read and parse them off the async threads.
        let (bootstrap_file, cache_file) = (config.bootstrap_file.clone(), config.cache_file.clone());
        let (bootstrap, cached) = tokio::task::spawn_blocking(move || {
            let bootstrap = bootstrap_file.map(|path| {
                cache::read_snapshot(&path).map_err(|error| BuildError::Bootstrap { path: path.clone(), error })
            });
            (bootstrap, cache_file.as_deref().and_then(cache::load))
        })
        .await
        .map_err(|e| BuildError::Bootstrap {
            path: config.bootstrap_file.clone().unwrap_or_default(),
            error: e.to_string(),
        })?;
        let bootstrap = bootstrap.transpose()?.or_else(|| config.bootstrap.clone());
        let (initial, source) = match (cached, bootstrap) {
            (Some(cached), _) => (cached, Source::Cache),
            (None, Some(bootstrap)) => (bootstrap, Source::Bootstrap),
            (None, None) => (Snapshot::default(), Source::Empty),
        };
        tracing::debug!(?source, revision = initial.revision, flags = initial.flags.len(), "starting");
        let status = if http.is_some() { Status::Initializing } else { Status::Offline };
        let shared = Arc::new(Shared::new(config, http, initial, source, status));
        let (shutdown, _) = watch::channel(false);
        let (mut sync, mut flush) = (None, None);
        if shared.http.is_some() {
            sync = Some(tokio::spawn(crate::sync::run(shared.clone(), shutdown.subscribe())));
            if shared.config.events {
                flush = Some(tokio::spawn(flush_loop(shared.clone(), shutdown.subscribe())));
            }
        }
        let life = Lifecycle { shutdown, sync: Mutex::new(sync), flush: Mutex::new(flush) };
        Ok(Client { shared, life: Arc::new(life) })
    }

    /// A client without background tasks or network, over the given state (offline mode and test data).
    pub(crate) fn detached(shared: Arc<Shared>) -> Client {
        let life = Lifecycle { shutdown: watch::channel(false).0, sync: Mutex::new(None), flush: Mutex::new(None) };
        Client { shared, life: Arc::new(life) }
    }

    /// Where the client stands with the server.
    pub fn status(&self) -> Status {
        self.shared.status.borrow().clone()
    }

    /// A receiver that sees every status change (e.g. to export it as a health metric).
    pub fn status_changes(&self) -> watch::Receiver<Status> {
        self.shared.status.subscribe()
    }

    /// Waits until the flags are current ([`Status::Ready`] or [`Status::Offline`]), at most `timeout`.
    ///
    /// Returns at once with [`ReadyError::Failed`] when the server refused the key. On
    /// [`ReadyError::Timeout`] the client keeps trying and serves what it has meanwhile.
    pub async fn wait_until_ready(&self, timeout: Duration) -> Result<(), ReadyError> {
        let mut status = self.shared.status.subscribe();
        let settled =
            status.wait_for(|s| matches!(s, Status::Ready | Status::Offline | Status::Failed { .. } | Status::Closed));
        let outcome = match tokio::time::timeout(timeout, settled).await {
            Err(_) => return Err(ReadyError::Timeout),
            Ok(Err(_)) => return Err(ReadyError::Closed),
            Ok(Ok(status)) => status.clone(),
        };
        match outcome {
            Status::Failed { error } => Err(ReadyError::Failed(error)),
            Status::Closed => Err(ReadyError::Closed),
            _ => Ok(()),
        }
    }

    /// The environment revision of the flags being served (0 when there are none).
    pub fn revision(&self) -> u64 {
        self.shared.store.load().snapshot.revision
    }

    /// Where the flags being served came from.
    pub fn source(&self) -> Source {
        self.shared.store.load().source
    }

    /// A copy of the snapshot being served.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.store.load().snapshot.to_snapshot()
    }

    /// Calls `listener` with every [`FlagChange`], whatever brought it (stream, polling, test data), on the
    /// task that applied the change: keep it short and do not block. Returns an id for
    /// [`remove_listener`](Self::remove_listener).
    ///
    /// ```
    /// # let client = pennon_sdk::TestData::new().client();
    /// let id = client.on_change(|change| println!("{} changed", change.key));
    /// client.remove_listener(id);
    /// ```
    pub fn on_change(&self, listener: impl Fn(&FlagChange) + Send + Sync + 'static) -> ListenerId {
        ListenerId(self.shared.store.add_listener(Arc::new(listener)))
    }

    /// Removes a listener; `false` when it was not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.shared.store.remove_listener(id.0)
    }

    /// A channel of every [`FlagChange`] from now on. A receiver that falls more than 256 changes behind
    /// skips the oldest ([`broadcast::error::RecvError::Lagged`]).
    pub fn subscribe(&self) -> broadcast::Receiver<FlagChange> {
        self.shared.store.subscribe()
    }

    /// Records a value of a metric (e.g. `checkout_error` = 1, `latency_ms` = 182.0) for a context. It counts
    /// towards every (flag, variant) this SDK recently served the context's key, which is how metric guards
    /// compare variants. Returns how many (flag, variant) pairs it counted towards. Cheap and never blocks on
    /// the network: values are aggregated and sent with the next batch. A context without a key, or a value
    /// that is not finite, counts nowhere.
    pub fn track(&self, metric: &str, ctx: &Context, value: f64) -> usize {
        self.shared.events.track(&self.shared.store.load(), metric, ctx, value)
    }

    /// This process's exposures since the client started, per flag and variant, as a Prometheus counter
    /// family (`pennon_sdk_exposures_total{flag, variant}`, text exposition format) to append to the
    /// service's own `/metrics`. With it, a guard with a Prometheus source can count requests per variant
    /// (`sum(increase(pennon_sdk_exposures_total{flag="{{flag}}", variant="{{variant}}"}[{{range}}]))`)
    /// next to the service's own metrics labelled by the variant it served. Counts every evaluation up to
    /// this call, whether or not exposures are sent to the server.
    ///
    /// ```no_run
    /// # async fn demo(client: pennon_sdk::Client) {
    /// let text = client.exposure_metrics();
    /// assert!(text.starts_with("# HELP pennon_sdk_exposures_total"));
    /// # }
    /// ```
    pub fn exposure_metrics(&self) -> String {
        self.shared.events.collect(&self.shared.store);
        if !self.shared.config.events {
            // Nothing sends the collected windows: only the totals are kept.
            drop(self.shared.events.take_pending());
        }
        crate::exposition::render(&self.shared.events.exposure_totals())
    }

    /// Sends the exposures and metrics counted so far now, rather than at the next flush interval.
    /// Unsent data is kept for the next try (up to the configured bound).
    pub async fn flush(&self) -> Result<(), String> {
        flush(&self.shared).await.map_err(|f| f.message().to_owned())
    }

    /// Stops the background tasks and sends the remaining exposures and metrics (waiting at most the request
    /// timeout). Evaluation keeps working afterwards, with the last flags. Closing twice does nothing more.
    /// Dropping the last clone without closing stops the tasks too, but what was not sent yet is lost.
    pub async fn close(&self) {
        let _ = self.life.shutdown.send(true);
        let sync = self.life.sync.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = sync {
            task.abort();
            let _ = task.await;
        }
        let flusher = self.life.flush.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = flusher {
            // It finishes the flush it may be in the middle of, then stops.
            let _ = task.await;
            if let Err(e) = flush(&self.shared).await {
                tracing::warn!(error = %e.message(), "could not send the last exposures and metrics");
            }
        }
        self.shared.set_status(Status::Closed);
    }
}

/// Identifies a change listener, to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

/// The most rows sent in one request (the server takes up to 10,000).
const MAX_BATCH_ROWS: usize = 5_000;

async fn flush(shared: &Shared) -> Result<(), Failure> {
    shared.events.collect(&shared.store);
    let Some(http) = &shared.http else { return Ok(()) };
    if !shared.config.events {
        return Ok(());
    }
    let not_before = *shared.metrics_not_before.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(left) = not_before.map(|at| at.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero()) {
        let error = format!("the server asked to wait {}s more before metrics are sent", left.as_secs_f64());
        tracing::debug!(%error, "keeping the exposures and metrics for later");
        return Err(Failure::RetryAfter(error, left));
    }
    let Some(batch) = shared.events.take_pending() else { return Ok(()) };
    if let Status::Failed { error } = &*shared.status.borrow() {
        // The key was refused: sending would only be refused again.
        tracing::debug!(rows = batch.rows(), "dropping metrics: the client has stopped");
        return Err(Failure::Refused(error.clone()));
    }
    let mut parts = batch.split(MAX_BATCH_ROWS).into_iter();
    let mut outcome = Ok(());
    while let Some(part) = parts.next() {
        match http.post_metrics(&part).await {
            Ok(()) => tracing::debug!(rows = part.rows(), "sent exposures and metrics"),
            Err(failure @ (Failure::Rejected(_) | Failure::Refused(_))) => {
                tracing::warn!(rows = part.rows(), error = %failure.message(), "the server refused a metrics batch; dropped");
                outcome = Err(failure);
            }
            Err(failure) => {
                tracing::debug!(error = %failure.message(), "could not send metrics; keeping them for the next try");
                if let Some(after) = failure.retry_after() {
                    *shared.metrics_not_before.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(Instant::now() + after);
                }
                // Restored oldest first, so they stay in order: this part, then the rest.
                for rest in parts.rev() {
                    shared.events.restore(rest);
                }
                shared.events.restore(part);
                return Err(failure);
            }
        }
    }
    outcome
}

async fn flush_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let period = shared.config.flush_interval.max(Duration::from_millis(10));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => { let _ = flush(&shared).await; }
            _ = shutdown.changed() => return,
        }
    }
}
