//! Everything authentication needs at run time, built once at startup.

use secrecy::ExposeSecret as _;

use super::api_tokens::TokenTable;
use super::jwt::Sessions;
use super::limiter::{LoginLimiter, LoginPolicy};
use super::passwords;
use super::revoked::RevokedSessions;
use super::sdk_keys::KeyTable;
use crate::app::config::ServeConfig;
use crate::store::{Actor, Role, Store, StoreResult};

/// The setting under which a generated session secret is kept, so that every replica agrees.
const JWT_SECRET_SETTING: &str = "jwt_secret";

/// Sessions, SDK keys and login limits.
#[derive(Debug)]
pub struct AuthService {
    /// Signs and checks session tokens.
    pub sessions: Sessions,
    /// SDK keys, in memory.
    pub keys: KeyTable,
    /// API tokens, in memory.
    pub tokens: TokenTable,
    /// Ended sessions, in memory.
    pub revoked: RevokedSessions,
    /// Login attempt limits.
    pub limiter: LoginLimiter,
    /// Trigger URLs, in memory.
    pub trigger_table: super::TriggerTable,
    /// How often each trigger URL may be used.
    pub triggers: super::TriggerLimiter,
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
        let sessions =
            Sessions::new(secret.as_bytes(), config.session_ttl.as_secs() as i64, config.session_leeway.as_secs());
        let keys = KeyTable::default();
        keys.reload(store).await?;
        let tokens = TokenTable::default();
        tokens.reload(store).await?;
        let revoked = RevokedSessions::default();
        revoked.reload(store).await?;
        let trigger_table = super::TriggerTable::default();
        trigger_table.reload(store).await?;
        if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password)
            && store.count_users().await? == 0
        {
            if let Err(rule) = passwords::check(password.expose_secret(), email) {
                anyhow::bail!("PENNON_ADMIN_PASSWORD: {rule}");
            }
            let hash = passwords::hash(password.expose_secret().to_owned()).await?;
            store.create_user(email, &hash, Role::Admin, &Actor::system("bootstrap")).await?;
            tracing::info!(email = %email, "created the first admin from the configuration");
        }
        Ok(AuthService {
            sessions,
            keys,
            tokens,
            revoked,
            limiter: LoginLimiter::new(LoginPolicy {
                free_failures: config.login_free_failures,
                address_free_failures: config.login_address_free_failures,
                account_budget: config.login_account_budget,
                max_delay: config.login_max_delay,
            }),
            trigger_table,
            triggers: super::TriggerLimiter::new(config.trigger_rate_limit),
            decoy_hash: passwords::hash(super::secrets::generate("")).await?,
            secure_cookie: config.secure_cookie,
        })
    }

    /// Authentication without a database, for a relay: SDK keys only, learned from the upstream
    /// ([`KeyTable::replace_environment`]). Sessions are signed with a secret made here and shown to no one, and
    /// there are no API tokens, so no admin credential is valid.
    pub async fn detached(config: &ServeConfig) -> anyhow::Result<Self> {
        let secret = super::secrets::generate("");
        Ok(AuthService {
            sessions: Sessions::new(
                secret.as_bytes(),
                config.session_ttl.as_secs() as i64,
                config.session_leeway.as_secs(),
            ),
            keys: KeyTable::default(),
            tokens: TokenTable::default(),
            revoked: RevokedSessions::default(),
            limiter: LoginLimiter::new(LoginPolicy {
                free_failures: config.login_free_failures,
                address_free_failures: config.login_address_free_failures,
                account_budget: config.login_account_budget,
                max_delay: config.login_max_delay,
            }),
            trigger_table: super::TriggerTable::default(),
            triggers: super::TriggerLimiter::new(config.trigger_rate_limit),
            decoy_hash: passwords::hash(super::secrets::generate("")).await?,
            secure_cookie: config.secure_cookie,
        })
    }

    /// Reloads the credentials kept in memory (SDK keys, API tokens, ended sessions, trigger URLs), after a
    /// change here, on notification from another replica and periodically.
    pub async fn reload(&self, store: &Store) -> StoreResult<()> {
        self.keys.reload(store).await?;
        self.tokens.reload(store).await?;
        self.trigger_table.reload(store).await?;
        self.revoked.reload(store).await
    }
}
