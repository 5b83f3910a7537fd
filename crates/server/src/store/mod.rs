//! Storage: PostgreSQL in production, SQLite embedded, behind one seam.
//!
//! The layer of SQL: it uses only [`crate::domain`] (the types it keeps) and the engine, never a layer above
//! it (`docs/architecture.md`).
//!
//! Queries are written once in the SQL both databases understand (`$1` placeholders, `RETURNING`,
//! `ON CONFLICT`, integers for booleans and times, JSON as text) and run through sqlx's `Any` driver. The
//! behaviour suite in `tests/` runs against both databases: it is the check that each query means the same
//! in both.
//!
//! Every write goes through [`WriteTx`], whose only way to commit appends the audit row in the same
//! transaction: a change without its audit row cannot be written.

mod apply;
mod approvals;
mod audit;
mod change_requests;
mod configs;
mod credentials;
mod environments;
mod flag_states;
mod flags;
mod guard_checks;
mod guards;
mod import;
mod locks;
mod metric_buckets;
mod metrics;
mod plan_steps;
mod plans;
mod relay_keys;
mod scheduled;
mod scheduled_apply;
mod segments;
mod sessions;
mod snapshot;
mod tokens;
mod triggers;
mod usage;
mod users;
mod webhook_queue;
mod webhooks;
mod write;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};
use tokio::sync::Mutex;

pub use apply::{ApplyFailure, ApplyStep, DefinitionCheck};
pub use audit::{AuditEntry, AuditFilter, REDACTED};
pub use change_requests::{ApprovalRecord, ChangeMode, ChangeOutcome, ChangeRequest, RequestFilter, RequestState};
pub use configs::{ConfigRecord, ConfigVersion};
pub use environments::{Environment, EnvironmentPatch, NewEnvironment};
pub use flag_states::{FlagEnvironmentState, FlagState};
pub use flags::{FlagFilter, FlagPatch, FlagRecord};
pub use guard_checks::{
    Breach, BucketTotals, GuardToCheck, GuardTransition, TRANSITIONS_KEPT, apply_action, guard_actor,
};
pub use guards::{Guard, GuardAction, GuardDraft};
pub use import::{ImportAction, ImportChange, ImportPlan};
pub use locks::LockSession;
pub use metric_buckets::{ExposureBucket, MetricBucket, VariantTotals};
pub use metrics::{MetricDirection, MetricDraft, MetricKind, MetricRecord};
pub use plan_steps::DuePlan;
pub use plans::{PlanAction, PlanEvent, PlanRecord};
pub use relay_keys::RelayKey;
pub use scheduled::{EditMaker, ScheduledChange};
pub use scheduled_apply::ScheduleOutcome;
pub use segments::SegmentRecord;
pub use sessions::SessionRecord;
pub use snapshot::{ChangeRow, ObjectKind, parse_flag_payload, parse_segment_payload};
pub use tokens::{ApiToken, KeyKind, SdkKey};
pub use triggers::{Fired, Trigger, TriggerDraft};
pub use usage::{FlagFacts, FlagUsage, UsageRow};
pub use users::{Role, User};
pub use webhook_queue::{Attempt, Delivery, DeliveryStatus, DueDelivery};
pub use webhooks::{Webhook, WebhookDraft};
pub use write::{Actor, Audit, WriteTx};
pub use write::{CHANNEL, CREDENTIALS_CHANNEL, ENVIRONMENTS_CHANNEL, GUARDS_CHANNEL};

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL: the production store, shared by replicas.
    Postgres,
    /// SQLite: the embedded single-node default.
    Sqlite,
}

/// Errors of store operations, mapped to HTTP answers by the HTTP layer's error type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The write was based on a stale version.
    #[error("version conflict: current version is {current}")]
    VersionConflict { current: u64 },
    /// Something stands in the way: it exists already, or is in use.
    #[error("{0}")]
    Conflict(String),
    /// The resulting document would be invalid.
    #[error("validation failed")]
    Invalid(Vec<pennon_engine::Problem>),
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else.
    #[error("database error: {0}")]
    Internal(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e),
            sqlx::Error::Database(ref db) if db.code().is_some_and(|c| is_unavailable_code(&c)) => {
                StoreError::Unavailable(e)
            }
            other => StoreError::Internal(other),
        }
    }
}

impl StoreError {
    /// Whether trying the same again later can succeed: the database is away, or refused for a reason that
    /// passes — on PostgreSQL a serialization failure or deadlock (class 40), too few resources (53, e.g. a
    /// full disk), an operator's intervention (57) or a lock not available (55P03); on SQLite busy, locked,
    /// an I/O error or a full disk. Not when the database refuses the statement itself (a constraint, a value
    /// out of range).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Internal(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
                // SQLSTATEs have five characters; SQLite's (extended) result codes are numbers below 10,000.
                if code.len() == 5 {
                    matches!(&code[..2], "40" | "53" | "57") || code == "55P03"
                } else {
                    code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13))
                }
            }),
            _ => false,
        }
    }
}

/// PostgreSQL error codes that mean the database cannot serve right now, so that trying again later can
/// succeed: connection exceptions (class 08), the server shutting down or starting up (57P01 to 57P03), and
/// too many connections (53300).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(sqlx::Error::Decode(Box::new(e)))
    }
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer: writes queue here instead of failing with `SQLITE_BUSY`.
    write_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// How long an operation waits for a connection (including making a new one) before it fails with
/// [`StoreError::Unavailable`]. While the database is away every write, and `/readyz`, answers 503 after at
/// most this long; a database that comes back within it is not noticed at all. It is also the bound on
/// waiting for a free connection under load, so it must not be shorter than a healthy connect takes.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::sqlx_macros::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::sqlx_macros::migrate!("../../migrations/sqlite");

impl Store {
    /// Connects to `url` (`postgres://...` or `sqlite://path`); SQLite files are created when missing.
    /// Does not fail when the database is down: connections are made lazily and retried.
    pub fn connect_lazy(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("unsupported database URL (expected postgres://... or sqlite://...)");
        };
        let mut options: AnyConnectOptions = url.parse()?;
        options = options.log_statements(tracing::log::LevelFilter::Trace);
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { max_connections.min(8) } else { max_connections })
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;").await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(Store { pool, backend, write_lock: Arc::new(Mutex::new(())) })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers, within twice [`ACQUIRE_TIMEOUT`] (a connection that went silent after it
    /// was handed out would otherwise keep the caller waiting for as long as TCP retransmits).
    pub async fn ping(&self) -> StoreResult<()> {
        let limit = 2 * ACQUIRE_TIMEOUT;
        match tokio::time::timeout(limit, sqlx::query("SELECT 1").execute(&self.pool)).await {
            Ok(answered) => answered.map(drop).map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {limit:?}"),
            )))),
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Reads a JSON text column.
fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    Ok(serde_json::from_str(text)?)
}

/// Writes a JSON text column.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("model types always serialise")
}
