//! Command line and environment configuration. `pennon --help` is the reference.

pub use crate::telemetry::logging::LogFormat;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::cli::args::{ApplyArgs, EXIT_CODES, EnvsCommand, ExportArgs, FlagsCommand, ImportCommand};
use secrecy::SecretString;

/// Pennon: feature flags and progressive delivery.
#[derive(Debug, Parser)]
#[command(name = "pennon", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log format.
    #[arg(long, env = "PENNON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Subcommands.
// Parsed once at startup: the size of the `Serve` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeConfig),
    /// Run a relay: no database; follows an upstream server (or relay) per environment and serves the SDK,
    /// evaluation and OFREP endpoints from memory (docs/operations.md, "Relay").
    Relay(crate::app::relay_config::RelayConfig),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Print the JSON Schema of the flags-as-code document (`openapi/document.schema.json`).
    DocumentSchema,
    /// Manage dashboard users.
    #[command(subcommand)]
    User(UserCommand),
    /// Print a running server's environments, segments and flags as one document (flags as code).
    #[command(after_help = EXIT_CODES)]
    Export(ExportArgs),
    /// Make a running server hold what a document says: prints the plan, then carries out exactly that plan
    /// (unless --dry-run).
    #[command(after_help = EXIT_CODES)]
    Apply(ApplyArgs),
    /// Flags of a running server: list, get, toggle, set-default, evaluate.
    #[command(subcommand)]
    Flags(FlagsCommand),
    /// Environments of a running server.
    #[command(subcommand)]
    Envs(EnvsCommand),
    /// Import flags into a running server from another flag service.
    #[command(subcommand)]
    Import(ImportCommand),
}

/// `pennon user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input (first line) or, on a terminal, prompted for
    /// without echo.
    Create {
        /// Login email.
        #[arg(long)]
        email: String,
        /// viewer, editor or admin.
        #[arg(long, default_value = "admin")]
        role: String,
        /// The database.
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `postgres://user@host/db` for PostgreSQL, or `sqlite://path` for the embedded store. A secret: it may
    /// hold a password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, default_value = "sqlite://pennon.db?mode=rwc")]
    pub database_url: SecretString,
    /// Largest number of database connections.
    #[arg(long, env = "PENNON_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
}

