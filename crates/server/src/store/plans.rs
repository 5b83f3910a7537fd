//! Rollout plans and their history. Every plan write locks the flag first (as config writes do), so a plan,
//! its history and the config changes its steps make are written in one transaction, one after the other.

use pennon_engine::{FlagConfig, Serve};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::configs::{fetch_config, read_definition};
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, from_json, to_json};
use crate::domain::plans::{PLAN_ACTOR, PlanDraft, PlanSpec, PlanState, Step};

/// A plan with where it stands.
#[derive(Debug, Clone, Serialize)]
pub struct PlanRecord {
    /// The flag ramped.
    pub flag: String,
    /// The environment.
    pub environment: String,
    /// What is ramped and how.
    #[serde(flatten)]
    pub spec: PlanSpec,
    /// Where the plan is.
    pub state: PlanState,
    /// The index of the step served last.
    pub current_step: usize,
    /// When that step was served (Unix milliseconds).
    pub step_started_at: Option<i64>,
    /// When its hold is over, while running with a step still to come.
    pub step_ends_at: Option<i64>,
    /// While paused: what was left of the hold.
    pub remaining_ms: Option<i64>,
    /// Bumped on every change.
    pub version: u64,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// Who changed it last.
    pub updated_by: String,
}

impl PlanRecord {
    /// The share of contexts that get the ramped variant now, in percent.
    pub fn current_percent(&self) -> f64 {
        match self.state {
            PlanState::Running | PlanState::Paused | PlanState::Completed => {
                self.spec.steps.get(self.current_step).map_or(0.0, |s| s.percent)
            }
            PlanState::Pending | PlanState::Halted | PlanState::Aborted => 0.0,
        }
    }
}

/// One event of a plan's history.
#[derive(Debug, Clone)]
pub struct PlanEvent {
    /// Unix milliseconds.
    pub at: i64,
    /// created, updated, started, advanced, paused, resumed, halted, aborted, completed.
    pub event: String,
    /// The step the plan stood at afterwards.
    pub step: Option<usize>,
    /// The percentage served afterwards.
    pub percent: Option<f64>,
    /// Who: a person, or `system:plan` / `system:guards`.
    pub actor: String,
    /// Why, for halts: the guard and its evidence.
    pub detail: Option<Value>,
}

/// What a person can do to a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanAction {
    /// Serve step 0 now and let the scheduler take it from there.
    Start,
    /// Hold the current percentage; the rest of the hold is kept.
    Pause,
    /// Go on with the rest of the hold.
    Resume,
    /// Back to 0%: everyone gets the control.
    Abort,
}

const COLUMNS: &str = "flag, environment, variant, control, bucket_by, steps, state, current_step, step_started_at, \
                       step_ends_at, remaining_ms, version, created_at, updated_at, updated_by";

fn plan_from_row(row: &AnyRow) -> StoreResult<PlanRecord> {
    let state: String = row.try_get("state")?;
    Ok(PlanRecord {
        flag: row.try_get("flag")?,
        environment: row.try_get("environment")?,
        spec: PlanSpec {
            variant: row.try_get("variant")?,
            control: row.try_get("control")?,
            bucket_by: row.try_get("bucket_by")?,
            steps: from_json::<Vec<Step>>(&row.try_get::<String, _>("steps")?)?,
        },
        state: PlanState::parse(&state)
            .ok_or_else(|| StoreError::Internal(sqlx::Error::Decode(format!("plan state {state:?}").into())))?,
        current_step: row.try_get::<i64, _>("current_step")? as usize,
        step_started_at: row.try_get("step_started_at")?,
        step_ends_at: row.try_get("step_ends_at")?,
        remaining_ms: row.try_get("remaining_ms")?,
        version: row.try_get::<i64, _>("version")? as u64,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

pub(super) async fn fetch_plan(
    conn: &mut AnyConnection,
    flag: &str,
    environment: &str,
) -> StoreResult<Option<PlanRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE flag = $1 AND environment = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(flag).bind(environment).fetch_optional(&mut *conn).await?;
    row.as_ref().map(plan_from_row).transpose()
}

/// Every plan in an environment.
pub(super) async fn plans_in(conn: &mut AnyConnection, environment: &str) -> StoreResult<Vec<PlanRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE environment = $1 ORDER BY flag");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(environment).fetch_all(&mut *conn).await?;
    rows.iter().map(plan_from_row).collect()
}

/// Every plan of the flags whose keys lie between `first` and `last` (inclusive), in every environment.
pub(super) async fn plans_between(conn: &mut AnyConnection, first: &str, last: &str) -> StoreResult<Vec<PlanRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE flag >= $1 AND flag <= $2 ORDER BY flag, environment");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first).bind(last).fetch_all(&mut *conn).await?;
    rows.iter().map(plan_from_row).collect()
}

