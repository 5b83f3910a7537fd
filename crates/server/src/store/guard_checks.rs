//! What the guard loop writes: routine check results, the breach transaction, resets after a person turns the
//! flag back on; and what the dashboard's charts read: state transitions and per-bucket metric values.

use pennon_engine::guards::{GuardState, GuardVerdict};
use pennon_engine::{FlagConfig, Serve, Weight};
use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::configs::ConfigRecord;
use super::guards::{COLUMNS, Guard, GuardAction, audit_key, evidence_text, guard_from_row, text_of};
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, from_json};

/// Transitions kept per guard; older ones are pruned.
pub const TRANSITIONS_KEPT: i64 = 200;

/// A guard with the state of its flag's config, as the loop needs it.
#[derive(Debug, Clone)]
pub struct GuardToCheck {
    /// The guard.
    pub guard: Guard,
    /// Whether the flag is on in the guard's environment.
    pub config_enabled: bool,
    /// The config's version.
    pub config_version: u64,
}

/// One change of a guard's state, with the numbers of that check.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardTransition {
    /// Unix milliseconds.
    pub at: i64,
    /// The state entered.
    pub state: GuardState,
    /// Treatment samples.
    pub treatment_n: u64,
    /// Treatment rate or mean.
    pub treatment_value: Option<f64>,
    /// Control samples.
    pub control_n: u64,
    /// Control rate or mean.
    pub control_value: Option<f64>,
    /// The always-valid p-value.
    pub p_value: Option<f64>,
}

/// One variant's data in one 10-second bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketTotals {
    /// The bucket's start, Unix milliseconds.
    pub bucket: i64,
    /// Variant key.
    pub variant: String,
    /// Exposures.
    pub exposures: u64,
    /// Tracked values of the metric.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The sum of their squares.
    pub sum_squares: f64,
}

/// The outcome of a breach: the config after the action, and the new revisions to deliver.
#[derive(Debug, Clone)]
pub struct Breach {
    /// The flag's config as the action left it.
    pub config: ConfigRecord,
    /// The environments' new revisions.
    pub revisions: Vec<(String, u64)>,
}

/// The actor of the guard loop's changes.
pub fn guard_actor() -> Actor {
    Actor::system("guard")
}