/// Settings of `pennon serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "PENNON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "PENNON_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How often snapshots are checked against the database, in seconds (a safety net: changes normally
    /// arrive right after commit).
    #[arg(long, env = "PENNON_REFRESH_INTERVAL", default_value = "5", value_parser = parse_seconds)]
    pub refresh_interval: Duration,
    /// How long shutdown waits for in-flight requests, in seconds.
    #[arg(long, env = "PENNON_SHUTDOWN_GRACE", default_value = "20", value_parser = parse_seconds)]
    pub shutdown_grace: Duration,
    /// Secret that signs session tokens (at least 32 characters). When unset, one is generated once and kept
    /// in the database, so that every replica agrees.
    #[arg(long, env = "PENNON_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// How long a dashboard session lasts, in seconds.
    #[arg(long, env = "PENNON_SESSION_TTL", default_value = "3600", value_parser = parse_seconds)]
    pub session_ttl: Duration,
    /// How long past its expiry a session is still accepted, in seconds (clocks differ a little between
    /// replicas).
    #[arg(long, env = "PENNON_SESSION_LEEWAY", default_value = "2", value_parser = parse_seconds)]
    pub session_leeway: Duration,
    /// Wrong passwords for one account from one address before each further one doubles the wait before the
    /// next attempt (1 s, 2 s, 4 s, ...). See `docs/operations.md`.
    #[arg(long, env = "PENNON_LOGIN_FREE_FAILURES", default_value_t = 3)]
    pub login_free_failures: u32,
    /// Wrong passwords from one address, whatever the account, before waits start for that address.
    #[arg(long, env = "PENNON_LOGIN_ADDRESS_FREE_FAILURES", default_value_t = 20)]
    pub login_address_free_failures: u32,
    /// Wrong passwords for one account per hour, across addresses, past which only addresses that have not
    /// failed for it may try.
    #[arg(long, env = "PENNON_LOGIN_ACCOUNT_BUDGET", default_value_t = 100)]
    pub login_account_budget: usize,
    /// The longest wait imposed on a failing address, in seconds.
    #[arg(long, env = "PENNON_LOGIN_MAX_DELAY", default_value = "900", value_parser = parse_seconds)]
    pub login_max_delay: Duration,
    /// Email of the first admin, created on a first start with no users (with PENNON_ADMIN_PASSWORD).
    #[arg(long, env = "PENNON_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of the first admin (the password rule of `docs/operations.md`: at least 10 characters, not a
    /// common password, ...).
    #[arg(long, env = "PENNON_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<SecretString>,
    /// Mark the session cookie `Secure` (serve the dashboard over HTTPS).
    #[arg(long, env = "PENNON_SECURE_COOKIE")]
    pub secure_cookie: bool,
    /// How often SSE streams carry a heartbeat comment, in seconds.
    #[arg(long, env = "PENNON_SSE_HEARTBEAT", default_value = "15", value_parser = parse_seconds)]
    pub sse_heartbeat: Duration,
    /// Close a connection whose writes make no progress for this long, in seconds: a client that stopped
    /// reading (a stuck SSE subscriber) must not hold memory or shutdown up.
    #[arg(long, env = "PENNON_WRITE_STALL_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub write_stall_timeout: Duration,
    /// How often aggregated SDK metrics are written to the database, in seconds.
    #[arg(long, env = "PENNON_METRICS_FLUSH_INTERVAL", default_value = "5", value_parser = parse_seconds)]
    pub metrics_flush_interval: Duration,
    /// How long SDK metric buckets are kept in the database, in seconds (default 7 days).
    #[arg(long, env = "PENNON_METRICS_RETENTION", default_value = "604800", value_parser = parse_seconds)]
    pub metrics_retention: Duration,
    /// How often the rollout-plan scheduler looks for plans whose step is due, in seconds (fractions allowed).
    #[arg(long, env = "PENNON_PLAN_TICK", default_value = "1", value_parser = parse_seconds)]
    pub plan_tick: Duration,
    /// How far ahead a config change may be scheduled, in seconds (default 365 days).
    #[arg(long, env = "PENNON_SCHEDULE_MAX_AHEAD", default_value = "31536000", value_parser = parse_seconds)]
    pub schedule_max_ahead: Duration,
    /// Most scheduled changes that may wait at once per flag and environment.
    #[arg(long, env = "PENNON_SCHEDULE_MAX_PENDING", default_value_t = 100)]
    pub schedule_max_pending: u32,
    /// How often the leader replica checks every metric guard, in seconds. A breach takes effect within
    /// about one interval of the metrics batch that shows it.
    #[arg(long, env = "PENNON_GUARD_INTERVAL", default_value = "5", value_parser = parse_seconds)]
    pub guard_interval: Duration,
    /// The Prometheus server guards with a Prometheus source query when they name no `url` of their own,
    /// e.g. `http://prometheus:9090` (default: none; such guards must then name one).
    #[arg(long, env = "PENNON_PROMETHEUS_URL", value_parser = parse_prometheus_url)]
    pub prometheus_url: Option<String>,
    /// How long one Prometheus query of a guard check may take, in seconds; past it the check records a
    /// source error and decides nothing.
    #[arg(long, env = "PENNON_PROMETHEUS_TIMEOUT", default_value = "5", value_parser = parse_seconds)]
    pub prometheus_timeout: Duration,
    /// The longest PromQL template a guard's Prometheus source may have, in bytes; longer is refused (422).
    #[arg(long, env = "PENNON_PROMETHEUS_MAX_QUERY_BYTES", default_value_t = 4096)]
    pub prometheus_max_query_bytes: usize,
    /// Most attributes an evaluation context may carry (`/api/v1/evaluate`, OFREP); more is refused (422).
    #[arg(long, env = "PENNON_MAX_CONTEXT_ATTRIBUTES", default_value_t = 256)]
    pub max_context_attributes: usize,
    /// How long an SDK request from a client that holds a newer revision than this replica waits for the
    /// replica to catch up from the database, in seconds, before it is answered 503 with `Retry-After`.
    #[arg(long, env = "PENNON_CATCH_UP_TIMEOUT", default_value = "2", value_parser = parse_seconds)]
    pub catch_up_timeout: Duration,
    /// After how many days a flag is a cleanup candidate: not evaluated in any environment (`unused`), or
    /// serving one variant to everyone in every environment (`rolled_out`) for that long.
    #[arg(long, env = "PENNON_STALE_AFTER_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub stale_after_days: u32,
    /// How long a client may take to send a request's head (the request line and headers), in seconds,
    /// counted from the connection's start or from the request's first byte; the connection is closed
    /// after it.
    #[arg(long, env = "PENNON_HEADER_READ_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body, in seconds, counted from the end of its head;
    /// the connection is closed after it.
    #[arg(long, env = "PENNON_BODY_READ_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub body_read_timeout: Duration,
    /// Close a kept-alive connection that has no request for this long, in seconds. A connection with a
    /// request in progress, such as an SDK's stream, is never idle.
    #[arg(long, env = "PENNON_IDLE_TIMEOUT", default_value = "60", value_parser = parse_seconds)]
    pub idle_timeout: Duration,
    /// Most connections served at once; a connection beyond it is answered 503 and closed at once.
    #[arg(long, env = "PENNON_MAX_CONNECTIONS", default_value_t = 25_000,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Most toggles one import (`POST /api/v1/import/unleash`) may carry; more is refused (422).
    #[arg(long, env = "PENNON_IMPORT_MAX_TOGGLES", default_value_t = 1000)]
    pub import_max_toggles: usize,
    /// The largest body a trigger URL reads, in bytes (an Alertmanager notification of many alerts takes a
    /// few hundred bytes per alert); a larger one answers 413 and changes nothing.
    #[arg(long, env = "PENNON_TRIGGER_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub trigger_max_body_bytes: usize,
    /// POSTs one trigger URL takes per minute on each replica; past it `429` (0: no limit).
    #[arg(long, env = "PENNON_TRIGGER_RATE_LIMIT", default_value_t = 30)]
    pub trigger_rate_limit: u32,
    /// The address this server is reached at from outside (e.g. `https://flags.example.com`), for the trigger
    /// URLs it hands out; without it they are made from the request's `Host` header.
    #[arg(long, env = "PENNON_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How often the leader replica looks for webhook deliveries that are due, in seconds (fractions allowed).
    #[arg(long, env = "PENNON_WEBHOOK_TICK", default_value = "1", value_parser = parse_seconds)]
    pub webhook_tick: Duration,
    /// How long a webhook receiver may take to answer, in seconds; no answer by then is a failed attempt.
    #[arg(long, env = "PENNON_WEBHOOK_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub webhook_timeout: Duration,
    /// How long a webhook delivery is retried, in seconds from when it was queued (default 24 hours); its last
    /// attempt is at this age, and if that fails too it is marked failed and its hook disabled.
    #[arg(long, env = "PENNON_WEBHOOK_MAX_AGE", default_value = "86400", value_parser = parse_seconds)]
    pub webhook_max_age: Duration,
    /// The wait after a webhook delivery's first failed attempt, in seconds; it doubles with each further one.
    #[arg(long, env = "PENNON_WEBHOOK_BACKOFF_BASE", default_value = "1", value_parser = parse_seconds)]
    pub webhook_backoff_base: Duration,
    /// The longest wait between two attempts of a webhook delivery, in seconds.
    #[arg(long, env = "PENNON_WEBHOOK_BACKOFF_CAP", default_value = "600", value_parser = parse_seconds)]
    pub webhook_backoff_cap: Duration,
    /// After this many failed attempts in a row (across its deliveries), a webhook is disabled.
    #[arg(long, env = "PENNON_WEBHOOK_DISABLE_AFTER", default_value_t = 50,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub webhook_disable_after: u32,
    /// How many bytes of a receiver's answer the delivery log keeps.
    #[arg(long, env = "PENNON_WEBHOOK_RESPONSE_EXCERPT", default_value_t = 1024)]
    pub webhook_response_excerpt: usize,
    /// How long delivered and failed webhook deliveries stay in the delivery log, in seconds (default 7 days).
    #[arg(long, env = "PENNON_WEBHOOK_LOG_RETENTION", default_value = "604800", value_parser = parse_seconds)]
    pub webhook_log_retention: Duration,
    /// Most webhooks there may be.
    #[arg(long, env = "PENNON_MAX_WEBHOOKS", default_value_t = 100)]
    pub max_webhooks: u32,
    /// Most entries in each of a webhook's filters (environments, flags, tags, actions).
    #[arg(long, env = "PENNON_WEBHOOK_MAX_FILTER_ITEMS", default_value_t = 100)]
    pub webhook_max_filter_items: usize,
    /// How experiment results are computed.
    #[command(flatten)]
    pub results: ResultsSettings,
    /// How change requests (approvals) work.
    #[command(flatten)]
    pub approvals: ApprovalSettings,
}

