//! Environments.

use pennon_engine::SnapshotFlag;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::flags::{flag_from_row, initial_config};
use super::snapshot::ObjectKind;
use super::write::{Actor, Audit, WriteTx};
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
    /// Where it stands among the environments (lists are ordered by it, then by key).
    pub position: u32,
    /// Approvals an editor's config change needs before it applies (0: none, changes apply at once).
    pub approvals_required: u32,
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
    /// Where it stands among the environments; after the last one when `None`.
    pub position: Option<u32>,
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
    /// New position.
    pub position: Option<u32>,
    /// New number of approvals an editor's config change needs.
    pub approvals_required: Option<u32>,
}

const COLUMNS: &str =
    "key, name, production, allowed_origins, position, approvals_required, revision, version, created_at, updated_at";

fn from_row(row: &AnyRow) -> StoreResult<Environment> {
    Ok(Environment {
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        production: row.try_get::<i64, _>("production")? != 0,
        allowed_origins: from_json(&row.try_get::<String, _>("allowed_origins")?)?,
        position: u32::try_from(row.try_get::<i64, _>("position")?).unwrap_or(u32::MAX),
        approvals_required: u32::try_from(row.try_get::<i64, _>("approvals_required")?).unwrap_or(u32::MAX),
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
    /// Every environment, by position (development, staging, production, as an admin set it; a new one goes
    /// after the last), then by key.
    pub async fn list_environments(&self) -> StoreResult<Vec<Environment>> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM environments ORDER BY position, key")))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(from_row).collect()
    }

    /// One environment.
    pub async fn get_environment(&self, key: &str) -> StoreResult<Environment> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, key).await
    }

    /// Creates an environment, with every existing flag's initial config in it. An environment created again
    /// under the key of a deleted one starts after the revision that one reached (plus one, so that even a
    /// replica that missed the deletion sees a gap and reloads it whole).
    pub async fn create_environment(&self, new: &NewEnvironment, actor: &Actor) -> StoreResult<Environment> {
        let mut tx = self.begin_write().await?;
        let (out, audit) = Self::create_environment_in(&mut tx, new, actor).await?;
        tx.commit(audit).await?;
        Ok(out)
    }

    /// [`Store::create_environment`] inside a transaction the caller commits.
    pub(crate) async fn create_environment_in(
        tx: &mut WriteTx,
        new: &NewEnvironment,
        actor: &Actor,
    ) -> StoreResult<(Environment, Audit)> {
        let at = tx.at();
        let position = if let Some(position) = new.position {
            i64::from(position)
        } else {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT MAX(position) FROM environments").fetch_one(tx.conn()).await?;
            last.map_or(0, |last| last.saturating_add(1).min(i64::from(u32::MAX)))
        };
        let retired: Option<i64> = sqlx::query_scalar("SELECT revision FROM retired_revisions WHERE environment = $1")
            .bind(&new.key)
            .fetch_optional(tx.conn())
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO environments (key, name, production, allowed_origins, position, revision, version, \
             created_at, updated_at) VALUES ($1, $2, $3, $5, $6, $7, 1, $4, $4) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&new.key)
        .bind(&new.name)
        .bind(i64::from(new.production))
        .bind(at)
        .bind(to_json(&new.allowed_origins))
        .bind(position)
        .bind(retired.map_or(0, |r| r + 1))
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
            super::configs::insert_config(tx, &config, "environment.create", actor).await?;
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
        Ok((created, audit))
    }

    /// Renames an environment, changes its production mark, its allowed origins, its position or the approvals
    /// its config changes need.
    pub async fn update_environment(
        &self,
        key: &str,
        patch: EnvironmentPatch,
        expected: Option<u64>,
        actor: &Actor,
    ) -> StoreResult<Environment> {
        let mut tx = self.begin_write().await?;
        let (out, audit) = Self::update_environment_in(&mut tx, key, patch, expected, actor).await?;
        tx.commit(audit).await?;
        Ok(out)
    }

    /// [`Store::update_environment`] inside a transaction the caller commits.
    pub(crate) async fn update_environment_in(
        tx: &mut WriteTx,
        key: &str,
        patch: EnvironmentPatch,
        expected: Option<u64>,
        actor: &Actor,
    ) -> StoreResult<(Environment, Audit)> {
        let before = fetch(tx.conn(), key).await?;
        if let Some(expected) = expected
            && expected != before.version
        {
            return Err(StoreError::VersionConflict { current: before.version });
        }
        let updated = sqlx::query(
            "UPDATE environments SET name = $2, production = $3, allowed_origins = $6, position = $7, \
             approvals_required = $8, version = version + 1, updated_at = $4 WHERE key = $1 AND version = $5",
        )
        .bind(key)
        .bind(patch.name.as_deref().unwrap_or(&before.name))
        .bind(i64::from(patch.production.unwrap_or(before.production)))
        .bind(tx.at())
        .bind(before.version as i64)
        .bind(to_json(patch.allowed_origins.as_ref().unwrap_or(&before.allowed_origins)))
        .bind(i64::from(patch.position.unwrap_or(before.position)))
        .bind(i64::from(patch.approvals_required.unwrap_or(before.approvals_required)))
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
        Ok((after, audit))
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
        // The revision as the row is deleted: a write that committed after `before` was read counts too.
        let last: i64 = sqlx::query_scalar("DELETE FROM environments WHERE key = $1 RETURNING revision")
            .bind(key)
            .fetch_optional(tx.conn())
            .await?
            .unwrap_or(before.revision as i64);
        sqlx::query(
            "INSERT INTO retired_revisions (environment, revision) VALUES ($1, $2) \
             ON CONFLICT (environment) DO UPDATE SET revision = excluded.revision",
        )
        .bind(key)
        .bind(last)
        .execute(tx.conn())
        .await?;
        tx.environment_changed(key);
        let audit = Audit::new(actor, "environment.delete", "environment", key)
            .on(None, Some(key))
            .change(Some(&before), None, None)
            .detail(serde_json::json!({ "force": force, "flag_configs": configs }));
        tx.commit(audit).await?;
        Ok(())
    }
}
