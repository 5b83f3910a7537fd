//! Session-level advisory locks on PostgreSQL, held on a connection of their own (leadership of the periodic jobs).

use sqlx::{AnyConnection, Connection as _};

use super::{Backend, Store, StoreError, StoreResult};

/// A connection taken out of the pool for advisory locks: a session lock lives exactly as long as the
/// connection that took it, so it must not go back to the pool where another task would reuse it.
pub struct LockSession {
    conn: AnyConnection,
}

impl std::fmt::Debug for LockSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockSession").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a connection for advisory locks (PostgreSQL only; SQLite has no use for them).
    pub async fn lock_session(&self) -> StoreResult<LockSession> {
        if self.backend != Backend::Postgres {
            return Err(StoreError::Conflict("advisory locks need PostgreSQL".into()));
        }
        let conn = self.pool.acquire().await?.detach();
        Ok(LockSession { conn })
    }
}

impl LockSession {
    /// Takes the lock `key` for this session if no other session holds it; `true` when it is now held
    /// (taking a lock the session already holds succeeds again).
    pub async fn try_lock(&mut self, key: i64) -> StoreResult<bool> {
        let held: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(&mut self.conn).await?;
        Ok(held)
    }

    /// Whether the connection still answers: while it does, the session's locks are held.
    pub async fn ping(&mut self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&mut self.conn).await?;
        Ok(())
    }

    /// Releases every lock of the session and closes the connection, so that another replica can take
    /// them at once (dropping the session also releases them, once PostgreSQL notices the disconnect).
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut self.conn).await;
        let _ = self.conn.close().await;
    }
}
