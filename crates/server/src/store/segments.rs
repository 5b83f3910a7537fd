//! Segments: shared by every environment, so each change is delivered to all of them.

use pennon_engine::Segment;
use sqlx::Row;

use super::snapshot::ObjectKind;
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, from_json, to_json};

/// A segment with its bookkeeping.
#[derive(Debug, Clone)]
pub struct SegmentRecord {
    /// The segment (its `version` included).
    pub segment: Segment,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

pub(crate) async fn fetch(conn: &mut sqlx::AnyConnection, key: &str) -> StoreResult<SegmentRecord> {
    let row = sqlx::query("SELECT body, created_at, updated_at FROM segments WHERE key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("segment \"{key}\"")))?;
    Ok(SegmentRecord {
        segment: from_json(&row.try_get::<String, _>("body")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) async fn announce(tx: &mut WriteTx, key: &str, segment: Option<&Segment>) -> StoreResult<()> {
    let environments: Vec<String> =
        sqlx::query_scalar("SELECT key FROM environments ORDER BY key").fetch_all(tx.conn()).await?;
    let payload = segment.map(to_json);
    for env in environments {
        tx.changed(&env, ObjectKind::Segment, key, payload.clone()).await?;
    }
    Ok(())
}

impl Store {
    /// Every segment, by key.
    pub async fn list_segments(&self) -> StoreResult<Vec<SegmentRecord>> {
        let rows =
            sqlx::query("SELECT body, created_at, updated_at FROM segments ORDER BY key").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(SegmentRecord {
                    segment: from_json(&row.try_get::<String, _>("body")?)?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// One segment.
    pub async fn get_segment(&self, key: &str) -> StoreResult<SegmentRecord> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, key).await
    }

    /// Creates a segment (already validated). Returns it with the new revision of every environment.
    pub async fn create_segment(
        &self,
        segment: &Segment,
        actor: &Actor,
    ) -> StoreResult<(SegmentRecord, Vec<(String, u64)>)> {
        let mut tx = self.begin_write().await?;
        let (out, audit) = Self::create_segment_in(&mut tx, segment, actor).await?;
        let revisions = tx.commit(audit).await?;
        Ok((out, revisions))
    }

    /// [`Store::create_segment`] inside a transaction the caller commits.
    pub(crate) async fn create_segment_in(
        tx: &mut WriteTx,
        segment: &Segment,
        actor: &Actor,
    ) -> StoreResult<(SegmentRecord, Audit)> {
        let mut segment = segment.clone();
        segment.version = 1;
        let at = tx.at();
        let inserted = sqlx::query(
            "INSERT INTO segments (key, version, body, created_at, updated_at) VALUES ($1, 1, $2, $3, $3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(&segment.key)
        .bind(to_json(&segment))
        .bind(at)
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("a segment with key \"{}\" exists already", segment.key)));
        }
        announce(tx, &segment.key, Some(&segment)).await?;
        let audit = Audit::new(actor, "segment.create", "segment", &segment.key).change(None, Some(&segment), Some(1));
        Ok((SegmentRecord { segment, created_at: at, updated_at: at }, audit))
    }

    /// Replaces a segment (already validated); `expected` is the version it was based on. Returns it with the
    /// new revision of every environment.
    pub async fn update_segment(
        &self,
        segment: &Segment,
        expected: Option<u64>,
        actor: &Actor,
    ) -> StoreResult<(SegmentRecord, Vec<(String, u64)>)> {
        let mut tx = self.begin_write().await?;
        let (out, audit) = Self::update_segment_in(&mut tx, segment, expected, actor).await?;
        let revisions = tx.commit(audit).await?;
        Ok((out, revisions))
    }

    /// [`Store::update_segment`] inside a transaction the caller commits.
    pub(crate) async fn update_segment_in(
        tx: &mut WriteTx,
        segment: &Segment,
        expected: Option<u64>,
        actor: &Actor,
    ) -> StoreResult<(SegmentRecord, Audit)> {
        let current = fetch(tx.conn(), &segment.key).await?;
        let current_version = current.segment.version;
        if let Some(expected) = expected
            && expected != current_version
        {
            return Err(StoreError::VersionConflict { current: current_version });
        }
        let mut next = segment.clone();
        next.version = current_version + 1;
        let updated =
            sqlx::query("UPDATE segments SET version = $2, body = $3, updated_at = $4 WHERE key = $1 AND version = $5")
                .bind(&next.key)
                .bind(next.version as i64)
                .bind(to_json(&next))
                .bind(tx.at())
                .bind(current_version as i64)
                .execute(tx.conn())
                .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::VersionConflict { current: fetch(tx.conn(), &next.key).await?.segment.version });
        }
        announce(tx, &next.key, Some(&next)).await?;
        let audit = Audit::new(actor, "segment.update", "segment", &next.key).change(
            Some(&current.segment),
            Some(&next),
            Some(next.version),
        );
        let at = tx.at();
        Ok((SegmentRecord { segment: next, created_at: current.created_at, updated_at: at }, audit))
    }

    /// Deletes a segment; refused while a rule uses it, naming the flags. Returns the new revision of every
    /// environment.
    pub async fn delete_segment(&self, key: &str, actor: &Actor) -> StoreResult<Vec<(String, u64)>> {
        let mut tx = self.begin_write().await?;
        let (out, audit) = Self::delete_segment_in(&mut tx, key, actor).await?;
        let () = out;
        tx.commit(audit).await
    }

    /// [`Store::delete_segment`] inside a transaction the caller commits.
    pub(crate) async fn delete_segment_in(tx: &mut WriteTx, key: &str, actor: &Actor) -> StoreResult<((), Audit)> {
        let current = fetch(tx.conn(), key).await?;
        let users: Vec<(String, String)> =
            sqlx::query("SELECT flag, environment FROM segment_uses WHERE segment = $1 ORDER BY flag, environment")
                .bind(key)
                .fetch_all(tx.conn())
                .await?
                .iter()
                .map(|r| Ok((r.try_get("flag")?, r.try_get("environment")?)))
                .collect::<Result<_, sqlx::Error>>()?;
        if !users.is_empty() {
            let list: Vec<String> = users.iter().map(|(f, e)| format!("{f} ({e})")).collect();
            return Err(StoreError::Conflict(format!("segment \"{key}\" is used by rules of {}", list.join(", "))));
        }
        sqlx::query("DELETE FROM segments WHERE key = $1").bind(key).execute(tx.conn()).await?;
        announce(tx, key, None).await?;
        let audit = Audit::new(actor, "segment.delete", "segment", key).change(Some(&current.segment), None, None);
        Ok(((), audit))
    }
}
