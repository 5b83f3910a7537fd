//! The `pennon` binary.

use std::io::IsTerminal as _;

use clap::Parser;
use pennon_server::config::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

/// mimalloc: the server allocates and frees many small objects per request (headers, the parsed context,
/// futures), which it serves faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Colours only on a terminal: a log file or collector gets plain text (and every span's fields are
    // formatted without escape codes, which costs each request less).
    let colour = std::io::stderr().is_terminal();
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    match cli.log_format {
        LogFormat::Json => subscriber.json().init(),
        LogFormat::Text => subscriber.init(),
    }
    match cli.command {
        Command::Serve(config) => pennon_server::startup::run(config).await,
        Command::Migrate(db) => {
            let store = pennon_server::store::Store::connect_lazy(&db.database_url, 2)?;
            store.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::User(command) => pennon_server::cli::user(command).await,
        Command::Openapi => {
            println!("{}", pennon_server::startup::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}
