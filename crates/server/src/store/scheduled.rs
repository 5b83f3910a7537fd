//! Scheduled changes: kept per flag config, edited and cancelled while pending, and applied by the leader in
//! one transaction that claims the row (pending -> applied) and writes the config, or marks it failed with
//! its reason when the config moved on in a way the change cannot follow.

use pennon_engine::{Flag, FlagConfig};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::configs::{check_config, fetch_config, read_definition};
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, from_json, to_json};
use crate::domain::scheduled::{ScheduleState, ScheduledEdit};

/// One scheduled change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScheduledChange {
    /// Its id.
    pub id: i64,
    /// The flag.
    pub flag: String,
    /// The environment.
    pub environment: String,
    /// When it is due (Unix milliseconds).
    pub at: i64,
    /// The change.
    pub change: ScheduledEdit,
    /// Free text.
    pub comment: String,
    /// Who scheduled it (an actor).
    pub author: String,
    /// The config version it was written against.
    pub based_on: u64,
    /// Where it stands.
    pub state: ScheduleState,
    /// Bumped on every edit of the scheduled change itself.
    pub version: u64,
    /// The config version it produced, once applied.
    pub applied_version: Option<u64>,
    /// Why it was not applied, once failed.
    pub failure: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// Who last changed it.
    pub updated_by: String,
    /// When it was applied, failed or cancelled (Unix milliseconds).
    pub resolved_at: Option<i64>,
}

/// What a request may change of a pending scheduled change; `None` leaves a part as it is.
pub type EditMaker = Box<dyn FnOnce(&Flag, &FlagConfig) -> Result<ScheduledEdit, StoreError> + Send>;

const COLUMNS: &str = "id, flag, environment, at, edit, comment, author, based_on, state, version, applied_version, \
                       failure, created_at, updated_at, updated_by, resolved_at";

fn from_row(row: &AnyRow) -> StoreResult<ScheduledChange> {
    let state: String = row.try_get("state")?;
    Ok(ScheduledChange {
        id: row.try_get("id")?,
        flag: row.try_get("flag")?,
        environment: row.try_get("environment")?,
        at: row.try_get("at")?,
        change: from_json(&row.try_get::<String, _>("edit")?)?,
        comment: row.try_get("comment")?,
        author: row.try_get("author")?,
        based_on: row.try_get::<i64, _>("based_on")? as u64,
        state: ScheduleState::parse(&state).unwrap_or(ScheduleState::Failed),
        version: row.try_get::<i64, _>("version")? as u64,
        applied_version: row.try_get::<Option<i64>, _>("applied_version")?.map(|v| v as u64),
        failure: row.try_get("failure")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
        resolved_at: row.try_get("resolved_at")?,
    })
}

async fn fetch(conn: &mut AnyConnection, flag: &str, environment: &str, id: i64) -> StoreResult<ScheduledChange> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM scheduled_changes WHERE id = $1 AND flag = $2 AND environment = $3"
    )))
    .bind(id)
    .bind(flag)
    .bind(environment)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = row {
        return from_row(&row);
    }
    fetch_config(conn, flag, environment).await?;
    Err(StoreError::NotFound(format!("scheduled change {id}")))
}

/// Makes the change against the current config and validates the result as the immediate change would be:
/// returns the change and the version it is based on.
async fn resolve(
    tx: &mut WriteTx,
    flag: &str,
    environment: &str,
    expected: Option<u64>,
    make: impl FnOnce(&Flag, &FlagConfig) -> Result<ScheduledEdit, StoreError>,
) -> StoreResult<(ScheduledEdit, u64)> {
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
    let edit = make(&definition, &current)?;
    let mut next = edit.apply(&current);
    next.version = current.version + 1;
    check_config(tx.conn(), &definition, &next).await?;
    Ok((edit, current.version))
}

fn audit_of(actor: &Actor, action: &str, before: Option<&ScheduledChange>, after: &ScheduledChange) -> Audit {
    Audit::new(actor, action, "scheduled_change", after.id.to_string())
        .on(Some(&after.flag), Some(&after.environment))
        .change(before, Some(after), Some(after.version))
}

