//! Reading whole environments (snapshots) and what changed in them since a revision.

use pennon_engine::{Segment, Snapshot, SnapshotFlag};
use sqlx::Row;

use super::flags::flag_from_row;
use super::{Backend, Store, StoreError, StoreResult, from_json};

/// The kinds of object the change log records: those of the stream's patch and delete events.
pub use pennon_engine::protocol::ObjectKind;

/// One change-log row.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    /// The environment revision the change produced.
    pub revision: u64,
    /// What changed.
    pub kind: ObjectKind,
    /// Its key.
    pub key: String,
    /// The object after the change as JSON (`SnapshotFlag` or `Segment`); `None` when it was removed.
    pub payload: Option<String>,
    /// When the change was written (Unix milliseconds, the writing replica's clock).
    pub committed_at: i64,
}

impl Store {
    /// The whole environment as SDKs see it, read consistently.
    #[tracing::instrument(skip(self))]
    pub async fn load_snapshot(&self, environment: &str) -> StoreResult<Snapshot> {
        let begin = match self.backend {
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            Backend::Sqlite => "BEGIN",
        };
        let mut tx = self.pool.begin_with(begin).await?;
        let revision: Option<i64> = sqlx::query_scalar("SELECT revision FROM environments WHERE key = $1")
            .bind(environment)
            .fetch_optional(&mut *tx)
            .await?;
        let revision = revision.ok_or_else(|| StoreError::NotFound(format!("environment \"{environment}\"")))?;
        let rows = sqlx::query(
            "SELECT f.key, f.name, f.description, f.tags, f.kind, f.variants, f.salt, f.archived, c.config \
             FROM flags f JOIN flag_configs c ON c.flag = f.key \
             WHERE c.environment = $1 AND f.archived = 0 ORDER BY f.key",
        )
        .bind(environment)
        .fetch_all(&mut *tx)
        .await?;
        let mut flags = Vec::with_capacity(rows.len());
        for row in &rows {
            let definition = flag_from_row(row)?;
            let config = from_json(&row.try_get::<String, _>("config")?)?;
            flags.push(SnapshotFlag { definition, config });
        }
        let mut segments = self.segments_in(&mut tx).await?;
        tx.commit().await?;
        // Byte order, whatever the database's collation: snapshots are searched by key.
        flags.sort_by(|a, b| a.definition.key.cmp(&b.definition.key));
        segments.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Snapshot { environment: environment.to_owned(), revision: revision as u64, flags, segments })
    }

    pub(crate) async fn segments_in(&self, conn: &mut sqlx::AnyConnection) -> StoreResult<Vec<Segment>> {
        let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM segments ORDER BY key").fetch_all(conn).await?;
        bodies.iter().map(|b| from_json(b)).collect()
    }

    /// The changes after `revision` in an environment, oldest first, and the environment's revision now.
    /// `None` when the change log no longer reaches back that far (the caller reloads the snapshot).
    pub async fn changes_since(&self, environment: &str, revision: u64) -> StoreResult<Option<(Vec<ChangeRow>, u64)>> {
        let current: Option<i64> = sqlx::query_scalar("SELECT revision FROM environments WHERE key = $1")
            .bind(environment)
            .fetch_optional(&self.pool)
            .await?;
        let current = current.ok_or_else(|| StoreError::NotFound(format!("environment \"{environment}\"")))? as u64;
        if current <= revision {
            return Ok(Some((Vec::new(), current)));
        }
        let rows = sqlx::query(
            "SELECT revision, kind, key, payload, created_at FROM change_log \
             WHERE environment = $1 AND revision > $2 AND revision <= $3 ORDER BY revision, kind, key",
        )
        .bind(environment)
        .bind(revision as i64)
        .bind(current as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let kind = match row.try_get::<String, _>("kind")?.as_str() {
                "flag" => ObjectKind::Flag,
                _ => ObjectKind::Segment,
            };
            changes.push(ChangeRow {
                revision: row.try_get::<i64, _>("revision")? as u64,
                kind,
                key: row.try_get("key")?,
                payload: row.try_get("payload")?,
                committed_at: row.try_get("created_at")?,
            });
        }
        // Every revision in between must be present, or the log was pruned past `revision`.
        let mut expected = revision + 1;
        for c in &changes {
            if c.revision > expected {
                return Ok(None);
            }
            expected = c.revision + 1;
        }
        if expected <= current && changes.last().is_none_or(|c| c.revision < current) {
            return Ok(None);
        }
        Ok(Some((changes, current)))
    }

    /// Removes change-log rows older than the newest `keep` revisions of each environment.
    pub async fn prune_change_log(&self, keep: u64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM change_log WHERE revision <= \
             (SELECT e.revision FROM environments e WHERE e.key = change_log.environment) - $1",
        )
        .bind(keep as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// Parses a change payload.
pub fn parse_flag_payload(payload: &str) -> StoreResult<SnapshotFlag> {
    from_json(payload)
}

/// Parses a segment payload.
pub fn parse_segment_payload(payload: &str) -> StoreResult<Segment> {
    from_json(payload)
}
