//! The client commands of the `pennon` binary: flags as code (`export`, `apply`) and everyday flag work
//! (`flags`, `envs`) and moving from Unleash (`import unleash`), over the admin API of a running server. [`client`] is the HTTP client they share.
//!
//! Uses nothing of the server's layers: it speaks the API like any other client.

pub mod args;
pub mod client;
mod documents;
mod import;
mod objects;

use std::time::Duration;

use serde_json::Value;

use self::args::{ClientArgs, EnvsCommand, FlagsCommand, ImportCommand, Output};
pub use self::client::{Client, ClientError, exit};

/// A client command.
#[derive(Debug, Clone)]
pub enum ClientCommand {
    /// `pennon export`
    Export(args::ExportArgs),
    /// `pennon apply`
    Apply(args::ApplyArgs),
    /// `pennon flags ...`
    Flags(FlagsCommand),
    /// `pennon envs ...`
    Envs(EnvsCommand),
    /// `pennon import ...`
    Import(ImportCommand),
}

/// Runs a client command; returns the exit code (see [`exit`]). Errors go to standard error.
pub async fn run(command: ClientCommand) -> u8 {
    let result = match command {
        ClientCommand::Export(a) => documents::export(&a).await,
        ClientCommand::Apply(a) => documents::apply(&a).await,
        ClientCommand::Flags(c) => objects::flags(c).await,
        ClientCommand::Envs(EnvsCommand::List { client }) => objects::envs(&client).await,
        ClientCommand::Import(ImportCommand::Unleash(a)) => import::unleash(&a).await,
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {}", e.message);
            e.code
        }
    }
}

/// The client the arguments describe.
fn connect(args: &ClientArgs) -> Result<Client, ClientError> {
    if args.timeout == 0 {
        return Err(ClientError::usage("--timeout must be at least 1 second"));
    }
    Client::new(&args.server, args.token.clone(), Duration::from_secs(args.timeout))
}

/// Prints `value` as JSON (for `--output json`), or `text` otherwise.
fn print(output: Output, value: &Value, text: impl FnOnce() -> String) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value).expect("JSON")),
        Output::Text => print!("{}", text()),
    }
}