/// Settings of change requests: config changes that wait for approvals in environments that require them.
#[derive(Debug, Clone, Args)]
pub struct ApprovalSettings {
    /// Whether an admin may apply a change at once in an environment that requires approvals, by giving a
    /// reason in the `X-Pennon-Bypass-Reason` header (recorded in the audit log). `false` refuses it (403).
    #[arg(long = "allow-approval-bypass", env = "PENNON_ALLOW_APPROVAL_BYPASS", default_value_t = true,
        action = clap::ArgAction::Set)]
    pub allow_bypass: bool,
    /// The most approvals an environment may require.
    #[arg(long = "max-approvals-required", env = "PENNON_MAX_APPROVALS_REQUIRED", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_required: u32,
    /// The longest comment, bypass reason or rejection reason, in characters.
    #[arg(long = "max-approval-comment", env = "PENNON_MAX_APPROVAL_COMMENT", default_value_t = 2000,
        value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_comment: u32,
    /// The most change requests that may wait (pending) per flag and environment; more are refused (409).
    #[arg(long = "max-pending-change-requests", env = "PENNON_MAX_PENDING_CHANGE_REQUESTS", default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_pending: u32,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings { allow_bypass: true, max_required: 10, max_comment: 2000, max_pending: 100 }
    }
}

