//! The command line of the client commands (`pennon export`, `apply`, `flags`, `envs`).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use secrecy::SecretString;

/// Shown under the help of every client command.
pub const EXIT_CODES: &str = "Exit codes: 0 done, 1 error (refused, invalid, unreachable), 2 usage, \
3 conflict (something changed on the server since the plan), 4 authentication (no valid token, or a role \
that may not do this).";

/// Where the server is and who calls it.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The server's base URL.
    #[arg(long, env = "PENNON_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API token (`pnn_api_...`) or session token. A secret: never shown.
    #[arg(long, env = "PENNON_TOKEN", hide_env_values = true)]
    pub token: Option<SecretString>,
    /// `text` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// How long one request may take, in seconds.
    #[arg(long, env = "PENNON_CLIENT_TIMEOUT", default_value_t = 30)]
    pub timeout: u64,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Readable text.
    Text,
    /// JSON, one document.
    Json,
}

/// The encodings of a flags-as-code document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocumentFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// `pennon export`
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The server and token.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only this environment.
    #[arg(long)]
    pub environment: Option<String>,
    /// Only this flag.
    #[arg(long)]
    pub flag: Option<String>,
    /// The document's encoding.
    #[arg(long, value_enum, default_value_t = DocumentFormat::Yaml)]
    pub format: DocumentFormat,
}

/// `pennon apply`
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// The server and token.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The document (YAML, or JSON when it ends in `.json`); `-` reads standard input.
    #[arg(short = 'f', long)]
    pub file: PathBuf,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete the segments and flags the document leaves out.
    #[arg(long)]
    pub prune: bool,
    /// Refuse (exit 3) unless the server is still at this document revision: the `Pennon-Revision` of the
    /// export the file was made from. Without it, the plan printed is the one applied.
    #[arg(long)]
    pub expected_revision: Option<String>,
}

/// `pennon flags ...`
#[derive(Debug, Clone, Subcommand)]
pub enum FlagsCommand {
    /// List live flags.
    #[command(after_help = EXIT_CODES)]
    List {
        /// The server and token.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a flag's definition, or its config in one environment.
    #[command(after_help = EXIT_CODES)]
    Get {
        /// The server and token.
        #[command(flatten)]
        client: ClientArgs,
        /// The flag's key.
        flag: String,
        /// Show the config in this environment.
        #[arg(long)]
        environment: Option<String>,
    },
    /// Turn a flag on or off in an environment (flips it without --on/--off).
    #[command(after_help = EXIT_CODES)]
    Toggle {
        /// The server and token.
        #[command(flatten)]
        client: ClientArgs,
        /// The flag's key.
        flag: String,
        /// The environment.
        #[arg(long)]
        environment: String,
        /// Turn it on.
        #[arg(long, conflicts_with = "off")]
        on: bool,
        /// Turn it off.
        #[arg(long)]
        off: bool,
    },
    /// Serve one variant to everyone no target or rule catches.
    #[command(after_help = EXIT_CODES)]
    SetDefault {
        /// The server and token.
        #[command(flatten)]
        client: ClientArgs,
        /// The flag's key.
        flag: String,
        /// The environment.
        #[arg(long)]
        environment: String,
        /// The variant.
        #[arg(long)]
        variant: String,
    },
    /// Evaluate a flag for one context.
    #[command(after_help = EXIT_CODES)]
    Evaluate {
        /// The server and token.
        #[command(flatten)]
        client: ClientArgs,
        /// The flag's key.
        flag: String,
        /// The environment.
        #[arg(long)]
        environment: String,
        /// The context's key.
        #[arg(long)]
        key: String,
        /// An attribute, `name=value` (repeatable); the value is read as JSON when it parses, else as text.
        #[arg(long = "attr", value_name = "NAME=VALUE")]
        attributes: Vec<String>,
    },
}

/// `pennon envs ...`
#[derive(Debug, Clone, Subcommand)]
pub enum EnvsCommand {
    /// List environments.
    #[command(after_help = EXIT_CODES)]
    List {
        /// The server and token.
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `pennon import ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ImportCommand {
    /// Import one environment's flags from Unleash's client features document (what
    /// `GET /api/client/features` answers, or Unleash Edge's offline file), keeping every user's cohort;
    /// prints what is created or updated and every part that could not be mapped, with its path.
    #[command(after_help = EXIT_CODES)]
    Unleash(ImportUnleashArgs),
}

/// `pennon import unleash`
#[derive(Debug, Clone, Args)]
pub struct ImportUnleashArgs {
    /// The server and token.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The Unleash document (JSON); `-` reads standard input.
    pub file: PathBuf,
    /// The Pennon environment its toggles' strategies go to.
    #[arg(long)]
    pub environment: String,
    /// Print the report and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse the whole import (exit 1) when anything cannot be mapped.
    #[arg(long)]
    pub strict: bool,
}
