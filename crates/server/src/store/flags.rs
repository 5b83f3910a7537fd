//! Flag definitions.

use pennon_engine::{Flag, FlagConfig, FlagKind, Serve, SnapshotFlag, Variant};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::snapshot::ObjectKind;
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, from_json, to_json};

/// A flag definition with its bookkeeping.
#[derive(Debug, Clone)]
pub struct FlagRecord {
    /// The definition.
    pub flag: Flag,
    /// Bumped by every change to the definition.
    pub version: u64,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// List filters.
#[derive(Debug, Clone, Default)]
pub struct FlagFilter {
    /// Only flags with this tag.
    pub tag: Option<String>,
    /// Only flags whose key, name, description or a tag contains this (case-insensitive).
    pub query: Option<String>,
    /// Archived flags (`Some(true)`), live ones (`Some(false)`), or both (`None`).
    pub archived: Option<bool>,
    /// Keys after this one (the cursor).
    pub after: Option<String>,
    /// Page size.
    pub limit: u32,
}

/// Changes to a definition; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct FlagPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New variants (configs that use a removed variant make this invalid).
    pub variants: Option<Vec<Variant>>,
}

const FLAG_COLUMNS: &str =
    "key, name, description, tags, kind, variants, salt, archived, version, created_at, updated_at";

pub(crate) fn flag_from_row(row: &AnyRow) -> StoreResult<Flag> {
    let kind: String = row.try_get("kind")?;
    Ok(Flag {
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        tags: from_json(&row.try_get::<String, _>("tags")?)?,
        kind: from_json(&format!("\"{kind}\""))?,
        variants: from_json(&row.try_get::<String, _>("variants")?)?,
        salt: row.try_get("salt")?,
        archived: row.try_get::<i64, _>("archived")? != 0,
    })
}

fn record_from_row(row: &AnyRow) -> StoreResult<FlagRecord> {
    Ok(FlagRecord {
        flag: flag_from_row(row)?,
        version: row.try_get::<i64, _>("version")? as u64,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The config a flag starts with in every environment: off, serving its off variant. A boolean flag's default
/// is `on`, so that turning it on serves `on` to everyone; other kinds serve their first variant either way.
pub(crate) fn initial_config(flag: &Flag, environment: &str) -> FlagConfig {
    let (off, default) = if flag.kind == FlagKind::Boolean {
        ("off".to_owned(), "on".to_owned())
    } else {
        let first = flag.variants.first().map(|v| v.key.clone()).unwrap_or_default();
        (first.clone(), first)
    };
    FlagConfig {
        flag: flag.key.clone(),
        environment: environment.to_owned(),
        version: 1,
        enabled: false,
        off_variant: off,
        targets: Vec::new(),
        rules: Vec::new(),
        default: Serve::Variant(default),
        prerequisites: Vec::new(),
    }
}

/// Inserts a flag (already validated) with its initial config in every environment, inside `tx`; the caller
/// writes the audit row. A flag with the key already is a conflict.
pub(crate) async fn insert_flag(tx: &mut WriteTx, flag: &Flag, actor: &Actor) -> StoreResult<FlagRecord> {
    let at = tx.at();
    let inserted = sqlx::query(
        "INSERT INTO flags (key, name, description, tags, kind, variants, salt, archived, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 1, $8, $8) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&flag.key)
    .bind(&flag.name)
    .bind(&flag.description)
    .bind(to_json(&flag.tags))
    .bind(flag.kind.as_str())
    .bind(to_json(&flag.variants))
    .bind(&flag.salt)
    .bind(at)
    .execute(tx.conn())
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!("a flag with key \"{}\" exists already", flag.key)));
    }
    write_tags(tx, &flag.key, &flag.tags).await?;
    let environments: Vec<String> =
        sqlx::query_scalar("SELECT key FROM environments ORDER BY key").fetch_all(tx.conn()).await?;
    for env in &environments {
        let config = initial_config(flag, env);
        super::configs::insert_config(tx, &config, "flag.create", actor).await?;
        let payload = to_json(&SnapshotFlag { definition: flag.clone(), config });
        tx.changed(env, ObjectKind::Flag, &flag.key, Some(payload)).await?;
    }
    Ok(FlagRecord { flag: flag.clone(), version: 1, created_at: at, updated_at: at })
}

pub(crate) async fn fetch_flag(conn: &mut AnyConnection, key: &str) -> StoreResult<FlagRecord> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {FLAG_COLUMNS} FROM flags WHERE key = $1")))
        .bind(key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("flag \"{key}\"")))?;
    record_from_row(&row)
}