/// Settings of the experiment results (`GET .../results`).
#[derive(Debug, Clone, Args)]
pub struct ResultsSettings {
    /// The level of the results' intervals: each covers the true difference at every look with 1 − alpha.
    #[arg(long = "results-alpha", env = "PENNON_RESULTS_ALPHA", default_value_t = 0.05, value_parser = parse_alpha)]
    pub alpha: f64,
    /// The samples per arm at which the results' always-valid intervals are tightest.
    #[arg(long = "results-tuning-samples", env = "PENNON_RESULTS_TUNING_SAMPLES", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub tuning_samples: u64,
    /// Config versions read back to find the periods of constant weights.
    #[arg(long = "results-history", env = "PENNON_RESULTS_HISTORY", default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub history: u32,
    /// Metrics one results request may name.
    #[arg(long = "results-max-metrics", env = "PENNON_RESULTS_MAX_METRICS", default_value_t = 50,
        value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_metrics: u32,
    /// Most points of a results timeline (the interval over time).
    #[arg(long = "results-max-points", env = "PENNON_RESULTS_MAX_POINTS", default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub max_points: u32,
}

impl Default for ResultsSettings {
    fn default() -> Self {
        ResultsSettings { alpha: 0.05, tuning_samples: 10_000, history: 500, max_metrics: 50, max_points: 500 }
    }
}

/// An interval's alpha: strictly between 0 and 0.5.
fn parse_alpha(text: &str) -> Result<f64, String> {
    let alpha: f64 = text.parse().map_err(|e| format!("not a number: {e}"))?;
    if alpha > 0.0 && alpha < 0.5 { Ok(alpha) } else { Err("must be above 0 and below 0.5".to_owned()) }
}