impl Store {
    /// Schedules a change of a config: `make` turns the request into the change against the current config,
    /// whose result must validate. At most `max_pending` changes may wait per config.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_scheduled(
        &self,
        flag: &str,
        environment: &str,
        at: i64,
        comment: &str,
        expected: Option<u64>,
        max_pending: u32,
        actor: &Actor,
        make: impl FnOnce(&Flag, &FlagConfig) -> Result<ScheduledEdit, StoreError>,
    ) -> StoreResult<ScheduledChange> {
        let mut tx = self.begin_write().await?;
        super::flags::lock_flag(&mut tx, flag).await?;
        let (edit, based_on) = resolve(&mut tx, flag, environment, expected, make).await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM scheduled_changes WHERE flag = $1 AND environment = $2 AND state = 'pending'",
        )
        .bind(flag)
        .bind(environment)
        .fetch_one(tx.conn())
        .await?;
        if pending >= i64::from(max_pending) {
            return Err(StoreError::Conflict(format!(
                "{pending} changes are already scheduled for this config (at most {max_pending}); cancel one first"
            )));
        }
        let now = tx.at();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO scheduled_changes (flag, environment, at, edit, comment, author, based_on, state, version, \
             created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 1, $8, $8, $6) \
             RETURNING {COLUMNS}"
        )))
        .bind(flag)
        .bind(environment)
        .bind(at)
        .bind(to_json(&edit))
        .bind(comment)
        .bind(actor.as_str())
        .bind(based_on as i64)
        .bind(now)
        .fetch_one(tx.conn())
        .await?;
        let created = from_row(&row)?;
        tx.commit(audit_of(actor, "scheduled_change.create", None, &created)).await?;
        Ok(created)
    }

    /// A config's scheduled changes, newest first: ids below `before` (all when `None`), of one state if given.
    pub async fn list_scheduled(
        &self,
        flag: &str,
        environment: &str,
        state: Option<ScheduleState>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ScheduledChange>> {
        let mut conn = self.pool.acquire().await?;
        fetch_config(&mut conn, flag, environment).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM scheduled_changes WHERE flag = $1 AND environment = $2 AND id < $3 \
             AND ($4 = '' OR state = $4) ORDER BY id DESC LIMIT $5"
        )))
        .bind(flag)
        .bind(environment)
        .bind(before.unwrap_or(i64::MAX))
        .bind(state.map_or("", ScheduleState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One scheduled change of a config.
    pub async fn get_scheduled(&self, flag: &str, environment: &str, id: i64) -> StoreResult<ScheduledChange> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, flag, environment, id).await
    }

    /// Edits a pending scheduled change (its time, its change, its comment), checking its version. A new
    /// change is validated against the current config, which it is then based on.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_scheduled(
        &self,
        flag: &str,
        environment: &str,
        id: i64,
        expected: Option<u64>,
        at: Option<i64>,
        comment: Option<String>,
        make: Option<EditMaker>,
        actor: &Actor,
    ) -> StoreResult<ScheduledChange> {
        let mut tx = self.begin_write().await?;
        super::flags::lock_flag(&mut tx, flag).await?;
        let before = pending(&mut tx, flag, environment, id, expected).await?;
        let (edit, based_on) = match make {
            Some(make) => resolve(&mut tx, flag, environment, None, make).await?,
            None => (before.change.clone(), before.based_on),
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE scheduled_changes SET at = $2, edit = $3, comment = $4, based_on = $5, version = version + 1, \
             updated_at = $6, updated_by = $7 WHERE id = $1 AND version = $8 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(at.unwrap_or(before.at))
        .bind(to_json(&edit))
        .bind(comment.unwrap_or_else(|| before.comment.clone()))
        .bind(based_on as i64)
        .bind(tx.at())
        .bind(actor.as_str())
        .bind(before.version as i64)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::VersionConflict { current: before.version + 1 })?;
        let after = from_row(&row)?;
        tx.commit(audit_of(actor, "scheduled_change.update", Some(&before), &after)).await?;
        Ok(after)
    }

    /// Cancels a pending scheduled change, checking its version when one is given.
    pub async fn cancel_scheduled(
        &self,
        flag: &str,
        environment: &str,
        id: i64,
        expected: Option<u64>,
        actor: &Actor,
    ) -> StoreResult<ScheduledChange> {
        let mut tx = self.begin_write().await?;
        let before = pending(&mut tx, flag, environment, id, expected).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE scheduled_changes SET state = 'cancelled', version = version + 1, updated_at = $2, \
             updated_by = $3, resolved_at = $2 WHERE id = $1 AND state = 'pending' RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(tx.at())
        .bind(actor.as_str())
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| StoreError::Conflict("the change is no longer pending".into()))?;
        let after = from_row(&row)?;
        tx.commit(audit_of(actor, "scheduled_change.cancel", Some(&before), &after)).await?;
        Ok(after)
    }
}

/// The scheduled change, if it is still pending and at the expected version.
async fn pending(
    tx: &mut WriteTx,
    flag: &str,
    environment: &str,
    id: i64,
    expected: Option<u64>,
) -> StoreResult<ScheduledChange> {
    let found = fetch(tx.conn(), flag, environment, id).await?;
    if found.state != ScheduleState::Pending {
        return Err(StoreError::Conflict(format!(
            "the change is {}; only a pending one can change",
            found.state.as_str()
        )));
    }
    if let Some(expected) = expected
        && expected != found.version
    {
        return Err(StoreError::VersionConflict { current: found.version });
    }
    Ok(found)
}

/// The detail an applied or failed change's audit row carries.
pub(super) fn detail_of(change: &ScheduledChange) -> serde_json::Value {
    json!({ "scheduled_change": change.id, "author": change.author, "based_on": change.based_on, "comment": change.comment })
}
