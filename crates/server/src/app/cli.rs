//! Commands of the `pennon` binary besides `serve`.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context as _, bail};
use secrecy::ExposeSecret as _;

use crate::app::config::UserCommand;
use crate::auth::passwords;
use crate::store::{Actor, Role, Store};

/// Runs `pennon user ...`.
pub async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { email, role, database } => {
            let role = Role::parse(&role).with_context(|| format!("unknown role {role:?} (viewer, editor, admin)"))?;
            let password = read_password()?;
            if let Err(rule) = passwords::check(&password, &email) {
                bail!("the password is refused: {rule}");
            }
            let store = Store::connect_lazy(database.database_url.expose_secret(), 2)?;
            store.migrate().await?;
            let hash = passwords::hash(password).await?;
            let user = store.create_user(&email, &hash, role, &Actor::system("cli")).await?;
            println!("created user {} ({}) with id {}", user.email, user.role.as_str(), user.id);
            store.close().await;
            Ok(())
        }
    }
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