/// The plan, after checking that the config exists (so that a missing flag or environment is named).
pub(super) async fn require_plan(conn: &mut AnyConnection, flag: &str, environment: &str) -> StoreResult<PlanRecord> {
    fetch_config(conn, flag, environment).await?;
    fetch_plan(conn, flag, environment).await?.ok_or_else(|| {
        StoreError::NotFound(format!("rollout plan of flag \"{flag}\" in environment \"{environment}\""))
    })
}

pub(super) fn check_version(plan: &PlanRecord, expected: Option<u64>) -> StoreResult<()> {
    match expected {
        Some(v) if v != plan.version => Err(StoreError::VersionConflict { current: plan.version }),
        _ => Ok(()),
    }
}

/// Writes the plan's new state, if its version is still `plan.version - 1`.
pub(super) async fn save(tx: &mut WriteTx, plan: &PlanRecord) -> StoreResult<()> {
    let updated = sqlx::query(
        "UPDATE plans SET variant = $3, control = $4, bucket_by = $5, steps = $6, state = $7, current_step = $8, \
         step_started_at = $9, step_ends_at = $10, remaining_ms = $11, version = $12, updated_at = $13, updated_by = $14 \
         WHERE flag = $1 AND environment = $2 AND version = $15",
    )
    .bind(&plan.flag)
    .bind(&plan.environment)
    .bind(&plan.spec.variant)
    .bind(&plan.spec.control)
    .bind(&plan.spec.bucket_by)
    .bind(to_json(&plan.spec.steps))
    .bind(plan.state.as_str())
    .bind(plan.current_step as i64)
    .bind(plan.step_started_at)
    .bind(plan.step_ends_at)
    .bind(plan.remaining_ms)
    .bind(plan.version as i64)
    .bind(plan.updated_at)
    .bind(&plan.updated_by)
    .bind(plan.version as i64 - 1)
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() == 0 {
        let current = fetch_plan(tx.conn(), &plan.flag, &plan.environment).await?.map_or(0, |p| p.version);
        return Err(StoreError::VersionConflict { current });
    }
    Ok(())
}

