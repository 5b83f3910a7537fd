//! Applying due scheduled changes: each in one transaction that claims the row (pending -> applied, so two
//! replicas or a restart cannot apply it twice) and writes the config as an ordinary versioned, audited change
//! by `schedule:<id> by <author>`; or, when the config moved on in a way the change cannot follow or the result
//! no longer validates, marks it failed with the reason and an audit row, leaving the config as it is.

use serde_json::json;
use sqlx::Row;

use super::scheduled::{ScheduledChange, detail_of};
use super::write::{Actor, Audit};
use super::{Store, StoreError, StoreResult, from_json};
use crate::domain::scheduled::{ScheduleState, ScheduledEdit};

/// What applying a due change came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleOutcome {
    /// Applied: the config version it produced and the environment revisions to catch up on.
    Applied { version: u64, revisions: Vec<(String, u64)> },
    /// Not applied, with the reason.
    Failed(String),
    /// Someone else applied or cancelled it first, or it is not due.
    Gone,
}

impl Store {
    /// The ids of pending changes due at `now`, earliest first, at most `limit`.
    pub async fn due_scheduled(&self, now: i64, limit: u32) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM scheduled_changes WHERE state = 'pending' AND at <= $1 ORDER BY at, id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// When the next pending change is due (Unix milliseconds), if any.
    pub async fn next_scheduled(&self) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT MIN(at) FROM scheduled_changes WHERE state = 'pending'")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Applies one due change (see the module's documentation). Transient failures leave it pending for the
    /// next round.
    #[tracing::instrument(skip(self))]
    pub async fn apply_scheduled(&self, id: i64) -> StoreResult<ScheduleOutcome> {
        let mut tx = self.begin_write().await?;
        let at = tx.at();
        // The flag's lock first, as every config write takes it first: an edit of this change waiting for it
        // cannot hold the row this transaction claims next.
        let flag: Option<String> = sqlx::query_scalar("SELECT flag FROM scheduled_changes WHERE id = $1")
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
        let Some(flag) = flag else { return Ok(ScheduleOutcome::Gone) };
        super::flags::lock_flag(&mut tx, &flag).await?;
        // The claim: of two transactions that get here, the second waits for the first's row lock and then
        // finds the row no longer pending.
        let row = sqlx::query(
            "UPDATE scheduled_changes SET state = 'applied', version = version + 1, updated_at = $2, \
             resolved_at = $2 WHERE id = $1 AND state = 'pending' AND at <= $2 \
             RETURNING environment, edit, author, based_on, comment",
        )
        .bind(id)
        .bind(at)
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = row else { return Ok(ScheduleOutcome::Gone) };
        let environment: String = row.try_get("environment")?;
        let edit: ScheduledEdit = from_json(&row.try_get::<String, _>("edit")?)?;
        let author: String = row.try_get("author")?;
        let based_on = row.try_get::<i64, _>("based_on")? as u64;
        let comment: String = row.try_get("comment")?;
        let claimed = ScheduledChange {
            id,
            flag: flag.clone(),
            environment: environment.clone(),
            at,
            change: edit.clone(),
            comment,
            author: author.clone(),
            based_on,
            state: ScheduleState::Applied,
            version: 0,
            applied_version: None,
            failure: None,
            created_at: at,
            updated_at: at,
            updated_by: author.clone(),
            resolved_at: Some(at),
        };
        let actor = Actor::schedule(id, &author);
        let action = edit.action();
        let result = self
            .edit_config_in(&mut tx, &flag, &environment, None, action, &actor, |_, current| {
                edit.check_base(based_on, current.version).map_err(StoreError::Conflict)?;
                Ok(edit.apply(current))
            })
            .await;
        match result {
            Ok((before, record)) => {
                let version = record.config.version;
                sqlx::query("UPDATE scheduled_changes SET applied_version = $2, updated_by = $3 WHERE id = $1")
                    .bind(id)
                    .bind(version as i64)
                    .bind(actor.as_str())
                    .execute(tx.conn())
                    .await?;
                let audit = Audit::new(&actor, action, "config", format!("{flag}/{environment}"))
                    .on(Some(&flag), Some(&environment))
                    .change(Some(&before), Some(&record.config), Some(version))
                    .detail(detail_of(&claimed));
                let revisions = tx.commit(audit).await?;
                Ok(ScheduleOutcome::Applied { version, revisions })
            }
            Err(e @ (StoreError::Unavailable(_) | StoreError::Internal(_))) => Err(e),
            Err(e) => {
                let reason = match e {
                    StoreError::Invalid(problems) => {
                        let listed: Vec<String> =
                            problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
                        format!("the change no longer validates: {}", listed.join("; "))
                    }
                    other => other.to_string(),
                };
                sqlx::query(
                    "UPDATE scheduled_changes SET state = 'failed', failure = $2, updated_by = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(&reason)
                .bind(actor.as_str())
                .execute(tx.conn())
                .await?;
                let mut detail = detail_of(&claimed);
                detail["reason"] = json!(reason);
                let audit = Audit::new(&actor, "scheduled_change.fail", "scheduled_change", id.to_string())
                    .on(Some(&flag), Some(&environment))
                    .detail(detail);
                tx.commit(audit).await?;
                Ok(ScheduleOutcome::Failed(reason))
            }
        }
    }
}
