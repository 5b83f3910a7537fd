//! Trigger URLs of a flag in an environment. Only the SHA-256 hash of a trigger's secret is stored; firing
//! one changes the config through the same transaction as any other edit.

use pennon_engine::FlagConfig;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::configs::{ConfigRecord, fetch_config};
use super::write::{Actor, Audit};
use super::{Store, StoreError, StoreResult};
use crate::domain::triggers::{Notification, OnResolved, TriggerAction};

/// A trigger, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct Trigger {
    /// Id.
    pub id: i64,
    /// The flag it changes.
    pub flag: String,
    /// The environment it changes the flag in.
    pub environment: String,
    /// What it is for, if named.
    pub name: Option<String>,
    /// What a POST (or a firing alert) does.
    pub action: TriggerAction,
    /// What a resolved alert does.
    pub on_resolved: OnResolved,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// The actor who created it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, when revoked.
    pub revoked_at: Option<i64>,
    /// Unix milliseconds: the last time it changed the flag.
    pub last_fired_at: Option<i64>,
}

impl Trigger {
    /// The actor its changes are recorded under: `trigger:<name>`, or `trigger:<id>` when it has no name.
    pub fn actor(&self) -> Actor {
        Actor::trigger(self.name.as_deref().unwrap_or(&self.id.to_string()))
    }
}

/// A trigger to create (already validated).
#[derive(Debug, Clone)]
pub struct TriggerDraft {
    /// What it is for.
    pub name: Option<String>,
    /// What a POST does.
    pub action: TriggerAction,
    /// What a resolved alert does.
    pub on_resolved: OnResolved,
}

/// What firing a trigger did.
#[derive(Debug, Clone)]
pub enum Fired {
    /// The flag changed: the new config and the revisions to catch up to.
    Changed(ConfigRecord, Vec<(String, u64)>),
    /// The flag was already in that state: nothing was written.
    Unchanged(FlagConfig),
}

const COLUMNS: &str =
    "id, flag, environment, name, action, on_resolved, prefix, created_by, created_at, revoked_at, last_fired_at";

fn trigger_from_row(row: &AnyRow) -> StoreResult<Trigger> {
    let bad = |what: &str| StoreError::Internal(sqlx::Error::Decode(format!("unknown trigger {what}").into()));
    let action: String = row.try_get("action")?;
    let on_resolved: String = row.try_get("on_resolved")?;
    Ok(Trigger {
        id: row.try_get("id")?,
        flag: row.try_get("flag")?,
        environment: row.try_get("environment")?,
        name: row.try_get("name")?,
        action: TriggerAction::parse(&action).ok_or_else(|| bad("action"))?,
        on_resolved: OnResolved::parse(&on_resolved).ok_or_else(|| bad("on_resolved"))?,
        prefix: row.try_get("prefix")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_fired_at: row.try_get("last_fired_at")?,
    })
}

