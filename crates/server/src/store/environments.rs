//! Environments.

use pennon_engine::SnapshotFlag;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::flags::{flag_from_row, initial_config};
use super::snapshot::ObjectKind;
use super::write::{Actor, Audit};
use super::{Store, StoreError, StoreResult, from_json, to_json};

/// An environment.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// Slug key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Production environments ask for confirmation before risky changes in the dashboard.
    pub production: bool,
    /// Web origins whose pages may call the client-key endpoints (the CORS policy of the HTTP layer).
    pub allowed_origins: Vec<String>,
    /// Bumped by every change in the environment.
    pub revision: u64,
    /// Bumped by every change to the environment itself.
    pub version: u64,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// A new environment.
#[derive(Debug, Clone)]
pub struct NewEnvironment {
    /// Slug key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Whether it is production.
    pub production: bool,
    /// Web origins allowed to call the client-key endpoints, already checked and normalised.
    pub allowed_origins: Vec<String>,
}

/// Changes to an environment.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentPatch {
    /// New name.
    pub name: Option<String>,
    /// New production mark.
    pub production: Option<bool>,
    /// New allowed origins (replacing the old ones), already checked and normalised.
    pub allowed_origins: Option<Vec<String>>,
}

const COLUMNS: &str = "key, name, production, allowed_origins, revision, version, created_at, updated_at";

fn from_row(row: &AnyRow) -> StoreResult<Environment> {
    Ok(Environment {
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        production: row.try_get::<i64, _>("production")? != 0,
        allowed_origins: from_json(&row.try_get::<String, _>("allowed_origins")?)?,
        revision: row.try_get::<i64, _>("revision")? as u64,
        version: row.try_get::<i64, _>("version")? as u64,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn fetch(conn: &mut sqlx::AnyConnection, key: &str) -> StoreResult<Environment> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM environments WHERE key = $1")))
        .bind(key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("environment \"{key}\"")))?;
    from_row(&row)
}

impl Store {
    /// Every environment, in the order they were made (teams add development, staging, production in that
    /// order far more often than alphabetically), then by key.
    pub async fn list_environments(&self) -> StoreResult<Vec<Environment>> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM environments ORDER BY created_at, key")))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(from_row).collect()
    }

    /// One environment.
    pub async fn get_environment(&self, key: &str) -> StoreResult<Environment> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, key).await
    }

    /// Creates an environment, with every existing flag's initial config in it.
    pub async fn create_environment(&self, new: &NewEnvironment, actor: &Actor) -> StoreResult<Environment> {
        let mut tx = self.begin_write().await?;
        let at = tx.at();
        let inserted = sqlx::query(
            "INSERT INTO environments (key, name, production, allowed_origins, revision, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $5, 0, 1, $4, $4) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&new.key)
        .bind(&new.name)
        .bind(i64::from(new.production))
        .bind(at)
        .bind(to_json(&new.allowed_origins))
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("an environment with key \"{}\" exists already", new.key)));
        }
        let rows =
            sqlx::query("SELECT key, name, description, tags, kind, variants, salt, archived FROM flags ORDER BY key")
                .fetch_all(tx.conn())
                .await?;
        for row in &rows {
            let flag = flag_from_row(row)?;
            let config = initial_config(&flag, &new.key);
            super::configs::insert_config(&mut tx, &config, "environment.create", actor).await?;
            if !flag.archived {
                let key = flag.key.clone();
                let payload = to_json(&SnapshotFlag { definition: flag, config });
                tx.changed(&new.key, ObjectKind::Flag, &key, Some(payload)).await?;
            }
        }
        let created = fetch(tx.conn(), &new.key).await?;
        tx.environment_changed(&new.key);
        let audit = Audit::new(actor, "environment.create", "environment", &new.key).on(None, Some(&new.key)).change(
            None,
            Some(&created),
            Some(1),
        );
        tx.commit(audit).await?;
        Ok(created)
    }

    /// Renames an environment, changes its production mark or its allowed origins.
    pub async fn update_environment(
        &self,
        key: &str,
        patch: EnvironmentPatch,
        expected: Option<u64>,
        actor: &Actor,
    ) -> StoreResult<Environment> {
        let mut tx = self.begin_write().await?;
        let before = fetch(tx.conn(), key).await?;
        if let Some(expected) = expected
            && expected != before.version
        {
            return Err(StoreError::VersionConflict { current: before.version });
        }
        let updated = sqlx::query(
            "UPDATE environments SET name = $2, production = $3, allowed_origins = $6, version = version + 1, \
             updated_at = $4 WHERE key = $1 AND version = $5",
        )
        .bind(key)
        .bind(patch.name.as_deref().unwrap_or(&before.name))
        .bind(i64::from(patch.production.unwrap_or(before.production)))
        .bind(tx.at())
        .bind(before.version as i64)
        .bind(to_json(patch.allowed_origins.as_ref().unwrap_or(&before.allowed_origins)))
        .execute(tx.conn())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::VersionConflict { current: fetch(tx.conn(), key).await?.version });
        }
        let after = fetch(tx.conn(), key).await?;
        tx.environment_changed(key);
        let audit = Audit::new(actor, "environment.update", "environment", key).on(None, Some(key)).change(
            Some(&before),
            Some(&after),
            Some(after.version),
        );
        tx.commit(audit).await?;
        Ok(after)
    }

    /// Deletes an environment; refused while it holds flag configs unless `force`.
    pub async fn delete_environment(&self, key: &str, force: bool, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let before = fetch(tx.conn(), key).await?;
        let configs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM flag_configs WHERE environment = $1")
            .bind(key)
            .fetch_one(tx.conn())
            .await?;
        if configs > 0 && !force {
            return Err(StoreError::Conflict(format!(
                "environment \"{key}\" holds {configs} flag configs; delete it with ?force=true to remove them too"
            )));
        }
        sqlx::query("DELETE FROM environments WHERE key = $1").bind(key).execute(tx.conn()).await?;
        tx.environment_changed(key);
        let audit = Audit::new(actor, "environment.delete", "environment", key)
            .on(None, Some(key))
            .change(Some(&before), None, None)
            .detail(serde_json::json!({ "force": force, "flag_configs": configs }));
        tx.commit(audit).await?;
        Ok(())
    }
}