/// Every environment's config of a flag.
pub(crate) async fn configs_of(conn: &mut AnyConnection, flag: &str) -> StoreResult<Vec<FlagConfig>> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT config FROM flag_configs WHERE flag = $1 ORDER BY environment")
        .bind(flag)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|c| from_json(c)).collect()
}

/// Locks the flag's row until the transaction ends (on PostgreSQL; SQLite serialises every writer anyway).
/// Definition changes and config changes both take it first, so that each validates against what the other
/// committed: without it a variant could be removed while a config starts to use it.
pub(crate) async fn lock_flag(tx: &mut WriteTx, key: &str) -> StoreResult<()> {
    sqlx::query("UPDATE flags SET version = version WHERE key = $1").bind(key).execute(tx.conn()).await?;
    Ok(())
}

/// The other flags' configs that name `flag` as a prerequisite, in any environment.
async fn prerequisite_users(conn: &mut AnyConnection, flag: &str) -> StoreResult<Vec<FlagConfig>> {
    let with_prerequisites: Vec<String> = sqlx::query_scalar(
        "SELECT c.config FROM prerequisite_edges e \
         JOIN flag_configs c ON c.flag = e.flag AND c.environment = e.environment \
         WHERE e.prerequisite = $1 AND e.flag <> $1 ORDER BY c.flag, c.environment",
    )
    .bind(flag)
    .fetch_all(conn)
    .await?;
    let mut users = Vec::new();
    for text in &with_prerequisites {
        let config: FlagConfig = from_json(text)?;
        if config.prerequisites.iter().any(|p| p.flag == flag) {
            users.push(config);
        }
    }
    Ok(users)
}

