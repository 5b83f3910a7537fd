//! Outgoing webhooks: the hooks themselves (every change audited, the secret never read back out), and the
//! matching that queues a delivery for each hook an audited change passes, inside the change's transaction.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, from_json, to_json};
use crate::domain::webhooks::{HookFilter, HookFormat};

/// A webhook, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    /// Id.
    pub id: i64,
    /// Where deliveries are posted.
    pub url: String,
    /// Which changes it receives.
    #[serde(flatten)]
    pub filter: HookFilter,
    /// What it posts.
    pub format: HookFormat,
    /// Whether deliveries are queued and sent.
    pub enabled: bool,
    /// Failed attempts since the last delivered one.
    pub failures: i64,
    /// Increases with every change.
    pub version: u64,
    /// Who created it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// A webhook's settings, as created or replaced.
#[derive(Debug, Clone)]
pub struct WebhookDraft {
    /// Where deliveries are posted.
    pub url: String,
    /// Which changes it receives.
    pub filter: HookFilter,
    /// What it posts.
    pub format: HookFormat,
    /// Whether deliveries are queued and sent.
    pub enabled: bool,
}

const COLUMNS: &str = "id, url, environments, flags, tags, actions, format, enabled, failures, version, created_by, created_at, updated_at";

fn hook_from_row(row: &AnyRow) -> StoreResult<Webhook> {
    let list = |name: &str| -> StoreResult<Vec<String>> { from_json(&row.try_get::<String, _>(name)?) };
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        filter: HookFilter {
            environments: list("environments")?,
            flags: list("flags")?,
            tags: list("tags")?,
            actions: list("actions")?,
        },
        format: HookFormat::parse(&row.try_get::<String, _>("format")?),
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        failures: row.try_get("failures")?,
        version: row.try_get::<i64, _>("version")? as u64,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("webhook {id}"))
}

impl Store {
    /// Every webhook, oldest first.
    pub async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM webhooks ORDER BY id")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(hook_from_row).collect()
    }

    /// One webhook.
    pub async fn get_webhook(&self, id: i64) -> StoreResult<Webhook> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found(id))?;
        hook_from_row(&row)
    }

    /// Creates a webhook signing with `secret`; refused (conflict) when `max` exist already.
    pub async fn create_webhook(
        &self,
        draft: &WebhookDraft,
        secret: &str,
        max: u32,
        actor: &Actor,
    ) -> StoreResult<Webhook> {
        let mut tx = self.begin_write().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhooks").fetch_one(tx.conn()).await?;
        if count >= i64::from(max) {
            return Err(StoreError::Conflict(format!("there are {count} webhooks already, the most allowed")));
        }
        let at = tx.at();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhooks (url, secret, environments, flags, tags, actions, format, enabled, failures, \
             version, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 1, $9, $10, $10) \
             RETURNING id",
        )
        .bind(&draft.url)
        .bind(secret)
        .bind(to_json(&draft.filter.environments))
        .bind(to_json(&draft.filter.flags))
        .bind(to_json(&draft.filter.tags))
        .bind(to_json(&draft.filter.actions))
        .bind(draft.format.as_str())
        .bind(i64::from(draft.enabled))
        .bind(actor.as_str())
        .bind(at)
        .fetch_one(tx.conn())
        .await?;
        let hook = read(&mut tx, id).await?;
        tx.commit(Audit::new(actor, "webhook.create", "webhook", id.to_string()).change(None, Some(&hook), Some(1)))
            .await?;
        Ok(hook)
    }

    /// Replaces a webhook's settings (and its secret, when one is given). Enabling it again clears its count
    /// of failures.
    pub async fn update_webhook(
        &self,
        id: i64,
        draft: &WebhookDraft,
        secret: Option<&str>,
        actor: &Actor,
    ) -> StoreResult<Webhook> {
        let mut tx = self.begin_write().await?;
        let before = read(&mut tx, id).await?;
        sqlx::query(
            "UPDATE webhooks SET url = $2, environments = $3, flags = $4, tags = $5, actions = $6, format = $7, \
             enabled = $8, failures = CASE WHEN $8 = 1 AND enabled = 0 THEN 0 ELSE failures END, \
             secret = COALESCE($9, secret), version = version + 1, updated_at = $10 WHERE id = $1",
        )
        .bind(id)
        .bind(&draft.url)
        .bind(to_json(&draft.filter.environments))
        .bind(to_json(&draft.filter.flags))
        .bind(to_json(&draft.filter.tags))
        .bind(to_json(&draft.filter.actions))
        .bind(draft.format.as_str())
        .bind(i64::from(draft.enabled))
        .bind(secret)
        .bind(tx.at())
        .execute(tx.conn())
        .await?;
        let after = read(&mut tx, id).await?;
        let mut audit = Audit::new(actor, "webhook.update", "webhook", id.to_string());
        audit = audit.change(Some(&before), Some(&after), Some(after.version));
        if secret.is_some() {
            audit = audit.detail(serde_json::json!({ "secret": "replaced" }));
        }
        tx.commit(audit).await?;
        Ok(after)
    }

    /// Deletes a webhook and its deliveries.
    pub async fn delete_webhook(&self, id: i64, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let before = read(&mut tx, id).await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE hook_id = $1").bind(id).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(tx.conn()).await?;
        tx.commit(Audit::new(actor, "webhook.delete", "webhook", id.to_string()).change(Some(&before), None, None))
            .await?;
        Ok(())
    }

    /// Disables a webhook whose deliveries keep failing, recording why; `false` when it was not enabled.
    pub async fn disable_failing_webhook(&self, id: i64, reason: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let before = read(&mut tx, id).await?;
        if !before.enabled {
            return Ok(false);
        }
        sqlx::query("UPDATE webhooks SET enabled = 0, version = version + 1, updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(tx.at())
            .execute(tx.conn())
            .await?;
        let after = read(&mut tx, id).await?;
        let actor = Actor::system("webhooks");
        let audit = Audit::new(&actor, "webhook.disable", "webhook", id.to_string())
            .change(Some(&before), Some(&after), Some(after.version))
            .detail(serde_json::json!({ "reason": reason }));
        tx.commit(audit).await?;
        Ok(true)
    }
}

