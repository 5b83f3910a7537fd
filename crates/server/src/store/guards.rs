//! Metric guards of a flag in an environment: their definition and the state the guard loop keeps. People
//! create, change and delete them (versioned, audited); the loop's writes are in `guard_checks.rs`.

use pennon_engine::guards::{Evidence, GuardSpec, GuardState, Threshold};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, from_json, to_json};
use crate::domain::guard_sources::GuardSource;

/// What a breach does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    /// Turn the flag off in the environment: everyone gets the off variant.
    DisableFlag,
    /// Halt the rollout: the treatment's share of the default split goes to the control (0% treatment).
    HaltRollout,
}

/// The parts of a guard a person sets (already validated).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardDraft {
    /// The statistical test.
    pub spec: GuardSpec,
    /// The variant under watch (the treatment).
    pub variant: String,
    /// The variant it is compared with; `None` for an absolute threshold with `disable_flag`.
    pub control: Option<String>,
    /// How far back charts look by default, in milliseconds (the test counts all data since the start).
    pub window_ms: i64,
    /// What a breach does.
    pub action: GuardAction,
    /// Where its numbers come from.
    pub source: GuardSource,
}

/// A guard as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    /// Its id.
    pub id: i64,
    /// Environment key.
    pub environment: String,
    /// Flag key.
    pub flag: String,
    /// What a person set.
    pub draft: GuardDraft,
    /// The last check's verdict.
    pub state: GuardState,
    /// The last check's numbers.
    pub evidence: Option<Evidence>,
    /// Why the last check could not read the guard's source (and decided nothing); `None` when it read.
    pub source_error: Option<String>,
    /// When it was last checked (Unix milliseconds).
    pub checked_at: Option<i64>,
    /// When its data start: creation, last change or last reset (Unix milliseconds).
    pub since: i64,
    /// The config version the breach wrote, while breached.
    pub breach_config_version: Option<u64>,
    /// Bumped by every change (a person's, a breach, a reset); not by routine checks.
    pub version: u64,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// The columns [`guard_from_row`] reads.
pub(crate) const COLUMNS: &str = "g.id, g.environment, g.flag, g.metric, g.statistic, g.direction, g.threshold_kind, \
     g.threshold, g.min_samples, g.alpha, g.tuning_samples, g.variant, g.control, g.window_ms, g.action, g.state, \
     g.evidence, g.source, g.source_error, g.checked_at, g.since, g.breach_config_version, g.version, g.created_at, g.updated_at";

/// A unit enum as its snake_case text.
pub(crate) fn text_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("unit enums serialise to strings"),
    }
}

fn parse_text<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    Ok(serde_json::from_value(serde_json::Value::String(text.to_owned()))?)
}

pub(crate) fn parse_state(text: &str) -> StoreResult<GuardState> {
    parse_text(text)
}

