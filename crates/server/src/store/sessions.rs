//! Sessions of signed-in users: created at sign-in, ended by logout, by a password or role change and by
//! disabling. Checking a session never reads this table: replicas keep the ended ones in memory
//! (`crate::auth::sessions`), reloaded on notification and by the refresh loop.

use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreResult, now_millis};

/// A session as the audit log records it (the id is not a secret: the JWT's signature is).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionRecord {
    /// The session id (the JWT's `sid`).
    pub id: String,
    /// Whose.
    pub user_id: i64,
    /// Unix milliseconds.
    pub expires_at: i64,
}

impl Store {
    /// Records a new session, with its audit row (`session.create`).
    pub async fn create_session(&self, session: &SessionRecord, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&session.id)
            .bind(session.user_id)
            .bind(tx.at())
            .bind(session.expires_at)
            .execute(tx.conn())
            .await?;
        tx.commit(Audit::new(actor, "session.create", "session", &session.id).change(None, Some(session), None))
            .await?;
        Ok(())
    }

    /// Ends one session (`session.revoke`); ending an ended or unknown session changes nothing.
    pub async fn revoke_session(&self, id: &str, actor: &Actor) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(tx.at())
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Ok(());
        }
        tx.credentials_changed();
        tx.commit(Audit::new(actor, "session.revoke", "session", id)).await?;
        Ok(())
    }

    /// The ended sessions that have not expired yet, with their expiry (Unix milliseconds).
    pub async fn revoked_sessions(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as("SELECT id, expires_at FROM sessions WHERE revoked_at IS NOT NULL AND expires_at > $1")
            .bind(now_millis())
            .fetch_all(&self.pool)
            .await?)
    }

    /// Deletes sessions past their expiry (they are refused by their JWT's expiry alone).
    pub async fn prune_sessions(&self) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now_millis() - 60_000)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

impl WriteTx {
    /// Ends every live session of a user but `except`, in this transaction. Returns how many ended.
    pub(crate) async fn revoke_user_sessions(&mut self, user_id: i64, except: Option<&str>) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             AND id <> $3",
        )
        .bind(user_id)
        .bind(self.at())
        .bind(except.unwrap_or(""))
        .execute(self.conn())
        .await?;
        if done.rows_affected() > 0 {
            self.credentials_changed();
        }
        Ok(done.rows_affected())
    }
}