async fn add_transition(
    conn: &mut AnyConnection,
    at: i64,
    guard_id: i64,
    state: GuardState,
    verdict: Option<&GuardVerdict>,
) -> StoreResult<()> {
    let e = verdict.map(|v| &v.evidence);
    sqlx::query(
        "INSERT INTO guard_transitions (guard_id, at, state, treatment_n, treatment_value, control_n, control_value, p_value) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(guard_id)
    .bind(at)
    .bind(text_of(&state))
    .bind(e.map_or(0, |e| i64::try_from(e.treatment.n).unwrap_or(i64::MAX)))
    .bind(e.and_then(|e| e.treatment.value))
    .bind(e.map_or(0, |e| i64::try_from(e.control.n).unwrap_or(i64::MAX)))
    .bind(e.and_then(|e| e.control.value))
    .bind(e.and_then(|e| e.p_value))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM guard_transitions WHERE guard_id = $1 AND id NOT IN \
         (SELECT id FROM guard_transitions WHERE guard_id = $1 ORDER BY id DESC LIMIT $2)",
    )
    .bind(guard_id)
    .bind(TRANSITIONS_KEPT)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The config after a guard's action on it.
pub fn apply_action(guard: &Guard, current: &FlagConfig) -> FlagConfig {
    let mut next = current.clone();
    match guard.draft.action {
        GuardAction::DisableFlag => next.enabled = false,
        GuardAction::HaltRollout => {
            let treatment = &guard.draft.variant;
            let Some(control) = guard.draft.control.clone() else { return next };
            match &mut next.default {
                Serve::Variant(v) if v == treatment => *v = control,
                Serve::Variant(_) => {}
                Serve::Split(split) => {
                    let taken: u32 = split
                        .weights
                        .iter_mut()
                        .filter(|w| &w.variant == treatment)
                        .map(|w| std::mem::take(&mut w.weight))
                        .sum();
                    if let Some(w) = split.weights.iter_mut().find(|w| w.variant == control) {
                        w.weight += taken;
                    } else {
                        split.weights.push(Weight { variant: control, weight: taken });
                    }
                }
            }
        }
    }
    next
}

impl Store {
    /// Every guard with its flag's config state.
    pub async fn guards_to_check(&self) -> StoreResult<Vec<GuardToCheck>> {
        let sql = format!(
            "SELECT {COLUMNS}, c.config FROM guards g \
             JOIN flag_configs c ON c.flag = g.flag AND c.environment = g.environment ORDER BY g.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let config: FlagConfig = from_json(&row.try_get::<String, _>("config")?)?;
                Ok(GuardToCheck {
                    guard: guard_from_row(row)?,
                    config_enabled: config.enabled,
                    config_version: config.version,
                })
            })
            .collect()
    }

    /// Stores a routine check's verdict (not a breach) when the guard is still at `guard.version` and not
    /// breached, as checked at `at` (Unix milliseconds); a change of state is kept as a transition. Returns
    /// whether it was stored.
    pub async fn record_guard_check(&self, guard: &Guard, verdict: &GuardVerdict, at: i64) -> StoreResult<bool> {
        debug_assert!(verdict.state != GuardState::Breached, "breaches go through breach_guard");
        // An observation, not a change: no audit row, no revision (a breach, which changes the flag, is both).
        let (_writer, mut tx) = self.begin_plain_write().await?;
        let updated = sqlx::query(
            "UPDATE guards SET state = $2, evidence = $3, checked_at = $4, source_error = NULL \
             WHERE id = $1 AND version = $5 AND state <> $6",
        )
        .bind(guard.id)
        .bind(text_of(&verdict.state))
        .bind(evidence_text(&verdict.evidence))
        .bind(at)
        .bind(guard.version as i64)
        .bind(text_of(&GuardState::Breached))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        if verdict.state != guard.state {
            add_transition(&mut tx, at, guard.id, verdict.state, Some(verdict)).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Stores why a check could not read the guard's source (a Prometheus query that failed, answered an
    /// error or found no series), when the guard is still at `guard.version` and not breached. The state and
    /// the last evidence stay as they were: a check that cannot read decides nothing. Returns whether it was
    /// stored.
    pub async fn record_guard_source_error(&self, guard: &Guard, error: &str, at: i64) -> StoreResult<bool> {
        let (_writer, mut tx) = self.begin_plain_write().await?;
        let updated = sqlx::query(
            "UPDATE guards SET source_error = $2, checked_at = $3 WHERE id = $1 AND version = $4 AND state <> $5",
        )
        .bind(guard.id)
        .bind(error)
        .bind(at)
        .bind(guard.version as i64)
        .bind(text_of(&GuardState::Breached))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(updated.rows_affected() > 0)
    }

    /// A breach, in one transaction: the guard's action on the flag's config (based on `config_version`),
    /// the guard marked breached with its evidence, and one audit row (actor `system:guard`) with the config
    /// before and after and the evidence. Fails with a version conflict when the config or the guard changed
    /// since they were read; the loop tries again at its next check.
    pub async fn breach_guard(
        &self,
        guard: &Guard,
        verdict: &GuardVerdict,
        config_version: u64,
    ) -> StoreResult<Breach> {
        let mut tx = self.begin_write().await?;
        let (before, config) = self.breach_in(&mut tx, guard, verdict, config_version).await?;
        let e = &verdict.evidence;
        let detail = json!({
            "guard": guard.id,
            "metric": guard.draft.spec.metric,
            "statistic": guard.draft.spec.statistic,
            "direction": guard.draft.spec.direction,
            "action": guard.draft.action,
            "treatment": { "variant": guard.draft.variant, "samples": e.treatment.n, "value": e.treatment.value, "std_dev": e.treatment.std_dev },
            "control": { "variant": guard.draft.control, "samples": e.control.n, "value": e.control.value, "std_dev": e.control.std_dev },
            "threshold": e.threshold,
            "limit": e.limit,
            "excess": e.excess,
            "standard_error": e.standard_error,
            "statistic_value": e.statistic,
            "p_value": e.p_value,
            "bound": e.bound,
            "alpha": e.alpha,
            "relative_change": e.relative_change,
            "since": guard.since,
            "source": guard.draft.source,
            "evidence": e,
        });
        let audit =
            Audit::new(&guard_actor(), "guard.breach", "config", format!("{}/{}", guard.flag, guard.environment))
                .on(Some(&guard.flag), Some(&guard.environment))
                .change(Some(&before), Some(&config.config), Some(config.config.version))
                .detail(detail);
        let revisions = tx.commit(audit).await?;
        Ok(Breach { config, revisions })
    }

    /// The writes of a breach inside the caller's transaction: the action on the config and the guard marked
    /// breached. Returns the config before and after, for the caller's audit row. Anything else a breach must do in the same transaction belongs here.
    pub(crate) async fn breach_in(
        &self,
        tx: &mut WriteTx,
        guard: &Guard,
        verdict: &GuardVerdict,
        config_version: u64,
    ) -> StoreResult<(FlagConfig, ConfigRecord)> {
        let actor = guard_actor();
        let (before, config) = self
            .edit_config_in(
                tx,
                &guard.flag,
                &guard.environment,
                Some(config_version),
                "guard.breach",
                &actor,
                |_, current| Ok(apply_action(guard, current)),
            )
            .await?;
        let marked = sqlx::query(
            "UPDATE guards SET state = $2, evidence = $3, checked_at = $4, breach_config_version = $5, \
             source_error = NULL, version = version + 1, updated_at = $4 WHERE id = $1 AND version = $6",
        )
        .bind(guard.id)
        .bind(text_of(&GuardState::Breached))
        .bind(evidence_text(&verdict.evidence))
        .bind(tx.at())
        .bind(config.config.version as i64)
        .bind(guard.version as i64)
        .execute(tx.conn())
        .await?;
        if marked.rows_affected() == 0 {
            return Err(StoreError::VersionConflict { current: guard.version + 1 });
        }
        let at = tx.at();
        add_transition(tx.conn(), at, guard.id, GuardState::Breached, Some(verdict)).await?;
        let why = json!({ "guard": guard.id, "metric": guard.draft.spec.metric, "evidence": verdict.evidence });
        self.halt_plan_in(tx, &guard.flag, &guard.environment, &actor, &why).await?;
        Ok((before, config))
    }

    /// Starts a breached guard over (state `insufficient_data`, data from `since`) because its flag's config
    /// changed after the breach (a person turned it back on); audited as `guard.reset` by `system:guard`.
    pub async fn reset_guard(&self, guard: &Guard, config_version: u64, since: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let at = tx.at();
        let updated = sqlx::query(
            "UPDATE guards SET state = $2, evidence = NULL, checked_at = NULL, source_error = NULL, since = $3, breach_config_version = NULL, \
             version = version + 1, updated_at = $6 WHERE id = $1 AND version = $4 AND state = $5",
        )
        .bind(guard.id)
        .bind(text_of(&GuardState::InsufficientData))
        .bind(since)
        .bind(guard.version as i64)
        .bind(text_of(&GuardState::Breached))
        .bind(at)
        .execute(tx.conn())
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        add_transition(tx.conn(), at, guard.id, GuardState::InsufficientData, None).await?;
        let audit = Audit::new(&guard_actor(), "guard.reset", "guard", audit_key(guard))
            .on(Some(&guard.flag), Some(&guard.environment))
            .detail(json!({
                "guard": guard.id,
                "reason": "the flag's config changed after the breach",
                "breach_config_version": guard.breach_config_version,
                "config_version": config_version,
                "since": since,
            }));
        let mut audit = audit;
        audit.version = Some(guard.version + 1);
        tx.commit(audit).await?;
        Ok(true)
    }

    /// A guard's newest state transitions, oldest first.
    pub async fn guard_transitions(&self, guard_id: i64) -> StoreResult<Vec<GuardTransition>> {
        let rows = sqlx::query(
            "SELECT at, state, treatment_n, treatment_value, control_n, control_value, p_value \
             FROM guard_transitions WHERE guard_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(guard_id)
        .bind(TRANSITIONS_KEPT)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|row| {
                Ok(GuardTransition {
                    at: row.try_get("at")?,
                    state: super::guards::parse_state(&row.try_get::<String, _>("state")?)?,
                    treatment_n: row.try_get::<i64, _>("treatment_n")?.max(0) as u64,
                    treatment_value: row.try_get("treatment_value")?,
                    control_n: row.try_get::<i64, _>("control_n")?.max(0) as u64,
                    control_value: row.try_get("control_value")?,
                    p_value: row.try_get("p_value")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Per bucket and variant (of `variants`): exposures and the metric's count and sum, for the buckets that
    /// start in `[since, until)`.
    pub async fn metric_buckets_of(
        &self,
        environment: &str,
        flag: &str,
        metric: &str,
        variants: &[&str],
        since: i64,
        until: i64,
    ) -> StoreResult<Vec<BucketTotals>> {
        let mut out: std::collections::BTreeMap<(i64, String), BucketTotals> = std::collections::BTreeMap::new();
        let exposures = sqlx::query(
            "SELECT bucket, variant, count FROM exposure_buckets \
             WHERE environment = $1 AND flag = $2 AND bucket >= $3 AND bucket < $4",
        )
        .bind(environment)
        .bind(flag)
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        let values = sqlx::query(
            "SELECT bucket, variant, count, sum, sum_squares FROM metric_buckets \
             WHERE environment = $1 AND flag = $2 AND metric = $3 AND bucket >= $4 AND bucket < $5",
        )
        .bind(environment)
        .bind(flag)
        .bind(metric)
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        for row in &exposures {
            if let Some(totals) = totals_of(&mut out, variants, row)? {
                totals.exposures = row.try_get::<i64, _>("count")?.max(0) as u64;
            }
        }
        for row in &values {
            if let Some(totals) = totals_of(&mut out, variants, row)? {
                totals.count = row.try_get::<i64, _>("count")?.max(0) as u64;
                totals.sum = row.try_get("sum")?;
                totals.sum_squares = row.try_get("sum_squares")?;
            }
        }
        Ok(out.into_values().collect())
    }
}

/// The totals of a row's (bucket, variant) in `out`, when the variant is one of `variants`.
fn totals_of<'a>(
    out: &'a mut std::collections::BTreeMap<(i64, String), BucketTotals>,
    variants: &[&str],
    row: &sqlx::any::AnyRow,
) -> StoreResult<Option<&'a mut BucketTotals>> {
    let (bucket, variant): (i64, String) = (row.try_get("bucket")?, row.try_get("variant")?);
    if !variants.contains(&variant.as_str()) {
        return Ok(None);
    }
    let key = (bucket, variant.clone());
    Ok(Some(out.entry(key).or_insert_with(|| BucketTotals { bucket, variant, ..Default::default() })))
}
