//! Everything authentication needs at run time, built once at startup.

use std::time::Duration;

use secrecy::ExposeSecret as _;

use super::jwt::Sessions;
use super::limiter::LoginLimiter;
use super::passwords;
use super::sdk_keys::KeyTable;
use crate::app::config::ServeConfig;
use crate::store::{Actor, Role, Store};

/// The setting under which a generated session secret is kept, so that every replica agrees.
const JWT_SECRET_SETTING: &str = "jwt_secret";

/// Sessions, SDK keys and login limits.
#[derive(Debug)]
pub struct AuthService {
    /// Signs and checks session tokens.
    pub sessions: Sessions,
    /// SDK keys, in memory.
    pub keys: KeyTable,
    /// Login attempt limits.
    pub limiter: LoginLimiter,
    /// Hash of a random password, checked when an account does not exist so both cases take as long.
    pub decoy_hash: String,
    /// Whether the session cookie is marked `Secure` (behind HTTPS).
    pub secure_cookie: bool,
}

impl AuthService {
    /// Loads or creates the session secret, loads SDK keys, and creates the first admin from the
    /// configuration when there are no users yet.
    pub async fn start(config: &ServeConfig, store: &Store) -> anyhow::Result<Self> {
        let secret = match &config.jwt_secret {
            Some(secret) => secret.expose_secret().to_owned(),
            None => store.setting_or_init(JWT_SECRET_SETTING, || super::secrets::generate("")).await?,
        };
        if secret.len() < 32 {
            anyhow::bail!("PENNON_JWT_SECRET must be at least 32 characters");
        }
        let sessions = Sessions::new(secret.as_bytes(), config.session_ttl.as_secs() as i64);
        let keys = KeyTable::default();
        keys.reload(store).await?;
        if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password)
            && store.count_users().await? == 0
        {
            if password.expose_secret().len() < passwords::MIN_PASSWORD_LEN {
                anyhow::bail!("PENNON_ADMIN_PASSWORD must be at least {} characters", passwords::MIN_PASSWORD_LEN);
            }
            let hash = passwords::hash(password.expose_secret().to_owned()).await?;
            store.create_user(email, &hash, Role::Admin, &Actor::system("bootstrap")).await?;
            tracing::info!(email = %email, "created the first admin from the configuration");
        }
        Ok(AuthService {
            sessions,
            keys,
            limiter: LoginLimiter::new(Duration::from_mins(15), 5, 50),
            decoy_hash: passwords::hash(super::secrets::generate("")).await?,
            secure_cookie: config.secure_cookie,
        })
    }
}
