//! Relay credentials (`pnn_rly_...`): one secret naming several environments, for a `pennon relay`. Only the
//! SHA-256 hash of the secret is stored; the environments it names are rows of `relay_key_environments`.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::credentials::Credentials;
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult};

/// A relay credential, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayKey {
    /// Id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// The environments it may read, sorted.
    pub environments: Vec<String>,
    /// The first characters of the secret.
    pub prefix: String,
    /// The actor who created it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds: after a rotation, the old credential works until then.
    pub expires_at: Option<i64>,
    /// Unix milliseconds, when revoked.
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, name, prefix, created_by, created_at, expires_at, revoked_at";

fn from_row(row: &AnyRow) -> StoreResult<RelayKey> {
    Ok(RelayKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        environments: Vec::new(),
        prefix: row.try_get("prefix")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// Stores a new relay credential's hash with the environments it names (each must exist).
    pub async fn create_relay_key(
        &self,
        name: &str,
        environments: &[String],
        hash: &str,
        prefix: &str,
        actor: &Actor,
    ) -> StoreResult<RelayKey> {
        let mut tx = self.begin_write().await?;
        let key = insert(&mut tx, name, environments, hash, prefix, actor).await?;
        let audit =
            Audit::new(actor, "relay_key.create", "relay_key", key.id.to_string()).change(None, Some(&key), None);
        tx.commit(audit).await?;
        Ok(key)
    }

    /// Replaces a relay credential by a new one naming the same environments; the old one keeps working until
    /// `old_expires_at`.
    pub async fn rotate_relay_key(
        &self,
        id: i64,
        hash: &str,
        prefix: &str,
        old_expires_at: i64,
        actor: &Actor,
    ) -> StoreResult<RelayKey> {
        let old = self.relay_key(id).await?;
        if old.revoked_at.is_some() {
            return Err(StoreError::Conflict(format!("relay key {id} is revoked")));
        }
        let mut tx = self.begin_write().await?;
        Credentials::RelayKeys.expire_old(&mut tx, id, old_expires_at).await?;
        let key = insert(&mut tx, &old.name, &old.environments, hash, prefix, actor).await?;
        let audit = Audit::new(actor, "relay_key.rotate", "relay_key", id.to_string())
            .change(Some(&old), Some(&key), None)
            .detail(serde_json::json!({ "old_key_expires_at": old_expires_at }));
        tx.commit(audit).await?;
        Ok(key)
    }

    /// Revokes a relay credential at once.
    pub async fn revoke_relay_key(&self, id: i64, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if !Credentials::RelayKeys.revoke(&mut tx, id, None).await? {
            return Err(StoreError::NotFound(format!("active relay key {id}")));
        }
        tx.commit(Audit::new(actor, "relay_key.revoke", "relay_key", id.to_string())).await?;
        Ok(())
    }

    /// One relay credential.
    pub async fn relay_key(&self, id: i64) -> StoreResult<RelayKey> {
        let sql = format!("SELECT {COLUMNS} FROM relay_keys WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        let mut key =
            row.as_ref().map(from_row).transpose()?.ok_or_else(|| StoreError::NotFound(format!("relay key {id}")))?;
        let mut environments = self.relay_environments().await?;
        key.environments = environments.remove(&key.id).unwrap_or_default();
        Ok(key)
    }

    /// Every relay credential, newest first.
    pub async fn list_relay_keys(&self) -> StoreResult<Vec<RelayKey>> {
        let sql = format!("SELECT {COLUMNS} FROM relay_keys ORDER BY id DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        self.with_environments(rows.iter().map(from_row).collect::<StoreResult<_>>()?).await
    }

    /// Every relay credential not revoked, with its hash, for the in-memory key table.
    pub async fn usable_relay_keys(&self) -> StoreResult<Vec<(String, RelayKey)>> {
        let sql = format!("SELECT key_hash, {COLUMNS} FROM relay_keys WHERE revoked_at IS NULL");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        let hashes: Vec<String> = rows.iter().map(|r| r.try_get("key_hash")).collect::<Result<_, _>>()?;
        let keys = self.with_environments(rows.iter().map(from_row).collect::<StoreResult<_>>()?).await?;
        Ok(hashes.into_iter().zip(keys).collect())
    }

    async fn with_environments(&self, mut keys: Vec<RelayKey>) -> StoreResult<Vec<RelayKey>> {
        let mut environments = self.relay_environments().await?;
        for key in &mut keys {
            key.environments = environments.remove(&key.id).unwrap_or_default();
        }
        Ok(keys)
    }

    async fn relay_environments(&self) -> StoreResult<std::collections::HashMap<i64, Vec<String>>> {
        let rows =
            sqlx::query("SELECT relay_key, environment FROM relay_key_environments ORDER BY relay_key, environment")
                .fetch_all(&self.pool)
                .await?;
        let mut by_key: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
        for row in &rows {
            by_key.entry(row.try_get("relay_key")?).or_default().push(row.try_get("environment")?);
        }
        Ok(by_key)
    }
}

async fn insert(
    tx: &mut WriteTx,
    name: &str,
    environments: &[String],
    hash: &str,
    prefix: &str,
    actor: &Actor,
) -> StoreResult<RelayKey> {
    let at = tx.at();
    let mut environments = environments.to_vec();
    environments.sort();
    environments.dedup();
    for environment in &environments {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM environments WHERE key = $1")
            .bind(environment)
            .fetch_optional(tx.conn())
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("environment \"{environment}\"")));
        }
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO relay_keys (name, key_hash, prefix, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(hash)
    .bind(prefix)
    .bind(actor.as_str())
    .bind(at)
    .fetch_one(tx.conn())
    .await?;
    for environment in &environments {
        sqlx::query("INSERT INTO relay_key_environments (relay_key, environment) VALUES ($1, $2)")
            .bind(id)
            .bind(environment)
            .execute(tx.conn())
            .await?;
    }
    Ok(RelayKey {
        id,
        name: name.to_owned(),
        environments,
        prefix: prefix.to_owned(),
        created_by: actor.as_str().to_owned(),
        created_at: at,
        expires_at: None,
        revoked_at: None,
    })
}
