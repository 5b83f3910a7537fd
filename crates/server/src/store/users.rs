//! Dashboard users and server settings.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::write::{Actor, Audit};
use super::{Store, StoreError, StoreResult};

/// What a credential may do. Ordered: each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything in the admin API.
    Viewer,
    /// Also changes flags, configs and segments.
    Editor,
    /// Also manages environments, users, API tokens and SDK keys.
    Admin,
}

impl Role {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or submitted role.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A dashboard user (never with the password hash).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login name.
    pub email: String,
    /// What they may do.
    pub role: Role,
    /// Disabled users cannot sign in and their sessions stop working.
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Internal(sqlx::Error::Decode("unknown role".into())))?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The advisory lock key under which changes to users take turns on PostgreSQL (beside `jobs::leader`'s).
const USER_CHANGES_LOCK: i64 = 0x5045_4e4e_4f4e_0003;

const USER_COLUMNS: &str = "id, email, role, disabled, created_at, updated_at";

impl Store {
    /// How many users exist.
    pub async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
    }

    /// Every user, by email.
    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY email")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// A user by id.
    pub async fn get_user(&self, id: i64) -> StoreResult<User> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        user_from_row(&row)
    }

    /// A user and their password hash, by email (case-insensitive).
    pub async fn user_for_login(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
        )))
        .bind(email.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((user_from_row(&r)?, r.try_get("password_hash")?))).transpose()
    }

    /// Creates a user with an already hashed password.
    pub async fn create_user(&self, email: &str, password_hash: &str, role: Role, actor: &Actor) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let at = tx.at();
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, role, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(email.to_lowercase())
        .bind(password_hash)
        .bind(role.as_str())
        .bind(at)
        .fetch_optional(tx.conn())
        .await?;
        let id = id.ok_or_else(|| StoreError::Conflict(format!("a user with email \"{email}\" exists already")))?;
        let user = User { id, email: email.to_lowercase(), role, disabled: false, created_at: at, updated_at: at };
        let audit = Audit::new(actor, "user.create", "user", &user.email).change(None, Some(&user), None);
        tx.commit(audit).await?;
        Ok(user)
    }

    /// Changes a user's role, disabled mark or password hash. The last enabled admin cannot be demoted or
    /// disabled: checked inside the transaction, which on PostgreSQL first takes a transaction-level advisory
    /// lock, so concurrent changes cannot each leave the other as the last one and both go through. A role change or
    /// disabling ends all of the user's sessions; a new password ends all of them but `keep_session` (the one
    /// that made the change).
    pub async fn update_user(
        &self,
        id: i64,
        role: Option<Role>,
        disabled: Option<bool>,
        password_hash: Option<&str>,
        keep_session: Option<&str>,
        actor: &Actor,
    ) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        if self.backend == super::Backend::Postgres {
            // Changes to users take turns (SQLite's single writer does the same), so each sees the admins the
            // previous one left. Row locks on the admins alone could deadlock with a change to a non-admin.
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(USER_CHANGES_LOCK).execute(tx.conn()).await?;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
            .bind(id)
            .fetch_optional(tx.conn())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let before = user_from_row(&row)?;
        let after = User {
            role: role.unwrap_or(before.role),
            disabled: disabled.unwrap_or(before.disabled),
            updated_at: tx.at(),
            ..before.clone()
        };
        sqlx::query(
            "UPDATE users SET role = $2, disabled = $3, password_hash = COALESCE($4, password_hash), updated_at = $5 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(after.role.as_str())
        .bind(i64::from(after.disabled))
        .bind(password_hash)
        .bind(tx.at())
        .execute(tx.conn())
        .await?;
        let was_admin = before.role == Role::Admin && !before.disabled;
        if was_admin && (after.role != Role::Admin || after.disabled) {
            let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
                .fetch_one(tx.conn())
                .await?;
            if admins == 0 {
                return Err(StoreError::Conflict("the last enabled admin cannot be demoted or disabled".into()));
            }
        }
        let ended = if after.role != before.role || (after.disabled && !before.disabled) {
            tx.revoke_user_sessions(id, None).await?
        } else if password_hash.is_some() {
            tx.revoke_user_sessions(id, keep_session).await?
        } else {
            0
        };
        let audit = Audit::new(actor, "user.update", "user", &after.email)
            .change(Some(&before), Some(&after), None)
            .detail(serde_json::json!({ "password_changed": password_hash.is_some(), "sessions_ended": ended }));
        tx.commit(audit).await?;
        Ok(after)
    }

    /// A server setting, created with `init` when missing (the first replica to write it wins).
    pub async fn setting_or_init(&self, key: &str, init: impl FnOnce() -> String) -> StoreResult<String> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(init())
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(&self.pool).await?)
    }

    /// Records a refused request in the audit log (not a change: no transaction needed).
    pub async fn record_denied(&self, actor: &Actor, action: &str, target: &str, why: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, resource, resource_key, detail) VALUES ($1, $2, $3, 'access', $4, $5)",
        )
        .bind(super::now_millis())
        .bind(actor.as_str())
        .bind(action)
        .bind(target)
        .bind(serde_json::json!({ "reason": why }).to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