fn as_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn guard_from_row(row: &AnyRow) -> StoreResult<Guard> {
    let threshold_kind: String = row.try_get("threshold_kind")?;
    let threshold: f64 = row.try_get("threshold")?;
    let threshold =
        if threshold_kind == "relative" { Threshold::Relative(threshold) } else { Threshold::Absolute(threshold) };
    let spec = GuardSpec {
        metric: row.try_get("metric")?,
        statistic: parse_text(&row.try_get::<String, _>("statistic")?)?,
        direction: parse_text(&row.try_get::<String, _>("direction")?)?,
        threshold,
        min_samples: as_u64(row.try_get("min_samples")?),
        alpha: row.try_get("alpha")?,
        tuning_samples: as_u64(row.try_get("tuning_samples")?),
    };
    let evidence: Option<String> = row.try_get("evidence")?;
    let source: Option<String> = row.try_get("source")?;
    Ok(Guard {
        id: row.try_get("id")?,
        environment: row.try_get("environment")?,
        flag: row.try_get("flag")?,
        draft: GuardDraft {
            spec,
            variant: row.try_get("variant")?,
            control: row.try_get("control")?,
            window_ms: row.try_get("window_ms")?,
            action: parse_text(&row.try_get::<String, _>("action")?)?,
            source: source.as_deref().map(from_json).transpose()?.unwrap_or_default(),
        },
        state: parse_text(&row.try_get::<String, _>("state")?)?,
        evidence: evidence.as_deref().map(from_json).transpose()?,
        source_error: row.try_get("source_error")?,
        checked_at: row.try_get("checked_at")?,
        since: row.try_get("since")?,
        breach_config_version: row.try_get::<Option<i64>, _>("breach_config_version")?.map(as_u64),
        version: as_u64(row.try_get("version")?),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// How a guard appears in audit rows.
pub(crate) fn audit_view(guard: &Guard) -> serde_json::Value {
    let d = &guard.draft;
    serde_json::json!({
        "id": guard.id, "metric": d.spec.metric, "statistic": d.spec.statistic, "direction": d.spec.direction,
        "threshold": d.spec.threshold, "min_samples": d.spec.min_samples, "alpha": d.spec.alpha,
        "tuning_samples": d.spec.tuning_samples, "variant": d.variant, "control": d.control,
        "window_ms": d.window_ms, "action": d.action, "source": d.source, "state": guard.state, "since": guard.since,
        "version": guard.version,
    })
}

pub(crate) fn audit_key(guard: &Guard) -> String {
    format!("{}/{}/{}", guard.flag, guard.environment, guard.id)
}

pub(crate) async fn fetch_guard(
    conn: &mut AnyConnection,
    environment: &str,
    flag: &str,
    id: i64,
) -> StoreResult<Guard> {
    let sql = format!("SELECT {COLUMNS} FROM guards g WHERE g.id = $1 AND g.environment = $2 AND g.flag = $3");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(environment).bind(flag).fetch_optional(conn).await?;
    row.as_ref().map(guard_from_row).transpose()?.ok_or_else(|| StoreError::NotFound(format!("guard {id}")))
}

fn threshold_parts(threshold: Threshold) -> (&'static str, f64) {
    match threshold {
        Threshold::Absolute(v) => ("absolute", v),
        Threshold::Relative(v) => ("relative", v),
    }
}

/// Binds what a person sets on a guard — metric to action, then the initial state — in the column order both
/// the INSERT and the UPDATE list them.
fn bind_draft<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    draft: &'q GuardDraft,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let (kind, threshold) = threshold_parts(draft.spec.threshold);
    query
        .bind(&draft.spec.metric)
        .bind(text_of(&draft.spec.statistic))
        .bind(text_of(&draft.spec.direction))
        .bind(kind)
        .bind(threshold)
        .bind(i64::try_from(draft.spec.min_samples).unwrap_or(i64::MAX))
        .bind(draft.spec.alpha)
        .bind(i64::try_from(draft.spec.tuning_samples).unwrap_or(i64::MAX))
        .bind(&draft.variant)
        .bind(draft.control.as_deref())
        .bind(draft.window_ms)
        .bind(text_of(&draft.action))
        .bind(text_of(&GuardState::InsufficientData))
}

/// Refuses (422, field `metric` or `statistic`) a guard on a metric that is not known, or known as the other
/// kind; inside the guard's write, so that the metric cannot go in between.
async fn check_metric_in(tx: &mut WriteTx, draft: &GuardDraft) -> StoreResult<()> {
    let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM metrics WHERE key = $1")
        .bind(&draft.spec.metric)
        .fetch_optional(tx.conn())
        .await?;
    let problem =
        |path: &str, message: String| StoreError::Invalid(vec![pennon_engine::Problem { path: path.into(), message }]);
    match kind {
        None => Err(problem(
            "metric",
            format!("metric \"{}\" is not known; create it under /api/v1/metrics first", draft.spec.metric),
        )),
        Some(kind) if kind != text_of(&draft.spec.statistic) => {
            Err(problem("statistic", format!("metric \"{}\" is a {kind} metric", draft.spec.metric)))
        }
        Some(_) => Ok(()),
    }
}

/// Stores a guard's source (NULL for the SDK intake, as before sources existed) and clears its last error.
async fn write_source(tx: &mut WriteTx, id: i64, source: &GuardSource) -> StoreResult<()> {
    let text = match source {
        GuardSource::Sdk => None,
        GuardSource::Prometheus(_) => Some(to_json(source)),
    };
    sqlx::query("UPDATE guards SET source = $2, source_error = NULL WHERE id = $1")
        .bind(id)
        .bind(text)
        .execute(tx.conn())
        .await?;
    Ok(())
}

impl Store {
    /// Every (environment, flag, metric) whose data the intake keeps: the known metrics some guard of the flag
    /// watches, and every known metric of a flag whose config serves a split by default (an experiment, read
    /// by the results endpoint).
    pub async fn watched_metrics(&self) -> StoreResult<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT g.environment, g.flag, g.metric FROM guards g JOIN metrics m ON m.key = g.metric",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|row| Ok((row.try_get("environment")?, row.try_get("flag")?, row.try_get("metric")?)))
            .collect::<StoreResult<Vec<(String, String, String)>>>()?;
        let metrics: Vec<String> = sqlx::query_scalar("SELECT key FROM metrics").fetch_all(&self.pool).await?;
        if metrics.is_empty() {
            return Ok(out);
        }
        let configs = sqlx::query("SELECT environment, flag, config FROM flag_configs WHERE config LIKE '%\"split\"%'")
            .fetch_all(&self.pool)
            .await?;
        for row in &configs {
            let config: pennon_engine::FlagConfig = from_json(&row.try_get::<String, _>("config")?)?;
            if matches!(config.default, pennon_engine::Serve::Split(_)) {
                let (environment, flag): (String, String) = (row.try_get("environment")?, row.try_get("flag")?);
                out.extend(metrics.iter().map(|m| (environment.clone(), flag.clone(), m.clone())));
            }
        }
        Ok(out)
    }

    /// The guards of a flag in an environment, oldest first; 404 when the flag has no config there.
    pub async fn list_guards(&self, environment: &str, flag: &str) -> StoreResult<Vec<Guard>> {
        self.get_config(flag, environment).await?;
        let sql = format!("SELECT {COLUMNS} FROM guards g WHERE g.environment = $1 AND g.flag = $2 ORDER BY g.id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(environment).bind(flag).fetch_all(&self.pool).await?;
        rows.iter().map(guard_from_row).collect()
    }

    /// One guard.
    pub async fn get_guard(&self, environment: &str, flag: &str, id: i64) -> StoreResult<Guard> {
        let mut conn = self.pool.acquire().await?;
        fetch_guard(&mut conn, environment, flag, id).await
    }

    /// Creates a guard (already validated), in state `insufficient_data` with its data starting now.
    pub async fn create_guard(
        &self,
        environment: &str,
        flag: &str,
        draft: &GuardDraft,
        actor: &Actor,
    ) -> StoreResult<Guard> {
        let mut tx = self.begin_write().await?;
        match Self::create_guard_in(&mut tx, environment, flag, draft, actor).await {
            Ok((guard, audit)) => {
                tx.commit(audit).await?;
                Ok(guard)
            }
            Err(StoreError::NotFound(what)) => {
                drop(tx);
                Err(self.get_config(flag, environment).await.err().unwrap_or(StoreError::NotFound(what)))
            }
            Err(e) => Err(e),
        }
    }

    /// [`Store::create_guard`] inside a transaction the caller commits.
    pub(crate) async fn create_guard_in(
        tx: &mut WriteTx,
        environment: &str,
        flag: &str,
        draft: &GuardDraft,
        actor: &Actor,
    ) -> StoreResult<(Guard, Audit)> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM flag_configs WHERE flag = $1 AND environment = $2")
            .bind(flag)
            .bind(environment)
            .fetch_optional(tx.conn())
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("flag \"{flag}\" in environment \"{environment}\"")));
        }
        check_metric_in(tx, draft).await?;
        let at = tx.at();
        let row = bind_draft(
            sqlx::query(
                "INSERT INTO guards (environment, flag, metric, statistic, direction, threshold_kind, threshold, \
             min_samples, alpha, tuning_samples, variant, control, window_ms, action, state, since, version, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1, $16, $16) RETURNING id",
            )
            .bind(environment)
            .bind(flag),
            draft,
        )
        .bind(at)
        .fetch_one(tx.conn())
        .await?;
        let id: i64 = row.try_get("id")?;
        write_source(tx, id, &draft.source).await?;
        let guard = fetch_guard(tx.conn(), environment, flag, id).await?;
        tx.guards_changed(environment);
        let audit = Audit::new(actor, "guard.create", "guard", audit_key(&guard))
            .on(Some(flag), Some(environment))
            .change(None, Some(&audit_view(&guard)), Some(1));
        Ok((guard, audit))
    }

    /// Replaces what a person set on a guard; `expected` is the version the change is based on. The test
    /// starts over: state `insufficient_data`, data from now.
    pub async fn update_guard(
        &self,
        environment: &str,
        flag: &str,
        id: i64,
        expected: Option<u64>,
        draft: &GuardDraft,
        actor: &Actor,
    ) -> StoreResult<Guard> {
        let mut tx = self.begin_write().await?;
        let (next, audit) = Self::update_guard_in(&mut tx, environment, flag, id, expected, draft, actor).await?;
        tx.commit(audit).await?;
        Ok(next)
    }

    /// [`Store::update_guard`] inside a transaction the caller commits.
    pub(crate) async fn update_guard_in(
        tx: &mut WriteTx,
        environment: &str,
        flag: &str,
        id: i64,
        expected: Option<u64>,
        draft: &GuardDraft,
        actor: &Actor,
    ) -> StoreResult<(Guard, Audit)> {
        let current = fetch_guard(tx.conn(), environment, flag, id).await?;
        if let Some(expected) = expected
            && expected != current.version
        {
            return Err(StoreError::VersionConflict { current: current.version });
        }
        check_metric_in(tx, draft).await?;
        let updated = bind_draft(
            sqlx::query(
                "UPDATE guards SET metric = $2, statistic = $3, direction = $4, threshold_kind = $5, threshold = $6, \
             min_samples = $7, alpha = $8, tuning_samples = $9, variant = $10, control = $11, window_ms = $12, \
             action = $13, state = $14, evidence = NULL, checked_at = NULL, since = $15, \
             breach_config_version = NULL, version = version + 1, updated_at = $15 WHERE id = $1 AND version = $16",
            )
            .bind(id),
            draft,
        )
        .bind(tx.at())
        .bind(current.version as i64)
        .execute(tx.conn())
        .await?;
        if updated.rows_affected() == 0 {
            let now = fetch_guard(tx.conn(), environment, flag, id).await?;
            return Err(StoreError::VersionConflict { current: now.version });
        }
        write_source(tx, id, &draft.source).await?;
        let next = fetch_guard(tx.conn(), environment, flag, id).await?;
        tx.guards_changed(environment);
        let audit = Audit::new(actor, "guard.update", "guard", audit_key(&next))
            .on(Some(flag), Some(environment))
            .change(Some(&audit_view(&current)), Some(&audit_view(&next)), Some(next.version));
        Ok((next, audit))
    }

    /// Deletes a guard (and its transitions).
    pub async fn delete_guard(&self, environment: &str, flag: &str, id: i64, actor: &Actor) -> StoreResult<()> {
        let mut tx: WriteTx = self.begin_write().await?;
        let audit = Self::delete_guard_in(&mut tx, environment, flag, id, actor).await?;
        tx.commit(audit).await?;
        Ok(())
    }

    /// [`Store::delete_guard`] inside a transaction the caller commits.
    pub(crate) async fn delete_guard_in(
        tx: &mut WriteTx,
        environment: &str,
        flag: &str,
        id: i64,
        actor: &Actor,
    ) -> StoreResult<Audit> {
        let current = fetch_guard(tx.conn(), environment, flag, id).await?;
        sqlx::query("DELETE FROM guard_transitions WHERE guard_id = $1").bind(id).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM guards WHERE id = $1").bind(id).execute(tx.conn()).await?;
        tx.guards_changed(environment);
        Ok(Audit::new(actor, "guard.delete", "guard", audit_key(&current)).on(Some(flag), Some(environment)).change(
            Some(&audit_view(&current)),
            None,
            None,
        ))
    }

    /// Every guard of every flag, by flag, environment and id.
    pub async fn all_guards(&self) -> StoreResult<Vec<Guard>> {
        let sql = format!("SELECT {COLUMNS} FROM guards g ORDER BY g.flag, g.environment, g.id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(guard_from_row).collect()
    }
}

/// Stored evidence as JSON text.
pub(crate) fn evidence_text(evidence: &Evidence) -> String {
    to_json(evidence)
}