/// Appends an event to the plan's history, the plan standing where `plan` says.
pub(super) async fn record(
    tx: &mut WriteTx,
    plan: &PlanRecord,
    event: &str,
    actor: &Actor,
    detail: Option<&Value>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO plan_events (flag, environment, at, event, step, percent, actor, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&plan.flag)
    .bind(&plan.environment)
    .bind(tx.at())
    .bind(event)
    .bind(plan.current_step as i64)
    .bind(plan.current_percent())
    .bind(actor.as_str())
    .bind(detail.map(Value::to_string))
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(super) fn plan_audit(
    actor: &Actor,
    action: &str,
    before: Option<&PlanRecord>,
    after: Option<&PlanRecord>,
) -> Audit {
    let plan = after.or(before).expect("a plan before or after");
    Audit::new(actor, action, "plan", format!("{}/{}", plan.flag, plan.environment))
        .on(Some(&plan.flag), Some(&plan.environment))
        .change(before, after, after.map(|p| p.version))
}

/// The next state of `plan`, one version on, changed by `actor` at the transaction's time.
pub(super) fn next_of(plan: &PlanRecord, tx: &WriteTx, actor: &Actor) -> PlanRecord {
    PlanRecord { version: plan.version + 1, updated_at: tx.at(), updated_by: actor.as_str().to_owned(), ..plan.clone() }
}

/// Serves step `plan.current_step` from now on (or 0% when the plan is halted or aborted): the config's default
/// becomes the plan's split, an ordinary config change by `system:plan`, audited in the same transaction.
pub(super) async fn serve(
    store: &Store,
    tx: &mut WriteTx,
    plan: &mut PlanRecord,
    action: &str,
    trigger: &Actor,
) -> StoreResult<()> {
    let weight = crate::domain::plans::weight(plan.current_percent());
    let split = plan.spec.split(weight);
    if plan.state == PlanState::Running || plan.state == PlanState::Completed {
        let at = tx.at();
        plan.step_started_at = Some(at);
        plan.step_ends_at =
            plan.spec.steps.get(plan.current_step).and_then(|s| s.hold_ms).map(|h| at.saturating_add(h as i64));
    }
    let edit = |_: &pennon_engine::Flag, current: &FlagConfig| {
        Ok(FlagConfig { default: Serve::Split(split), ..current.clone() })
    };
    let system = Actor::system(PLAN_ACTOR);
    let (before, after) = store.edit_config_in(tx, &plan.flag, &plan.environment, None, action, &system, edit).await?;
    let detail = json!({ "plan_step": plan.current_step, "percent": plan.current_percent(), "by": trigger.as_str() });
    let audit = Audit::new(&system, action, "config", format!("{}/{}", plan.flag, plan.environment))
        .on(Some(&plan.flag), Some(&plan.environment))
        .change(Some(&before), Some(&after.config), Some(after.config.version))
        .detail(detail);
    tx.audit(&audit).await
}

impl Store {
    /// A flag's plan in an environment and its history, oldest event first.
    pub async fn get_plan(&self, flag: &str, environment: &str) -> StoreResult<(PlanRecord, Vec<PlanEvent>)> {
        let mut conn = self.pool.acquire().await?;
        let plan = require_plan(&mut conn, flag, environment).await?;
        let rows = sqlx::query(
            "SELECT at, event, step, percent, actor, detail FROM plan_events \
             WHERE flag = $1 AND environment = $2 ORDER BY id",
        )
        .bind(flag)
        .bind(environment)
        .fetch_all(&mut *conn)
        .await?;
        let events = rows
            .iter()
            .map(|row| {
                Ok(PlanEvent {
                    at: row.try_get("at")?,
                    event: row.try_get("event")?,
                    step: row.try_get::<Option<i64>, _>("step")?.map(|s| s as usize),
                    percent: row.try_get("percent")?,
                    actor: row.try_get("actor")?,
                    detail: row.try_get::<Option<String>, _>("detail")?.map(|d| from_json(&d)).transpose()?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((plan, events))
    }

    /// Writes a flag's plan in an environment, new (`true`) or replacing one that is not in progress; it starts
    /// out pending. The draft is checked against the flag inside the transaction.
    #[tracing::instrument(skip(self, actor, draft))]
    pub async fn put_plan(
        &self,
        flag: &str,
        environment: &str,
        expected: Option<u64>,
        actor: &Actor,
        draft: &PlanDraft,
    ) -> StoreResult<(PlanRecord, bool)> {
        let mut tx = self.begin_write().await?;
        let (plan, created, audit) = Self::put_plan_in(&mut tx, flag, environment, expected, actor, draft).await?;
        tx.commit(audit).await?;
        Ok((plan, created))
    }

    /// [`Store::put_plan`] inside a transaction the caller commits.
    pub(crate) async fn put_plan_in(
        tx: &mut WriteTx,
        flag: &str,
        environment: &str,
        expected: Option<u64>,
        actor: &Actor,
        draft: &PlanDraft,
    ) -> StoreResult<(PlanRecord, bool, Audit)> {
        super::flags::lock_flag(tx, flag).await?;
        let definition = read_definition(tx.conn(), flag).await?;
        fetch_config(tx.conn(), flag, environment).await?;
        let existing = fetch_plan(tx.conn(), flag, environment).await?;
        match (&existing, expected) {
            (Some(plan), _) => check_version(plan, expected)?,
            (None, Some(_)) => return Err(StoreError::VersionConflict { current: 0 }),
            (None, None) => {}
        }
        if let Some(plan) = &existing
            && plan.state.in_progress()
        {
            return Err(StoreError::Conflict(format!(
                "the plan is {}; abort it before replacing it",
                plan.state.as_str()
            )));
        }
        let spec = draft.check(&definition).map_err(StoreError::Invalid)?;
        let at = tx.at();
        let plan = PlanRecord {
            flag: flag.to_owned(),
            environment: environment.to_owned(),
            spec,
            state: PlanState::Pending,
            current_step: 0,
            step_started_at: None,
            step_ends_at: None,
            remaining_ms: None,
            version: existing.as_ref().map_or(1, |p| p.version + 1),
            created_at: existing.as_ref().map_or(at, |p| p.created_at),
            updated_at: at,
            updated_by: actor.as_str().to_owned(),
        };
        if existing.is_some() {
            save(tx, &plan).await?;
        } else {
            let sql = format!(
                "INSERT INTO plans ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL, NULL, NULL, 1, $8, $8, $9)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(flag)
                .bind(environment)
                .bind(&plan.spec.variant)
                .bind(&plan.spec.control)
                .bind(&plan.spec.bucket_by)
                .bind(to_json(&plan.spec.steps))
                .bind(plan.state.as_str())
                .bind(at)
                .bind(actor.as_str())
                .execute(tx.conn())
                .await?;
        }
        let (event, action) = if existing.is_some() { ("updated", "plan.replace") } else { ("created", "plan.create") };
        record(tx, &plan, event, actor, None).await?;
        let audit = plan_audit(actor, action, existing.as_ref(), Some(&plan));
        Ok((plan, existing.is_none(), audit))
    }

    /// Deletes a plan that is not in progress, with its history.
    #[tracing::instrument(skip(self, actor))]
    pub async fn delete_plan(
        &self,
        flag: &str,
        environment: &str,
        expected: Option<u64>,
        actor: &Actor,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let audit = Self::delete_plan_in(&mut tx, flag, environment, expected, actor).await?;
        tx.commit(audit).await?;
        Ok(())
    }

    /// [`Store::delete_plan`] inside a transaction the caller commits.
    pub(crate) async fn delete_plan_in(
        tx: &mut WriteTx,
        flag: &str,
        environment: &str,
        expected: Option<u64>,
        actor: &Actor,
    ) -> StoreResult<Audit> {
        super::flags::lock_flag(tx, flag).await?;
        let plan = require_plan(tx.conn(), flag, environment).await?;
        check_version(&plan, expected)?;
        if plan.state.in_progress() {
            return Err(StoreError::Conflict(format!(
                "the plan is {}; abort it before deleting it",
                plan.state.as_str()
            )));
        }
        for sql in [
            "DELETE FROM plan_events WHERE flag = $1 AND environment = $2",
            "DELETE FROM plans WHERE flag = $1 AND environment = $2",
        ] {
            sqlx::query(sql).bind(flag).bind(environment).execute(tx.conn()).await?;
        }
        Ok(plan_audit(actor, "plan.delete", Some(&plan), None))
    }

    /// Every plan, by flag and environment.
    pub async fn all_plans(&self) -> StoreResult<Vec<PlanRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM plans ORDER BY flag, environment");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(plan_from_row).collect()
    }
}
