//! API tokens (automation) and SDK keys (applications). Only SHA-256 hashes of the secrets are stored.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::credentials::Credentials;
use super::users::Role;
use super::write::{Actor, Audit};
use super::{Store, StoreError, StoreResult};

/// An API token, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    /// Id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// The actor who created it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds; never expires when `None`.
    pub expires_at: Option<i64>,
    /// Unix milliseconds, when revoked.
    pub revoked_at: Option<i64>,
}

/// Server keys read full configs and stream; client keys get evaluated values only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// `pnn_srv_...`
    Server,
    /// `pnn_cli_...`
    Client,
}

impl KeyKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Server => "server",
            KeyKind::Client => "client",
        }
    }
}

/// An SDK key, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct SdkKey {
    /// Id.
    pub id: i64,
    /// The environment it belongs to.
    pub environment: String,
    /// Server or client.
    pub kind: KeyKind,
    /// What it is for.
    pub name: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// The actor who created it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds: after a rotation, the old key works until then.
    pub expires_at: Option<i64>,
    /// Unix milliseconds, when revoked.
    pub revoked_at: Option<i64>,
}

fn token_from_row(row: &AnyRow) -> StoreResult<ApiToken> {
    let role: String = row.try_get("role")?;
    Ok(ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Internal(sqlx::Error::Decode("unknown role".into())))?,
        prefix: row.try_get("prefix")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn key_from_row(row: &AnyRow) -> StoreResult<SdkKey> {
    let kind = if row.try_get::<String, _>("kind")? == "server" { KeyKind::Server } else { KeyKind::Client };
    Ok(SdkKey {
        id: row.try_get("id")?,
        environment: row.try_get("environment")?,
        kind,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const TOKEN_COLUMNS: &str = "id, name, role, prefix, created_by, created_at, expires_at, revoked_at";
const KEY_COLUMNS: &str = "id, environment, kind, name, prefix, created_by, created_at, expires_at, revoked_at";

impl Store {
    /// Stores a new API token's hash.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        hash: &str,
        prefix: &str,
        expires_at: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<ApiToken> {
        let mut tx = self.begin_write().await?;
        let at = tx.at();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, role, token_hash, prefix, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(hash)
        .bind(prefix)
        .bind(actor.as_str())
        .bind(at)
        .bind(expires_at)
        .fetch_one(tx.conn())
        .await?;
        let token = ApiToken {
            id,
            name: name.to_owned(),
            role,
            prefix: prefix.to_owned(),
            created_by: actor.as_str().to_owned(),
            created_at: at,
            expires_at,
            revoked_at: None,
        };
        let audit = Audit::new(actor, "token.create", "token", id.to_string()).change(None, Some(&token), None);
        tx.credentials_changed();
        tx.commit(audit).await?;
        Ok(token)
    }

    /// Every API token, newest first.
    pub async fn list_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(token_from_row).collect()
    }

    /// The token with this secret hash, if any (revoked and expired ones included: the caller decides).
    pub async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// Every API token not revoked, with its hash, for the in-memory credential table.
    pub async fn usable_tokens(&self) -> StoreResult<Vec<(String, ApiToken)>> {
        let sql = format!("SELECT token_hash, {TOKEN_COLUMNS} FROM api_tokens WHERE revoked_at IS NULL");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("token_hash")?, token_from_row(r)?))).collect()
    }

    /// Revokes an API token.
    pub async fn revoke_token(&self, id: i64, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if !Credentials::ApiTokens.revoke(&mut tx, id, None).await? {
            return Err(StoreError::NotFound(format!("active API token {id}")));
        }
        tx.credentials_changed();
        tx.commit(Audit::new(actor, "token.revoke", "token", id.to_string())).await?;
        Ok(())
    }

    /// Stores a new SDK key's hash.
    pub async fn create_sdk_key(
        &self,
        environment: &str,
        kind: KeyKind,
        name: &str,
        hash: &str,
        prefix: &str,
        actor: &Actor,
    ) -> StoreResult<SdkKey> {
        let mut tx = self.begin_write().await?;
        let key = insert_key(&mut tx, environment, kind, name, hash, prefix, actor).await?;
        let audit = Audit::new(actor, "key.create", "sdk_key", key.id.to_string()).on(None, Some(environment)).change(
            None,
            Some(&key),
            None,
        );
        tx.commit(audit).await?;
        Ok(key)
    }

    /// Replaces a key by a new one; the old one keeps working until `old_expires_at`.
    pub async fn rotate_sdk_key(
        &self,
        environment: &str,
        id: i64,
        hash: &str,
        prefix: &str,
        old_expires_at: i64,
        actor: &Actor,
    ) -> StoreResult<SdkKey> {
        let old = self.sdk_key(environment, id).await?;
        if old.revoked_at.is_some() {
            return Err(StoreError::Conflict(format!("SDK key {id} is revoked")));
        }
        let mut tx = self.begin_write().await?;
        Credentials::SdkKeys.expire_old(&mut tx, id, old_expires_at).await?;
        let key = insert_key(&mut tx, environment, old.kind, &old.name, hash, prefix, actor).await?;
        let audit = Audit::new(actor, "key.rotate", "sdk_key", id.to_string())
            .on(None, Some(environment))
            .change(Some(&old), Some(&key), None)
            .detail(serde_json::json!({ "old_key_expires_at": old_expires_at }));
        tx.commit(audit).await?;
        Ok(key)
    }

    /// Revokes an SDK key at once.
    pub async fn revoke_sdk_key(&self, environment: &str, id: i64, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if !Credentials::SdkKeys.revoke(&mut tx, id, Some(environment)).await? {
            return Err(StoreError::NotFound(format!("active SDK key {id} in environment \"{environment}\"")));
        }
        tx.commit(Audit::new(actor, "key.revoke", "sdk_key", id.to_string()).on(None, Some(environment))).await?;
        Ok(())
    }

    /// One SDK key of an environment.
    pub async fn sdk_key(&self, environment: &str, id: i64) -> StoreResult<SdkKey> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM sdk_keys WHERE id = $1 AND environment = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(environment).fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(key_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("SDK key {id} in environment \"{environment}\"")))
    }

    /// The SDK keys of an environment, newest first.
    pub async fn list_sdk_keys(&self, environment: &str) -> StoreResult<Vec<SdkKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM sdk_keys WHERE environment = $1 ORDER BY id DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(environment).fetch_all(&self.pool).await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Every usable (not revoked) SDK key with its hash, for the in-memory key table.
    pub async fn usable_sdk_keys(&self) -> StoreResult<Vec<(String, SdkKey)>> {
        let sql = format!("SELECT key_hash, {KEY_COLUMNS} FROM sdk_keys WHERE revoked_at IS NULL");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("key_hash")?, key_from_row(r)?))).collect()
    }
}

async fn insert_key(
    tx: &mut super::WriteTx,
    environment: &str,
    kind: KeyKind,
    name: &str,
    hash: &str,
    prefix: &str,
    actor: &Actor,
) -> StoreResult<SdkKey> {
    let at = tx.at();
    let env_exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM environments WHERE key = $1")
        .bind(environment)
        .fetch_optional(tx.conn())
        .await?;
    if env_exists.is_none() {
        return Err(StoreError::NotFound(format!("environment \"{environment}\"")));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sdk_keys (environment, kind, name, key_hash, prefix, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(environment)
    .bind(kind.as_str())
    .bind(name)
    .bind(hash)
    .bind(prefix)
    .bind(actor.as_str())
    .bind(at)
    .fetch_one(tx.conn())
    .await?;
    Ok(SdkKey {
        id,
        environment: environment.to_owned(),
        kind,
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        created_by: actor.as_str().to_owned(),
        created_at: at,
        expires_at: None,
        revoked_at: None,
    })
}