impl Store {
    /// Stores a new trigger of a flag in an environment, with its secret's hash.
    pub async fn create_trigger(
        &self,
        flag: &str,
        environment: &str,
        draft: &TriggerDraft,
        hash: &str,
        prefix: &str,
        actor: &Actor,
    ) -> StoreResult<Trigger> {
        let mut tx = self.begin_write().await?;
        fetch_config(tx.conn(), flag, environment).await?;
        let at = tx.at();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO triggers (flag, environment, name, action, on_resolved, secret_hash, prefix, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(flag)
        .bind(environment)
        .bind(draft.name.as_deref())
        .bind(draft.action.as_str())
        .bind(draft.on_resolved.as_str())
        .bind(hash)
        .bind(prefix)
        .bind(actor.as_str())
        .bind(at)
        .fetch_one(tx.conn())
        .await?;
        let trigger = Trigger {
            id,
            flag: flag.to_owned(),
            environment: environment.to_owned(),
            name: draft.name.clone(),
            action: draft.action,
            on_resolved: draft.on_resolved,
            prefix: prefix.to_owned(),
            created_by: actor.as_str().to_owned(),
            created_at: at,
            revoked_at: None,
            last_fired_at: None,
        };
        let audit = Audit::new(actor, "trigger.create", "trigger", id.to_string())
            .on(Some(flag), Some(environment))
            .change(None, Some(&trigger), None);
        tx.credentials_changed();
        tx.commit(audit).await?;
        Ok(trigger)
    }

    /// The triggers of a flag in an environment that are not revoked, oldest first.
    pub async fn list_triggers(&self, flag: &str, environment: &str) -> StoreResult<Vec<Trigger>> {
        let mut conn = self.pool.acquire().await?;
        fetch_config(&mut conn, flag, environment).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM triggers WHERE flag = $1 AND environment = $2 AND revoked_at IS NULL ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(flag).bind(environment).fetch_all(&mut *conn).await?;
        rows.iter().map(trigger_from_row).collect()
    }

    /// Revokes a trigger: its URL stops working at once.
    pub async fn revoke_trigger(&self, flag: &str, environment: &str, id: i64, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM triggers WHERE id = $1 AND flag = $2 AND environment = $3 AND revoked_at IS NULL"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(flag)
            .bind(environment)
            .fetch_optional(tx.conn())
            .await?;
        let Some(before) = row.as_ref().map(trigger_from_row).transpose()? else {
            return Err(StoreError::NotFound(format!(
                "active trigger {id} of flag \"{flag}\" in environment \"{environment}\""
            )));
        };
        let at = tx.at();
        sqlx::query("UPDATE triggers SET revoked_at = $2 WHERE id = $1").bind(id).bind(at).execute(tx.conn()).await?;
        let after = Trigger { revoked_at: Some(at), ..before.clone() };
        let audit = Audit::new(actor, "trigger.revoke", "trigger", id.to_string())
            .on(Some(flag), Some(environment))
            .change(Some(&before), Some(&after), None);
        tx.credentials_changed();
        tx.commit(audit).await?;
        Ok(())
    }

    /// Every trigger not revoked with its secret's hash, for the in-memory table of trigger URLs.
    pub async fn usable_triggers(&self) -> StoreResult<Vec<(String, Trigger)>> {
        let sql = format!("SELECT secret_hash, {COLUMNS} FROM triggers WHERE revoked_at IS NULL");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("secret_hash")?, trigger_from_row(r)?))).collect()
    }

    /// Fires a trigger: sets its flag's `enabled` as `action` says, as one audited, versioned change
    /// (`trigger.fire`, by the trigger's actor, with the notification in the audit row's detail). When the
    /// flag is already in that state nothing is written. A trigger revoked meanwhile is not found.
    pub async fn fire_trigger(
        &self,
        trigger: &Trigger,
        action: TriggerAction,
        notification: Notification,
    ) -> StoreResult<Fired> {
        let (flag, environment) = (trigger.flag.as_str(), trigger.environment.as_str());
        let mut tx = self.begin_write().await?;
        super::flags::lock_flag(&mut tx, flag).await?;
        let active: Option<i64> = sqlx::query_scalar("SELECT id FROM triggers WHERE id = $1 AND revoked_at IS NULL")
            .bind(trigger.id)
            .fetch_optional(tx.conn())
            .await?;
        if active.is_none() {
            return Err(StoreError::NotFound("trigger".to_owned()));
        }
        let current = fetch_config(tx.conn(), flag, environment).await?;
        let enabled = action.enabled();
        if current.config.enabled == enabled {
            return Ok(Fired::Unchanged(current.config));
        }
        let actor = trigger.actor();
        let version = Some(current.config.version);
        let (before, record) = self
            .edit_config_in(&mut tx, flag, environment, version, "trigger.fire", &actor, |_, config| {
                Ok(FlagConfig { enabled, ..config.clone() })
            })
            .await?;
        sqlx::query("UPDATE triggers SET last_fired_at = $2 WHERE id = $1")
            .bind(trigger.id)
            .bind(tx.at())
            .execute(tx.conn())
            .await?;
        let detail = serde_json::json!({
            "trigger": trigger.id,
            "name": trigger.name,
            "action": action.as_str(),
            "notification": notification.as_str(),
        });
        let audit = Audit::new(&actor, "trigger.fire", "config", format!("{flag}/{environment}"))
            .on(Some(flag), Some(environment))
            .change(Some(&before), Some(&record.config), Some(record.config.version))
            .detail(detail);
        let revisions = tx.commit(audit).await?;
        Ok(Fired::Changed(record, revisions))
    }
}