async fn read(tx: &mut WriteTx, id: i64) -> StoreResult<Webhook> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1")))
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| not_found(id))?;
    hook_from_row(&row)
}

/// The enabled hooks' filters, read once per write transaction by its first audit row.
#[derive(Debug, Default)]
pub(crate) struct HookMatcher {
    hooks: Vec<(i64, HookFilter)>,
}

impl HookMatcher {
    /// Reads the enabled hooks.
    pub(crate) async fn load(tx: &mut WriteTx) -> StoreResult<HookMatcher> {
        let rows = sqlx::query("SELECT id, environments, flags, tags, actions FROM webhooks WHERE enabled = 1")
            .fetch_all(tx.conn())
            .await?;
        let mut hooks = Vec::with_capacity(rows.len());
        for row in &rows {
            let list = |name: &str| -> StoreResult<Vec<String>> { from_json(&row.try_get::<String, _>(name)?) };
            let filter = HookFilter {
                environments: list("environments")?,
                flags: list("flags")?,
                tags: list("tags")?,
                actions: list("actions")?,
            };
            hooks.push((row.try_get("id")?, filter));
        }
        Ok(HookMatcher { hooks })
    }

    /// Queues a delivery of audit row `audit_id` for every hook it passes.
    pub(crate) async fn enqueue(&self, tx: &mut WriteTx, audit_id: i64, a: &Audit) -> StoreResult<()> {
        let mut tags: Option<Vec<String>> = None;
        for (hook, filter) in &self.hooks {
            if filter.needs_tags()
                && tags.is_none()
                && let Some(flag) = &a.flag
            {
                let rows: Vec<String> = sqlx::query_scalar("SELECT tag FROM flag_tags WHERE flag = $1")
                    .bind(flag)
                    .fetch_all(tx.conn())
                    .await?;
                tags = Some(rows);
            }
            let flag_tags = tags.as_deref().unwrap_or_default();
            if filter.matches(&a.action, a.flag.as_deref(), a.environment.as_deref(), flag_tags) {
                super::webhook_queue::insert_delivery(tx, *hook, Some(audit_id), &a.action).await?;
            }
        }
        Ok(())
    }
}