impl ServeConfig {
    /// Settings for tests and embedding: the given database, an ephemeral port on 127.0.0.1.
    pub fn for_database(url: &str) -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseArgs { database_url: url.into(), db_max_connections: 16 },
            max_body_bytes: 1024 * 1024,
            refresh_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(5),
            jwt_secret: None,
            session_ttl: Duration::from_hours(1),
            session_leeway: Duration::from_secs(2),
            login_free_failures: 3,
            login_address_free_failures: 20,
            login_account_budget: 100,
            login_max_delay: Duration::from_mins(15),
            admin_email: None,
            admin_password: None,
            secure_cookie: false,
            sse_heartbeat: Duration::from_secs(15),
            write_stall_timeout: Duration::from_secs(10),
            metrics_flush_interval: Duration::from_secs(5),
            metrics_retention: Duration::from_hours(7 * 24),
            plan_tick: Duration::from_secs(1),
            schedule_max_ahead: Duration::from_hours(365 * 24),
            schedule_max_pending: 100,
            guard_interval: Duration::from_secs(5),
            prometheus_url: None,
            prometheus_timeout: Duration::from_secs(5),
            prometheus_max_query_bytes: 4096,
            max_context_attributes: 256,
            catch_up_timeout: Duration::from_secs(2),
            stale_after_days: 30,
            import_max_toggles: 1000,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_mins(1),
            max_connections: 25_000,
            results: ResultsSettings::default(),
            webhook_tick: Duration::from_secs(1),
            webhook_timeout: Duration::from_secs(10),
            webhook_max_age: Duration::from_hours(24),
            webhook_backoff_base: Duration::from_secs(1),
            webhook_backoff_cap: Duration::from_mins(10),
            webhook_disable_after: 50,
            webhook_response_excerpt: 1024,
            webhook_log_retention: Duration::from_hours(7 * 24),
            max_webhooks: 100,
            webhook_max_filter_items: 100,
            trigger_max_body_bytes: 256 * 1024,
            trigger_rate_limit: 30,
            public_url: None,
            approvals: ApprovalSettings::default(),
        }
    }

    /// `--stale-after-days` as a duration.
    pub fn stale_after(&self) -> Duration {
        Duration::from_hours(24 * u64::from(self.stale_after_days))
    }
}

/// The shortest duration a setting may have: shorter ones would round to nothing (a zero period).
const MIN_SECONDS: f64 = 0.001;
/// The longest duration a setting may have (ten years): longer ones overflow the clocks they are added to.
const MAX_SECONDS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;

/// A duration setting in seconds (fractions allowed), between [`MIN_SECONDS`] and [`MAX_SECONDS`].
pub(crate) fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("expected a number of seconds, got {s:?}"))?;
    if !secs.is_finite() {
        return Err(format!("expected a finite number of seconds, got {s:?}"));
    }
    if secs < MIN_SECONDS {
        return Err(format!("must be at least {MIN_SECONDS} seconds, got {s:?}"));
    }
    if secs > MAX_SECONDS {
        return Err(format!("must be at most {MAX_SECONDS} seconds (ten years), got {s:?}"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?} is not a duration: {e}"))
}

/// `--prometheus-url`: an http(s) URL without credentials, query or fragment.
fn parse_prometheus_url(s: &str) -> Result<String, String> {
    crate::domain::guard_sources::check_url(s)?;
    Ok(s.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn secrets_are_kept_but_not_shown_by_debug() {
        let cli = Cli::try_parse_from([
            "pennon",
            "serve",
            "--database-url=postgres://u:hunter2@h/db",
            "--jwt-secret=jwt-secret-value",
            "--admin-password=admin-password-value",
        ])
        .expect("valid arguments");
        let debug = format!("{cli:?}");
        for secret in ["hunter2", "jwt-secret-value", "admin-password-value"] {
            assert!(!debug.contains(secret), "{secret} shown in {debug}");
        }
        let Command::Serve(config) = cli.command else { panic!("serve") };
        assert_eq!(config.database.database_url.expose_secret(), "postgres://u:hunter2@h/db");
        assert_eq!(config.jwt_secret.expect("given").expose_secret(), "jwt-secret-value");
    }

    #[test]
    fn durations_are_bounded_and_never_panic() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("0.001"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_seconds("315360000"), Ok(Duration::from_hours(87_600)));
        for bad in ["0", "-1", "0.0001", "1e-300", "NaN", "inf", "-inf", "1e30", "315360001", "", "ten", "5s"] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} accepted");
        }
    }
}
