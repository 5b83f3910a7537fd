//! Reading the audit log.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Store, StoreResult, from_json};

/// One audit row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Increasing id.
    pub id: i64,
    /// When, as Unix milliseconds.
    pub at: i64,
    /// Who (`user:...`, `token:...`, `system:...`).
    pub actor: String,
    /// What, e.g. `config.toggle`.
    pub action: String,
    /// The kind of object.
    pub resource: String,
    /// The object's key.
    pub resource_key: String,
    /// The flag concerned.
    pub flag: Option<String>,
    /// The environment concerned.
    pub environment: Option<String>,
    /// The object's version after the change.
    pub version: Option<u64>,
    /// The object before.
    pub before: Option<Value>,
    /// The object after.
    pub after: Option<Value>,
    /// Anything else recorded.
    pub detail: Option<Value>,
}

/// What a redacted audit row shows in place of its actor and key.
pub const REDACTED: &str = "(redacted)";

impl AuditEntry {
    /// Whether the row is about accounts and credentials (users, sessions, API tokens, SDK keys, failed
    /// sign-ins), which only admins read in full.
    pub fn is_about_accounts(&self) -> bool {
        matches!(self.resource.as_str(), "user" | "session" | "token" | "sdk_key") || self.action == "auth.login_failed"
    }

    /// The row as a non-admin reads it: one about accounts keeps only when, what and the kind of object
    /// (no actor, key, contents or detail); any other row is unchanged.
    #[must_use]
    pub fn for_non_admins(mut self) -> Self {
        if self.is_about_accounts() {
            REDACTED.clone_into(&mut self.actor);
            REDACTED.clone_into(&mut self.resource_key);
            self.before = None;
            self.after = None;
            self.detail = None;
        }
        self
    }
}

/// Audit log filters; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this flag.
    pub flag: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// From this time (Unix ms, inclusive).
    pub since: Option<i64>,
    /// Until this time (Unix ms, exclusive).
    pub until: Option<i64>,
    /// Entries older than this id (the cursor).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u32,
}

fn json_column(row: &AnyRow, name: &str) -> StoreResult<Option<Value>> {
    row.try_get::<Option<String>, _>(name)?.map(|t| from_json(&t)).transpose()
}

fn entry_from_row(row: &AnyRow) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        resource: row.try_get("resource")?,
        resource_key: row.try_get("resource_key")?,
        flag: row.try_get("flag")?,
        environment: row.try_get("environment")?,
        version: row.try_get::<Option<i64>, _>("version")?.map(|v| v as u64),
        before: json_column(row, "before")?,
        after: json_column(row, "after")?,
        detail: json_column(row, "detail")?,
    })
}

impl Store {
    /// A page of the audit log, newest first.
    pub async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, resource, resource_key, flag, environment, version, before, after, detail \
             FROM audit_log WHERE (CAST($1 AS TEXT) IS NULL OR flag = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR environment = $2) AND (CAST($3 AS TEXT) IS NULL OR actor = $3) \
             AND at >= $4 AND at < $5 AND id < $6 ORDER BY id DESC LIMIT $7",
        )
        .bind(f.flag.as_deref())
        .bind(f.environment.as_deref())
        .bind(f.actor.as_deref())
        .bind(f.since.unwrap_or(i64::MIN))
        .bind(f.until.unwrap_or(i64::MAX))
        .bind(f.before_id.unwrap_or(i64::MAX))
        .bind(i64::from(f.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Audit rows with an id above `after`, oldest first, at most `limit` (what the admin stream follows).
    pub async fn audit_after(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, resource, resource_key, flag, environment, version, before, after, detail \
             FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// One audit row, by id.
    pub async fn get_audit(&self, id: i64) -> StoreResult<Option<AuditEntry>> {
        let row = sqlx::query(
            "SELECT id, at, actor, action, resource, resource_key, flag, environment, version, before, after, detail \
             FROM audit_log WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(entry_from_row).transpose()
    }

    /// The id of the newest audit row (0 when there is none).
    pub async fn last_audit_id(&self) -> StoreResult<i64> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM audit_log").fetch_one(&self.pool).await?;
        Ok(id.unwrap_or(0))
    }

    /// How many audit rows there are (for tests and operations).
    pub async fn count_audit(&self, action_prefix: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE $1")
            .bind(format!("{action_prefix}%"))
            .fetch_one(&self.pool)
            .await?)
    }
}