impl Store {
    /// A page of flags ordered by key.
    pub async fn list_flags(&self, filter: &FlagFilter) -> StoreResult<Vec<FlagRecord>> {
        let pattern = filter.query.as_ref().map(|q| format!("%{}%", q.to_lowercase().replace(['%', '_'], "")));
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FLAG_COLUMNS} FROM flags f WHERE (CAST($1 AS BIGINT) < 0 OR archived = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM flag_tags t WHERE t.flag = f.key AND t.tag = $2)) \
             AND (CAST($3 AS TEXT) IS NULL OR lower(key) LIKE $3 OR lower(name) LIKE $3 OR lower(description) LIKE $3 \
                  OR EXISTS (SELECT 1 FROM flag_tags t WHERE t.flag = f.key AND lower(t.tag) LIKE $3)) \
             AND (CAST($4 AS TEXT) IS NULL OR key > $4) \
             ORDER BY key LIMIT $5"
        )))
        .bind(filter.archived.map_or(-1, i64::from))
        .bind(filter.tag.as_deref())
        .bind(pattern)
        .bind(filter.after.as_deref())
        .bind(i64::from(filter.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// One flag's definition.
    pub async fn get_flag(&self, key: &str) -> StoreResult<FlagRecord> {
        let mut conn = self.pool.acquire().await?;
        fetch_flag(&mut conn, key).await
    }

    /// One flag's definition and its config in every environment.
    pub async fn get_flag_with_configs(&self, key: &str) -> StoreResult<(FlagRecord, Vec<FlagConfig>)> {
        let mut conn = self.pool.acquire().await?;
        let record = fetch_flag(&mut conn, key).await?;
        let configs = configs_of(&mut conn, key).await?;
        Ok((record, configs))
    }

    /// Creates a flag (already validated) with its initial config in every environment.
    #[tracing::instrument(skip(self, flag, actor), fields(flag = %flag.key))]
    pub async fn create_flag(&self, flag: &Flag, actor: &Actor) -> StoreResult<(FlagRecord, Vec<(String, u64)>)> {
        let mut tx = self.begin_write().await?;
        let (record, audit) = Self::create_flag_in(&mut tx, flag, actor).await?;
        let revisions = tx.commit(audit).await?;
        Ok((record, revisions))
    }

    /// [`Store::create_flag`] inside a transaction the caller commits: returns the record and its audit row.
    pub(crate) async fn create_flag_in(
        tx: &mut WriteTx,
        flag: &Flag,
        actor: &Actor,
    ) -> StoreResult<(FlagRecord, Audit)> {
        let record = insert_flag(tx, flag, actor).await?;
        let audit = Audit::new(actor, "flag.create", "flag", &flag.key).on(Some(&flag.key), None).change(
            None,
            Some(&flag),
            Some(1),
        );
        Ok((record, audit))
    }

    /// Changes a definition. `expected` is the version the change was based on, if the caller named one.
    /// `check` validates the new definition against the flag's configs.
    #[tracing::instrument(skip(self, patch, actor, check))]
    pub async fn update_flag(
        &self,
        key: &str,
        patch: FlagPatch,
        expected: Option<u64>,
        actor: &Actor,
        check: impl FnOnce(&Flag, &[FlagConfig]) -> Vec<pennon_engine::Problem>,
    ) -> StoreResult<(FlagRecord, Vec<(String, u64)>)> {
        let mut tx = self.begin_write().await?;
        let (out, audit) = Self::update_flag_in(&mut tx, key, patch, expected, actor, check).await?;
        let revisions = tx.commit(audit).await?;
        Ok((out, revisions))
    }

    /// [`Store::update_flag`] inside a transaction the caller commits.
    pub(crate) async fn update_flag_in(
        tx: &mut WriteTx,
        key: &str,
        patch: FlagPatch,
        expected: Option<u64>,
        actor: &Actor,
        check: impl FnOnce(&Flag, &[FlagConfig]) -> Vec<pennon_engine::Problem>,
    ) -> StoreResult<(FlagRecord, Audit)> {
        lock_flag(tx, key).await?;
        let current = fetch_flag(tx.conn(), key).await?;
        if let Some(expected) = expected
            && expected != current.version
        {
            return Err(StoreError::VersionConflict { current: current.version });
        }
        let before = current.flag.clone();
        let mut flag = current.flag;
        if let Some(name) = patch.name {
            flag.name = name;
        }
        if let Some(description) = patch.description {
            flag.description = description;
        }
        if let Some(tags) = patch.tags {
            flag.tags = tags;
        }
        if let Some(variants) = patch.variants {
            flag.variants = variants;
        }
        let configs = configs_of(tx.conn(), key).await?;
        let mut problems = check(&flag, &configs);
        for config in prerequisite_users(tx.conn(), key).await? {
            for p in config.prerequisites.iter().filter(|p| p.flag == key) {
                if !flag.variants.iter().any(|v| v.key == p.variant) {
                    problems.push(pennon_engine::Problem {
                        path: "variants".to_owned(),
                        message: format!(
                            "variant \"{}\" is a prerequisite of flag \"{}\" in environment \"{}\"",
                            p.variant, config.flag, config.environment
                        ),
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let version = current.version + 1;
        let updated = sqlx::query(
            "UPDATE flags SET name = $2, description = $3, tags = $4, variants = $5, version = $6, updated_at = $7 \
             WHERE key = $1 AND version = $8",
        )
        .bind(key)
        .bind(&flag.name)
        .bind(&flag.description)
        .bind(to_json(&flag.tags))
        .bind(to_json(&flag.variants))
        .bind(version as i64)
        .bind(tx.at())
        .bind(current.version as i64)
        .execute(tx.conn())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::VersionConflict { current: fetch_flag(tx.conn(), key).await?.version });
        }
        write_tags(tx, key, &flag.tags).await?;
        if !flag.archived {
            for config in configs {
                let env = config.environment.clone();
                let payload = to_json(&SnapshotFlag { definition: flag.clone(), config });
                tx.changed(&env, ObjectKind::Flag, key, Some(payload)).await?;
            }
        }
        let record = FlagRecord { flag: flag.clone(), version, created_at: current.created_at, updated_at: tx.at() };
        let audit = Audit::new(actor, "flag.update", "flag", key).on(Some(key), None).change(
            Some(&before),
            Some(&flag),
            Some(version),
        );
        Ok((record, audit))
    }

    /// Archives or unarchives a flag: archived flags leave every environment's snapshot.
    pub async fn set_archived(
        &self,
        key: &str,
        archived: bool,
        actor: &Actor,
    ) -> StoreResult<(FlagRecord, Vec<(String, u64)>)> {
        let mut tx = self.begin_write().await?;
        let (out, audit) = Self::set_archived_in(&mut tx, key, archived, actor).await?;
        let revisions = tx.commit(audit).await?;
        Ok((out, revisions))
    }

    /// [`Store::set_archived`] inside a transaction the caller commits.
    pub(crate) async fn set_archived_in(
        tx: &mut WriteTx,
        key: &str,
        archived: bool,
        actor: &Actor,
    ) -> StoreResult<(FlagRecord, Audit)> {
        let mut record = fetch_flag(tx.conn(), key).await?;
        if record.flag.archived == archived {
            let state = if archived { "archived" } else { "not archived" };
            return Err(StoreError::Conflict(format!("flag \"{key}\" is {state} already")));
        }
        record.version += 1;
        record.updated_at = tx.at();
        record.flag.archived = archived;
        let updated = sqlx::query(
            "UPDATE flags SET archived = $2, version = $3, updated_at = $4 WHERE key = $1 AND version = $5",
        )
        .bind(key)
        .bind(i64::from(archived))
        .bind(record.version as i64)
        .bind(tx.at())
        .bind(record.version as i64 - 1)
        .execute(tx.conn())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::VersionConflict { current: fetch_flag(tx.conn(), key).await?.version });
        }
        for config in configs_of(tx.conn(), key).await? {
            let env = config.environment.clone();
            let payload = (!archived).then(|| to_json(&SnapshotFlag { definition: record.flag.clone(), config }));
            tx.changed(&env, ObjectKind::Flag, key, payload).await?;
        }
        let action = if archived { "flag.archive" } else { "flag.unarchive" };
        let audit =
            Audit::new(actor, action, "flag", key).on(Some(key), None).change::<Flag>(None, None, Some(record.version));
        Ok((record, audit))
    }

    /// Deletes an archived flag with its configs and history (the audit log keeps its story).
    pub async fn delete_flag(&self, key: &str, actor: &Actor) -> StoreResult<Vec<(String, u64)>> {
        let mut tx = self.begin_write().await?;
        let (out, audit) = Self::delete_flag_in(&mut tx, key, actor).await?;
        let () = out;
        tx.commit(audit).await
    }

    /// [`Store::delete_flag`] inside a transaction the caller commits.
    pub(crate) async fn delete_flag_in(tx: &mut WriteTx, key: &str, actor: &Actor) -> StoreResult<((), Audit)> {
        let record = fetch_flag(tx.conn(), key).await?;
        if !record.flag.archived {
            return Err(StoreError::Conflict(format!("flag \"{key}\" must be archived before it is deleted")));
        }
        let mut dependents = Vec::new();
        for config in prerequisite_users(tx.conn(), key).await? {
            if !dependents.contains(&config.flag) {
                dependents.push(config.flag);
            }
        }
        if !dependents.is_empty() {
            return Err(StoreError::Conflict(format!(
                "flag \"{key}\" is a prerequisite of {}",
                dependents.iter().map(|d| format!("\"{d}\"")).collect::<Vec<_>>().join(", ")
            )));
        }
        sqlx::query("DELETE FROM flag_configs WHERE flag = $1").bind(key).execute(tx.conn()).await?;
        // Its usage goes with it: a flag created again under the key starts unseen.
        sqlx::query("DELETE FROM flag_last_seen WHERE flag = $1").bind(key).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM flag_usage_hours WHERE flag = $1").bind(key).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM flags WHERE key = $1").bind(key).execute(tx.conn()).await?;
        let audit =
            Audit::new(actor, "flag.delete", "flag", key).on(Some(key), None).change(Some(&record.flag), None, None);
        Ok(((), audit))
    }
}

async fn write_tags(tx: &mut WriteTx, flag: &str, tags: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM flag_tags WHERE flag = $1").bind(flag).execute(tx.conn()).await?;
    for tag in tags {
        sqlx::query("INSERT INTO flag_tags (flag, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(flag)
            .bind(tag)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}
