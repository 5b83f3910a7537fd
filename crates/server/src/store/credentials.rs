//! What the credential tables share: a rotation's expiry of the old secret and revocation. Each table keeps
//! the SHA-256 hash of a secret with `expires_at` and `revoked_at`.

use super::StoreResult;
use super::write::WriteTx;

/// A table of credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credentials {
    /// `api_tokens`
    ApiTokens,
    /// `sdk_keys` (scoped to an environment)
    SdkKeys,
    /// `relay_keys`
    RelayKeys,
}

impl Credentials {
    fn table(self) -> &'static str {
        match self {
            Credentials::ApiTokens => "api_tokens",
            Credentials::SdkKeys => "sdk_keys",
            Credentials::RelayKeys => "relay_keys",
        }
    }

    /// A rotation: the old credential `id` works until `until`, or until its own earlier expiry.
    pub(super) async fn expire_old(self, tx: &mut WriteTx, id: i64, until: i64) -> StoreResult<()> {
        let sql = format!(
            "UPDATE {} SET expires_at = $2 WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)",
            self.table()
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(until).execute(tx.conn()).await?;
        Ok(())
    }

    /// Revokes credential `id` (of `environment`, for SDK keys) at the transaction's time; whether an active
    /// one was there to revoke.
    pub(super) async fn revoke(self, tx: &mut WriteTx, id: i64, environment: Option<&str>) -> StoreResult<bool> {
        let at = tx.at();
        let done = if let Some(environment) = environment {
            let sql = format!(
                "UPDATE {} SET revoked_at = $2 WHERE id = $1 AND environment = $3 AND revoked_at IS NULL",
                self.table()
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(at).bind(environment).execute(tx.conn()).await?
        } else {
            let sql = format!("UPDATE {} SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", self.table());
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(at).execute(tx.conn()).await?
        };
        Ok(done.rows_affected() > 0)
    }
}
