//! The webhook delivery queue: rows queued with the change they deliver, the heads the sender takes (the
//! oldest pending delivery of each enabled hook, so that a hook's deliveries arrive in order), the outcome
//! of each attempt, and the log a hook's owner reads.

use rand::RngCore as _;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::write::WriteTx;
use super::{Store, StoreError, StoreResult};
use crate::domain::webhooks::HookFormat;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet accepted by the receiver; tried again at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up at the maximum age.
    Failed,
}

impl DeliveryStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }
}

/// One delivery of one change to one hook.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Row id (the position in the log).
    pub id: i64,
    /// The hook.
    pub hook_id: i64,
    /// Sent as `Pennon-Delivery`; the same on every attempt.
    pub delivery_id: String,
    /// The audit row delivered; `None` for a test event.
    pub audit_id: Option<i64>,
    /// The change's action (`webhook.test` for a test event).
    pub action: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// Unix milliseconds, when queued.
    pub created_at: i64,
    /// Unix milliseconds, when it is tried next (while pending).
    pub next_attempt_at: i64,
    /// Unix milliseconds, the last attempt.
    pub last_attempt_at: Option<i64>,
    /// The HTTP status of the last answer.
    pub last_status: Option<i64>,
    /// The start of the last answer's body.
    pub last_response: Option<String>,
    /// Why the last attempt got no answer.
    pub last_error: Option<String>,
}

/// A delivery due now, with what sending it needs of its hook.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The delivery.
    pub delivery: Delivery,
    /// The hook's URL.
    pub url: String,
    /// The hook's signing secret.
    pub secret: String,
    /// What the hook posts.
    pub format: HookFormat,
}

/// How one attempt ended, as recorded.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The HTTP status, when the receiver answered.
    pub status: Option<u16>,
    /// The start of the answer's body.
    pub response: Option<String>,
    /// Why there was no answer.
    pub error: Option<String>,
    /// Unix milliseconds.
    pub at: i64,
}

const COLUMNS: &str = "d.id, d.hook_id, d.delivery_id, d.audit_id, d.action, d.status, d.attempts, d.created_at, \
     d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_response, d.last_error";

fn delivery_from_row(row: &AnyRow) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: row.try_get("id")?,
        hook_id: row.try_get("hook_id")?,
        delivery_id: row.try_get("delivery_id")?,
        audit_id: row.try_get("audit_id")?,
        action: row.try_get("action")?,
        status: DeliveryStatus::parse(&row.try_get::<String, _>("status")?),
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_attempt_at: row.try_get("last_attempt_at")?,
        last_status: row.try_get("last_status")?,
        last_response: row.try_get("last_response")?,
        last_error: row.try_get("last_error")?,
    })
}

/// A new delivery id: 128 random bits, hex.
fn new_delivery_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Queues a delivery in the change's transaction, due at once.
pub(crate) async fn insert_delivery(
    tx: &mut WriteTx,
    hook: i64,
    audit_id: Option<i64>,
    action: &str,
) -> StoreResult<()> {
    let at = tx.at();
    sqlx::query(
        "INSERT INTO webhook_deliveries (hook_id, delivery_id, audit_id, action, status, attempts, created_at, \
         next_attempt_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
    )
    .bind(hook)
    .bind(new_delivery_id())
    .bind(audit_id)
    .bind(action)
    .bind(at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

impl Store {
    /// Queues a test event for a hook (no change, so no audit row). Returns its log entry.
    pub async fn queue_test_delivery(&self, hook: i64) -> StoreResult<Delivery> {
        let (_guard, mut tx) = self.begin_plain_write().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM webhooks WHERE id = $1").bind(hook).fetch_optional(&mut *tx).await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("webhook {hook}")));
        }
        let at = super::now_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (hook_id, delivery_id, audit_id, action, status, attempts, created_at, \
             next_attempt_at) VALUES ($1, $2, NULL, 'webhook.test', 'pending', 0, $3, $3) RETURNING id",
        )
        .bind(hook)
        .bind(new_delivery_id())
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM webhook_deliveries d WHERE d.id = $1")))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let delivery = delivery_from_row(&row)?;
        tx.commit().await?;
        Ok(delivery)
    }

    /// A page of a hook's deliveries, newest first: those with a row id below `before_id`, of one status
    /// when given.
    pub async fn list_deliveries(
        &self,
        hook: i64,
        status: Option<DeliveryStatus>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_deliveries d WHERE d.hook_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR d.status = $2) AND d.id < $3 ORDER BY d.id DESC LIMIT $4"
        )))
        .bind(hook)
        .bind(status.map(DeliveryStatus::as_str))
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// The oldest pending delivery of each enabled hook, when it is due at `now`; at most `limit`.
    pub async fn due_deliveries(&self, now: i64, limit: u32) -> StoreResult<Vec<DueDelivery>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, w.url, w.secret, w.format FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.hook_id \
             WHERE w.enabled = 1 AND d.next_attempt_at <= $1 AND d.id IN \
             (SELECT MIN(id) FROM webhook_deliveries WHERE status = 'pending' GROUP BY hook_id) \
             ORDER BY d.id LIMIT $2"
        )))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueDelivery {
                    delivery: delivery_from_row(row)?,
                    url: row.try_get("url")?,
                    secret: row.try_get("secret")?,
                    format: HookFormat::parse(&row.try_get::<String, _>("format")?),
                })
            })
            .collect()
    }

    /// Deletes up to `limit` delivered or failed deliveries queued before `before` (Unix ms), oldest first.
    /// Returns how many went.
    pub async fn prune_deliveries(&self, before: i64, limit: u32) -> StoreResult<u64> {
        let (_guard, mut tx) = self.begin_plain_write().await?;
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
             WHERE status <> 'pending' AND created_at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// When the next pending delivery of an enabled hook is due (Unix ms), if any.
    pub async fn next_delivery_due(&self) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.hook_id \
             WHERE w.enabled = 1 AND d.status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Records a delivered attempt and clears the hook's count of failures.
    pub async fn delivery_succeeded(&self, d: &Delivery, attempt: &Attempt) -> StoreResult<()> {
        let (_guard, mut tx) = self.begin_plain_write().await?;
        record(&mut tx, d.id, "delivered", attempt, attempt.at).await?;
        sqlx::query("UPDATE webhooks SET failures = 0 WHERE id = $1").bind(d.hook_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: tried again at `retry_at`, or failed for good when `None`. Returns the hook's
    /// failed attempts since its last delivered one.
    pub async fn delivery_attempt_failed(
        &self,
        d: &Delivery,
        attempt: &Attempt,
        retry_at: Option<i64>,
    ) -> StoreResult<i64> {
        let (_guard, mut tx) = self.begin_plain_write().await?;
        let status = if retry_at.is_some() { "pending" } else { "failed" };
        record(&mut tx, d.id, status, attempt, retry_at.unwrap_or(attempt.at)).await?;
        let failures: i64 =
            sqlx::query_scalar("UPDATE webhooks SET failures = failures + 1 WHERE id = $1 RETURNING failures")
                .bind(d.hook_id)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(0);
        tx.commit().await?;
        Ok(failures)
    }
}

async fn record(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
    status: &str,
    attempt: &Attempt,
    next_attempt_at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, last_attempt_at = $3, \
         last_status = $4, last_response = $5, last_error = $6, next_attempt_at = $7 \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(status)
    .bind(attempt.at)
    .bind(attempt.status.map(i64::from))
    .bind(attempt.response.as_deref())
    .bind(attempt.error.as_deref())
    .bind(next_attempt_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
