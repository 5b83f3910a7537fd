//! Command line and environment configuration. `pennon --help` is the reference.

pub use crate::telemetry::logging::LogFormat;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
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
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Manage dashboard users.
    #[command(subcommand)]
    User(UserCommand),
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
    /// Email of the first admin, created on a first start with no users (with PENNON_ADMIN_PASSWORD).
    #[arg(long, env = "PENNON_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of the first admin (at least 10 characters).
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
    /// How often the leader replica checks every metric guard, in seconds. A breach takes effect within
    /// about one interval of the metrics batch that shows it.
    #[arg(long, env = "PENNON_GUARD_INTERVAL", default_value = "5", value_parser = parse_seconds)]
    pub guard_interval: Duration,
    /// Most attributes an evaluation context may carry (`/api/v1/evaluate`, OFREP); more is refused (422).
    #[arg(long, env = "PENNON_MAX_CONTEXT_ATTRIBUTES", default_value_t = 256)]
    pub max_context_attributes: usize,
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
            admin_email: None,
            admin_password: None,
            secure_cookie: false,
            sse_heartbeat: Duration::from_secs(15),
            write_stall_timeout: Duration::from_secs(10),
            metrics_flush_interval: Duration::from_secs(5),
            metrics_retention: Duration::from_hours(7 * 24),
            plan_tick: Duration::from_secs(1),
            guard_interval: Duration::from_secs(5),
            max_context_attributes: 256,
        }
    }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("expected a number of seconds, got {s:?}"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err("must be a positive number of seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
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
}
