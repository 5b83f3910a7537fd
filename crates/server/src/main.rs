//! The `pennon` binary.

use clap::Parser;
use pennon_server::app::config::{Cli, Command};
use pennon_server::cli::ClientCommand;
use secrecy::ExposeSecret as _;

/// mimalloc: the server allocates and frees many small objects per request (headers, the parsed context,
/// futures), which it serves faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    pennon_server::telemetry::logging::init(cli.log_format);
    pennon_server::telemetry::logging::log_panics();
    match cli.command {
        Command::Serve(config) => pennon_server::app::startup::run(config).await,
        Command::Relay(config) => pennon_server::relay::run(config).await,
        Command::Migrate(db) => {
            let store = pennon_server::store::Store::connect_lazy(db.database_url.expose_secret(), 2)?;
            store.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::User(command) => pennon_server::app::cli::user(command).await,
        Command::Export(args) => client(ClientCommand::Export(args)).await,
        Command::Apply(args) => client(ClientCommand::Apply(args)).await,
        Command::Flags(command) => client(ClientCommand::Flags(command)).await,
        Command::Envs(command) => client(ClientCommand::Envs(command)).await,
        Command::Import(command) => client(ClientCommand::Import(command)).await,
        Command::DocumentSchema => {
            println!("{}", serde_json::to_string_pretty(&pennon_server::api::document_schema())?);
            Ok(())
        }
        Command::Openapi => {
            println!("{}", pennon_server::http::router::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}

/// Runs a client command and leaves with its exit code.
async fn client(command: ClientCommand) -> anyhow::Result<()> {
    let code = pennon_server::cli::run(command).await;
    if code != 0 {
        std::process::exit(i32::from(code));
    }
    Ok(())
}
