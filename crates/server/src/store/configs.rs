//! Flag configs per environment: read-modify-write with version checks, and their history.

use pennon_engine::{FlagConfig, SnapshotFlag, ValidationScope};
use sqlx::{AnyConnection, Row};

use super::flags::flag_from_row;
use super::snapshot::ObjectKind;
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, from_json, to_json};

/// A config with who last changed it.
#[derive(Debug, Clone)]
pub struct ConfigRecord {
    /// The config (its `version` included).
    pub config: FlagConfig,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// The actor of the last change.
    pub updated_by: String,
}

/// One entry of a config's history.
#[derive(Debug, Clone)]
pub struct ConfigVersion {
    /// The config as it was at this version.
    pub config: FlagConfig,
    /// What produced it, e.g. `config.toggle`.
    pub action: String,
    /// Who.
    pub actor: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Writes a new config row and its first history entry.
pub(crate) async fn insert_config(
    tx: &mut WriteTx,
    config: &FlagConfig,
    action: &str,
    actor: &Actor,
) -> StoreResult<()> {
    let at = tx.at();
    sqlx::query(
        "INSERT INTO flag_configs (flag, environment, version, config, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&config.flag)
    .bind(&config.environment)
    .bind(config.version as i64)
    .bind(to_json(config))
    .bind(at)
    .bind(actor.as_str())
    .execute(tx.conn())
    .await?;
    set_prerequisite_edges(tx, config).await?;
    insert_version(tx, config, action, actor).await
}

/// Records a config's prerequisite edges in `prerequisite_edges`, in place of those it had.
async fn set_prerequisite_edges(tx: &mut WriteTx, config: &FlagConfig) -> StoreResult<()> {
    sqlx::query("DELETE FROM prerequisite_edges WHERE flag = $1 AND environment = $2")
        .bind(&config.flag)
        .bind(&config.environment)
        .execute(tx.conn())
        .await?;
    for p in &config.prerequisites {
        sqlx::query(
            "INSERT INTO prerequisite_edges (flag, environment, prerequisite) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&config.flag)
        .bind(&config.environment)
        .bind(&p.flag)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

async fn insert_version(tx: &mut WriteTx, config: &FlagConfig, action: &str, actor: &Actor) -> StoreResult<()> {
    let at = tx.at();
    sqlx::query(
        "INSERT INTO flag_config_versions (flag, environment, version, config, action, actor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&config.flag)
    .bind(&config.environment)
    .bind(config.version as i64)
    .bind(to_json(config))
    .bind(action)
    .bind(actor.as_str())
    .bind(at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn fetch_config(conn: &mut AnyConnection, flag: &str, environment: &str) -> StoreResult<ConfigRecord> {
    let row =
        sqlx::query("SELECT config, updated_at, updated_by FROM flag_configs WHERE flag = $1 AND environment = $2")
            .bind(flag)
            .bind(environment)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(row) = row else {
        let env_exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM environments WHERE key = $1")
            .bind(environment)
            .fetch_optional(&mut *conn)
            .await?;
        return Err(StoreError::NotFound(if env_exists.is_some() {
            format!("flag \"{flag}\"")
        } else {
            format!("environment \"{environment}\"")
        }));
    };
    Ok(ConfigRecord {
        config: from_json(&row.try_get::<String, _>("config")?)?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

/// A flag's definition, read inside a transaction.
pub(crate) async fn read_definition(conn: &mut AnyConnection, flag: &str) -> StoreResult<pennon_engine::Flag> {
    let row =
        sqlx::query("SELECT key, name, description, tags, kind, variants, salt, archived FROM flags WHERE key = $1")
            .bind(flag)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("flag \"{flag}\"")))?;
    flag_from_row(&row)
}

/// What validating `config` needs of its environment, and no more: the environment's prerequisite edges,
/// the definitions of the flags it names as prerequisites, and which of the segments its rules name exist.
/// The cost of a write so follows the write, not the number of flags in the environment.
async fn validation_scope(
    conn: &mut AnyConnection,
    environment: &str,
    config: &FlagConfig,
) -> StoreResult<ValidationScope> {
    let mut scope = ValidationScope::default();
    // The edges the checks walk, and no others: down from the prerequisites the config names (a cycle back
    // to the flag, the chains below it) and up from the flag (the chains of flags requiring it). A change to
    // a flag that no other flag requires and that requires none reads no edge.
    let down: Vec<String> = config.prerequisites.iter().map(|p| p.flag.clone()).collect();
    for (flag, prerequisite) in reachable_edges(conn, environment, down, Direction::Down).await? {
        scope.edges.entry(flag).or_default().push(prerequisite);
    }
    for (flag, prerequisite) in reachable_edges(conn, environment, vec![config.flag.clone()], Direction::Up).await? {
        let listed = scope.edges.entry(flag).or_default();
        if !listed.contains(&prerequisite) {
            listed.push(prerequisite);
        }
    }
    for p in &config.prerequisites {
        if scope.flags.contains_key(&p.flag) {
            continue;
        }
        let row = sqlx::query(
            "SELECT f.key, f.name, f.description, f.tags, f.kind, f.variants, f.salt, f.archived \
             FROM flags f JOIN flag_configs c ON c.flag = f.key WHERE c.environment = $1 AND f.key = $2",
        )
        .bind(environment)
        .bind(&p.flag)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            scope.flags.insert(p.flag.clone(), flag_from_row(&row)?);
        }
    }
    for segment in config.rules.iter().flat_map(|r| &r.segments) {
        if scope.segments.contains(segment) {
            continue;
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM segments WHERE key = $1")
            .bind(segment)
            .fetch_optional(&mut *conn)
            .await?;
        if exists.is_some() {
            scope.segments.insert(segment.clone());
        }
    }
    Ok(scope)
}

/// Which way [`reachable_edges`] follows the prerequisite edges.
#[derive(Clone, Copy)]
enum Direction {
    /// From a flag to its prerequisites.
    Down,
    /// From a flag to the flags that require it.
    Up,
}

/// The prerequisite edges `(flag, prerequisite)` of the environment reachable from `start` in one
/// direction, read a level at a time (one indexed query per level; the graph is acyclic and its chains are
/// bounded, and a flag already reached is not followed again, so a stored cycle ends the walk too).
async fn reachable_edges(
    conn: &mut AnyConnection,
    environment: &str,
    start: Vec<String>,
    direction: Direction,
) -> StoreResult<Vec<(String, String)>> {
    let mut reached: std::collections::HashSet<String> = start.iter().cloned().collect();
    let mut frontier = start;
    let mut edges = Vec::new();
    let from = match direction {
        Direction::Down => "flag",
        Direction::Up => "prerequisite",
    };
    while !frontier.is_empty() {
        let mut level = Vec::new();
        // In slices, so that a wide level stays within the databases' limits on bound values.
        for slice in frontier.chunks(500) {
            let placeholders: Vec<String> = (0..slice.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT flag, prerequisite FROM prerequisite_edges WHERE environment = $1 AND {from} IN ({})",
                placeholders.join(", ")
            );
            // Only placeholders and a fixed column name are formatted in; the keys are bound.
            let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql)).bind(environment);
            for key in slice {
                query = query.bind(key);
            }
            level.extend(query.fetch_all(&mut *conn).await?);
        }
        frontier = Vec::new();
        for (flag, prerequisite) in level {
            let next = match direction {
                Direction::Down => &prerequisite,
                Direction::Up => &flag,
            };
            if reached.insert(next.clone()) {
                frontier.push(next.clone());
            }
            edges.push((flag, prerequisite));
        }
    }
    Ok(edges)
}

/// Validates a config that is about to be written, as every write does: [`StoreError::Invalid`] lists the
/// problems.
pub(crate) async fn check_config(
    conn: &mut AnyConnection,
    definition: &pennon_engine::Flag,
    next: &FlagConfig,
) -> StoreResult<()> {
    let scope = validation_scope(conn, &next.environment, next).await?;
    let problems =
        pennon_engine::validate_config_in(definition, next, &scope, pennon_engine::PrerequisiteLimits::default());
    if problems.is_empty() { Ok(()) } else { Err(StoreError::Invalid(problems)) }
}

/// A config edit checked and validated inside a write transaction, not yet written.
pub(crate) struct PreparedEdit {
    /// The flag's definition.
    pub definition: pennon_engine::Flag,
    /// The config as it is.
    pub current: FlagConfig,
    /// The config the edit makes (flag, environment and next version set).
    pub next: FlagConfig,
}

/// Locks the flag, checks the version the edit was based on and that the flag is not archived, applies
/// `edit` to the current config and validates the result.
pub(crate) async fn prepare_edit(
    tx: &mut WriteTx,
    flag: &str,
    environment: &str,
    expected: Option<u64>,
    edit: impl FnOnce(&pennon_engine::Flag, &FlagConfig) -> Result<FlagConfig, StoreError>,
) -> StoreResult<PreparedEdit> {
    super::flags::lock_flag(tx, flag).await?;
    // Config writes in one environment validate one after the other (on PostgreSQL; SQLite serialises
    // every writer): two prerequisites written at once could otherwise close a cycle together.
    sqlx::query("UPDATE environments SET revision = revision WHERE key = $1")
        .bind(environment)
        .execute(tx.conn())
        .await?;
    let definition = read_definition(tx.conn(), flag).await?;
    if definition.archived {
        return Err(StoreError::Conflict(format!("flag \"{flag}\" is archived; unarchive it to change it")));
    }
    let current = fetch_config(tx.conn(), flag, environment).await?.config;
    if let Some(expected) = expected
        && expected != current.version
    {
        return Err(StoreError::VersionConflict { current: current.version });
    }
    let mut next = edit(&definition, &current)?;
    next.flag = flag.to_owned();
    next.environment = environment.to_owned();
    next.version = current.version + 1;
    check_config(tx.conn(), &definition, &next).await?;
    Ok(PreparedEdit { definition, current, next })
}

/// Writes a prepared edit: the new config, its history entry, prerequisite edges, segment uses and the
/// change-log row. Returns the config before and after.
pub(crate) async fn write_edit(
    tx: &mut WriteTx,
    prepared: PreparedEdit,
    action: &str,
    actor: &Actor,
) -> StoreResult<(FlagConfig, ConfigRecord)> {
    let PreparedEdit { definition, current, next } = prepared;
    let (flag, environment) = (next.flag.clone(), next.environment.clone());
    let updated = sqlx::query(
        "UPDATE flag_configs SET version = $3, config = $4, updated_at = $5, updated_by = $6 \
         WHERE flag = $1 AND environment = $2 AND version = $7",
    )
    .bind(&flag)
    .bind(&environment)
    .bind(next.version as i64)
    .bind(to_json(&next))
    .bind(tx.at())
    .bind(actor.as_str())
    .bind(current.version as i64)
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() == 0 {
        let now = fetch_config(tx.conn(), &flag, &environment).await?;
        return Err(StoreError::VersionConflict { current: now.config.version });
    }
    insert_version(tx, &next, action, actor).await?;
    set_prerequisite_edges(tx, &next).await?;
    sqlx::query("DELETE FROM segment_uses WHERE flag = $1 AND environment = $2")
        .bind(&flag)
        .bind(&environment)
        .execute(tx.conn())
        .await?;
    for segment in next.rules.iter().flat_map(|r| &r.segments) {
        sqlx::query("INSERT INTO segment_uses (segment, flag, environment) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(segment)
            .bind(&flag)
            .bind(&environment)
            .execute(tx.conn())
            .await?;
    }
    let payload = to_json(&SnapshotFlag { definition, config: next.clone() });
    tx.changed(&environment, ObjectKind::Flag, &flag, Some(payload)).await?;
    let at = tx.at();
    Ok((current, ConfigRecord { config: next, updated_at: at, updated_by: actor.as_str().to_owned() }))
}

impl Store {
    /// A flag's config in an environment.
    pub async fn get_config(&self, flag: &str, environment: &str) -> StoreResult<ConfigRecord> {
        let mut conn = self.pool.acquire().await?;
        fetch_config(&mut conn, flag, environment).await
    }

    /// Changes a flag's config in one environment: `edit` turns the current config into the new one (its
    /// version, flag and environment are set here), which must pass validation. `expected` is the version
    /// the caller based the change on. One transaction: version check, new state, history, revision, change
    /// log, audit.
    #[tracing::instrument(skip(self, actor, edit), fields(flag, environment))]
    pub async fn update_config(
        &self,
        flag: &str,
        environment: &str,
        expected: Option<u64>,
        action: &str,
        actor: &Actor,
        edit: impl FnOnce(&pennon_engine::Flag, &FlagConfig) -> Result<FlagConfig, StoreError>,
    ) -> StoreResult<(ConfigRecord, Vec<(String, u64)>)> {
        let mut tx = self.begin_write().await?;
        let (before, record) = self.edit_config_in(&mut tx, flag, environment, expected, action, actor, edit).await?;
        let audit = Audit::new(actor, action, "config", format!("{flag}/{environment}"))
            .on(Some(flag), Some(environment))
            .change(Some(&before), Some(&record.config), Some(record.config.version));
        let revisions = tx.commit(audit).await?;
        Ok((record, revisions))
    }

    /// [`Store::update_config`] inside a transaction that the caller commits (with the audit row of its
    /// choice): returns the config before and after.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn edit_config_in(
        &self,
        tx: &mut WriteTx,
        flag: &str,
        environment: &str,
        expected: Option<u64>,
        action: &str,
        actor: &Actor,
        edit: impl FnOnce(&pennon_engine::Flag, &FlagConfig) -> Result<FlagConfig, StoreError>,
    ) -> StoreResult<(FlagConfig, ConfigRecord)> {
        let prepared = prepare_edit(tx, flag, environment, expected, edit).await?;
        write_edit(tx, prepared, action, actor).await
    }

    /// A page of a config's history, newest first: versions below `before` (all when `None`).
    pub async fn config_history(
        &self,
        flag: &str,
        environment: &str,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<ConfigVersion>> {
        let mut conn = self.pool.acquire().await?;
        fetch_config(&mut conn, flag, environment).await?;
        let rows = sqlx::query(
            "SELECT config, action, actor, created_at FROM flag_config_versions \
             WHERE flag = $1 AND environment = $2 AND version < $3 ORDER BY version DESC LIMIT $4",
        )
        .bind(flag)
        .bind(environment)
        .bind(before.map_or(i64::MAX, |b| b as i64))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ConfigVersion {
                    config: from_json(&row.try_get::<String, _>("config")?)?,
                    action: row.try_get("action")?,
                    actor: row.try_get("actor")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// One version of a config.
    pub async fn config_version(&self, flag: &str, environment: &str, version: u64) -> StoreResult<FlagConfig> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT config FROM flag_config_versions WHERE flag = $1 AND environment = $2 AND version = $3",
        )
        .bind(flag)
        .bind(environment)
        .bind(version as i64)
        .fetch_optional(&self.pool)
        .await?;
        let text = text.ok_or_else(|| {
            StoreError::NotFound(format!("version {version} of flag \"{flag}\" in environment \"{environment}\""))
        })?;
        from_json(&text)
    }
}
