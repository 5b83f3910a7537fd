//! [`ClientBuilder`]: every setting of the client, with defaults that suit a server application.

use std::path::PathBuf;
use std::time::Duration;

use pennon_engine::Snapshot;

use crate::Client;
use crate::error::BuildError;

/// The settings a client runs with. Its `Debug` leaves the server key out.
#[derive(Clone)]
pub(crate) struct Config {
    pub base_url: String,
    pub server_key: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub stream: bool,
    pub poll_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub initial_reconnect_delay: Duration,
    pub max_reconnect_delay: Duration,
    pub stream_failures_before_polling: u32,
    pub cache_file: Option<PathBuf>,
    pub bootstrap_file: Option<PathBuf>,
    pub bootstrap: Option<Snapshot>,
    pub offline: bool,
    pub events: bool,
    pub flush_interval: Duration,
    pub max_pending_rows: usize,
    pub attribution_entries: usize,
    pub max_event_bytes: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("server_key", &"***")
            .field("stream", &self.stream)
            .field("poll_interval", &self.poll_interval)
            .field("cache_file", &self.cache_file)
            .field("bootstrap_file", &self.bootstrap_file)
            .field("offline", &self.offline)
            .field("events", &self.events)
            .field("flush_interval", &self.flush_interval)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]: `Client::builder(base_url, server_key)`, settings, then [`build`](Self::build).
///
/// ```no_run
/// # async fn run() -> Result<(), pennon_sdk::BuildError> {
/// use std::time::Duration;
///
/// let client = pennon_sdk::Client::builder("http://pennon.internal:8080", "pnn_srv_...")
///     .request_timeout(Duration::from_secs(5))
///     .cache_file("/var/cache/my-app/pennon.json")
///     .flush_interval(Duration::from_secs(10))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct ClientBuilder {
    pub(crate) config: Config,
}

impl ClientBuilder {
    pub(crate) fn new(base_url: impl Into<String>, server_key: impl Into<String>) -> Self {
        ClientBuilder {
            config: Config {
                base_url: base_url.into().trim_end_matches('/').to_owned(),
                server_key: server_key.into(),
                connect_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(10),
                stream: true,
                poll_interval: Duration::from_secs(30),
                heartbeat_timeout: Duration::from_secs(45),
                initial_reconnect_delay: Duration::from_secs(1),
                max_reconnect_delay: Duration::from_secs(4),
                stream_failures_before_polling: 3,
                cache_file: None,
                bootstrap_file: None,
                bootstrap: None,
                offline: false,
                events: true,
                flush_interval: Duration::from_secs(5),
                max_pending_rows: 10_000,
                attribution_entries: 1 << 17,
                max_event_bytes: 64 << 20,
            },
        }
    }

    /// How long to wait for a TCP (and TLS) connection to the server. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// How long a request may take: a snapshot, a metrics batch, or the stream's response headers.
    /// Default 10 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Whether to stay current over the event stream (default) or by polling only.
    pub fn stream(mut self, enabled: bool) -> Self {
        self.config.stream = enabled;
        self
    }

    /// How often to poll the snapshot when polling (streaming off, refused, or failing). Default 30 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// How long the stream may stay silent before the connection counts as dead and is replaced. The
    /// server sends a heartbeat every 15 s; default 45 s (three heartbeats).
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.config.heartbeat_timeout = timeout;
        self
    }

    /// Bounds of the reconnection delays: the n-th consecutive failure waits a random time up to
    /// `min(max, initial × 2ⁿ)`. Defaults 1 s and 4 s; the server's `retry:` replaces `initial`. `max` bounds
    /// how long after a server comes back the client is streaming again.
    pub fn reconnect_delays(mut self, initial: Duration, max: Duration) -> Self {
        self.config.initial_reconnect_delay = initial;
        self.config.max_reconnect_delay = max;
        self
    }

    /// After this many consecutive stream failures the client also polls the snapshot (every `poll_interval`)
    /// while it keeps trying the stream. Default 3.
    pub fn stream_failures_before_polling(mut self, failures: u32) -> Self {
        self.config.stream_failures_before_polling = failures.max(1);
        self
    }

    /// A file to keep the last flags in: written (to a temporary file, then renamed) after every change, and
    /// read at start, so that a restart while the server is away serves the flags it had.
    pub fn cache_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.cache_file = Some(path.into());
        self
    }

    /// A snapshot file (the JSON of `GET /api/v1/sdk/snapshot`) to serve until the server answers, when
    /// there is no cache file. [`build`](Self::build) fails when it cannot be read.
    pub fn bootstrap_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.bootstrap_file = Some(path.into());
        self
    }

    /// A snapshot to serve until the server answers, when there is no cache file.
    pub fn bootstrap(mut self, snapshot: Snapshot) -> Self {
        self.config.bootstrap = Some(snapshot);
        self
    }

    /// Offline mode: never contact the server; serve the bootstrap (or the callers' defaults) and send no
    /// events.
    pub fn offline(mut self, offline: bool) -> Self {
        self.config.offline = offline;
        self
    }

    /// Whether to send exposures and [`track`](Client::track)ed metrics to the server. Default on.
    pub fn events(mut self, enabled: bool) -> Self {
        self.config.events = enabled;
        self
    }

    /// How often exposures and metrics are sent. Default 5 s. [`Client::close`] sends the rest.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.config.flush_interval = interval;
        self
    }

    /// How many rows (one per (flag, variant) or (flag, variant, metric)) to keep while the server does not
    /// take them; beyond that the oldest windows are dropped. Default 10,000.
    pub fn max_pending_events(mut self, rows: usize) -> Self {
        self.config.max_pending_rows = rows;
        self
    }

    /// How many (context key, flag) exposures to remember for attributing tracked metrics; 8 bytes each,
    /// fixed at start. Default 131,072 (1 MiB): ten thousand contexts that each see a dozen flags.
    pub fn attribution_capacity(mut self, entries: usize) -> Self {
        self.config.attribution_entries = entries;
        self
    }

    /// Builds the client and starts keeping it current in the background (on the current Tokio runtime).
    ///
    /// Returns at once, without waiting for the server: until the flags arrive the client serves the cache
    /// file, else the bootstrap, else the callers' defaults. It does not fail when the server is down; it keeps
    /// trying. Use [`Client::wait_until_ready`] to wait for the flags. Fails only on settings that can never
    /// work: a base URL that is not `http(s)://`, an unreadable bootstrap file.
    pub async fn build(self) -> Result<Client, BuildError> {
        Client::start(self.config).await
    }
}
