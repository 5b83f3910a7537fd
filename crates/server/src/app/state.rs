//! The application state every handler shares. Built once by [`crate::app::startup`]; cheap to clone (one
//! reference count: axum clones it for every request).

use std::ops::Deref;
use std::sync::Arc;

use crate::app::config::ServeConfig;
use crate::auth::AuthService;
use crate::delivery::snapshots::Snapshots;
use crate::delivery::streams::Streams;
use crate::ingest::MetricsIntake;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;

/// Shared by every handler: [`Shared`] behind one `Arc`.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wraps the parts.
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of the application state.
#[derive(Debug)]
pub struct Shared {
    /// The database.
    pub store: Store,
    /// The compiled snapshots evaluation reads.
    pub snapshots: Arc<Snapshots>,
    /// The settings the server runs with.
    pub config: Arc<ServeConfig>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Sessions, SDK keys and login limits.
    pub auth: Arc<AuthService>,
    /// SDK streams and the dashboard's feed.
    pub streams: Arc<Streams>,
    /// SDK metrics aggregated in memory until they are flushed.
    pub intake: Arc<MetricsIntake>,
}
