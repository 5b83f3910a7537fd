//! How plans move: start, pause, resume and abort by a person; advance and halt by the scheduler (or by a
//! guard's breach, inside its own transaction). Each move is one transaction: the plan's new state, its
//! history event, the config change the move makes (an ordinary versioned change by `system:plan`, pushed to
//! SDKs) and the audit rows.

use serde_json::{Value, json};
use sqlx::AnyConnection;

use super::plans::{
    PlanAction, PlanRecord, check_version, fetch_plan, next_of, plan_audit, record, require_plan, save, serve,
};
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, from_json};
use crate::domain::plans::{PLAN_ACTOR, PlanState};

/// A running plan whose hold is over, as the scheduler finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePlan {
    /// The flag.
    pub flag: String,
    /// The environment.
    pub environment: String,
    /// The plan's version when found: the advance is refused if it changed since.
    pub version: u64,
}

/// A plan in progress whose flag has a breached guard in its environment, as the scheduler finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanToHalt {
    /// The flag.
    pub flag: String,
    /// The environment.
    pub environment: String,
    /// The plan's version when found.
    pub version: u64,
    /// The breached guard.
    pub guard: i64,
    /// Its evidence (JSON), as the guard loop recorded it.
    pub evidence: Option<Value>,
}

/// The first breached guard of the flag in the environment, if any.
async fn breached_guard(conn: &mut AnyConnection, flag: &str, environment: &str) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM guards WHERE flag = $1 AND environment = $2 AND state = 'breached' ORDER BY id LIMIT 1",
    )
    .bind(flag)
    .bind(environment)
    .fetch_optional(conn)
    .await?)
}

fn refuse(plan: &PlanRecord, what: &str) -> StoreError {
    StoreError::Conflict(format!("the plan is {}; it cannot be {what}", plan.state.as_str()))
}

impl Store {
    /// Starts, pauses, resumes or aborts a plan. Returns it and the environment revisions the move bumped.
    #[tracing::instrument(skip(self, actor))]
    pub async fn plan_action(
        &self,
        flag: &str,
        environment: &str,
        expected: Option<u64>,
        action: PlanAction,
        actor: &Actor,
    ) -> StoreResult<(PlanRecord, Vec<(String, u64)>)> {
        let mut tx = self.begin_write().await?;
        super::flags::lock_flag(&mut tx, flag).await?;
        let plan = require_plan(tx.conn(), flag, environment).await?;
        check_version(&plan, expected)?;
        if matches!(action, PlanAction::Start | PlanAction::Resume)
            && let Some(guard) = breached_guard(tx.conn(), flag, environment).await?
        {
            return Err(StoreError::Conflict(format!(
                "guard {guard} of this flag is breached; turn the flag back on (which resets it) before ramping"
            )));
        }
        let at = tx.at();
        let mut next = next_of(&plan, &tx, actor);
        let name = match action {
            PlanAction::Start => {
                if plan.state.in_progress() {
                    return Err(refuse(&plan, "started"));
                }
                next.current_step = 0;
                next.remaining_ms = None;
                next.state = if next.spec.steps.len() == 1 { PlanState::Completed } else { PlanState::Running };
                serve(self, &mut tx, &mut next, "config.plan.start", actor).await?;
                record(&mut tx, &next, "started", actor, None).await?;
                if next.state == PlanState::Completed {
                    record(&mut tx, &next, "completed", actor, None).await?;
                }
                "plan.start"
            }
            PlanAction::Pause => {
                if plan.state != PlanState::Running {
                    return Err(refuse(&plan, "paused"));
                }
                next.state = PlanState::Paused;
                next.remaining_ms = plan.step_ends_at.map(|end| (end - at).max(0));
                next.step_ends_at = None;
                record(&mut tx, &next, "paused", actor, None).await?;
                "plan.pause"
            }
            PlanAction::Resume => {
                if plan.state != PlanState::Paused {
                    return Err(refuse(&plan, "resumed"));
                }
                next.state = PlanState::Running;
                next.step_ends_at = plan.remaining_ms.map(|left| at.saturating_add(left));
                next.remaining_ms = None;
                record(&mut tx, &next, "resumed", actor, None).await?;
                "plan.resume"
            }
            PlanAction::Abort => {
                if !plan.state.in_progress() {
                    return Err(refuse(&plan, "aborted"));
                }
                next.state = PlanState::Aborted;
                next.step_ends_at = None;
                next.remaining_ms = None;
                serve(self, &mut tx, &mut next, "config.plan.abort", actor).await?;
                record(&mut tx, &next, "aborted", actor, None).await?;
                "plan.abort"
            }
        };
        save(&mut tx, &next).await?;
        let revisions = tx.commit(plan_audit(actor, name, Some(&plan), Some(&next))).await?;
        Ok((next, revisions))
    }

    /// The running plans whose current hold is over at `now` (Unix milliseconds).
    pub async fn due_plans(&self, now: i64) -> StoreResult<Vec<DuePlan>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT flag, environment, version FROM plans WHERE state = 'running' AND step_ends_at <= $1 \
             ORDER BY step_ends_at",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(flag, environment, version)| DuePlan { flag, environment, version: version as u64 })
            .collect())
    }

    /// When the next running plan's hold ends (Unix milliseconds), if any plan is running.
    pub async fn next_due(&self) -> StoreResult<Option<i64>> {
        let next: Option<i64> = sqlx::query_scalar("SELECT MIN(step_ends_at) FROM plans WHERE state = 'running'")
            .fetch_one(&self.pool)
            .await?;
        Ok(next)
    }

    /// The plans in progress (running or paused) whose flag has a breached guard in their environment.
    pub async fn plans_to_halt(&self) -> StoreResult<Vec<PlanToHalt>> {
        let rows: Vec<(String, String, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT p.flag, p.environment, p.version, g.id, g.evidence FROM plans p \
             JOIN guards g ON g.flag = p.flag AND g.environment = p.environment \
             WHERE p.state IN ('running', 'paused') AND g.state = 'breached' ORDER BY p.flag, p.environment, g.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut halts: Vec<PlanToHalt> = Vec::new();
        for (flag, environment, version, guard, evidence) in rows {
            if halts.last().is_some_and(|h| h.flag == flag && h.environment == environment) {
                continue;
            }
            let evidence = evidence.map(|e| from_json(&e)).transpose()?;
            halts.push(PlanToHalt { flag, environment, version: version as u64, guard, evidence });
        }
        Ok(halts)
    }

    /// Serves the next step of a due plan, if it is still the plan found (same version), still running and
    /// its hold is over; reaching the last step completes it. Returns the revisions bumped, or `None` when
    /// there was nothing to do.
    #[tracing::instrument(skip(self, due), fields(flag = %due.flag, environment = %due.environment))]
    pub async fn advance_plan(&self, due: &DuePlan) -> StoreResult<Option<Vec<(String, u64)>>> {
        let mut tx = self.begin_write().await?;
        super::flags::lock_flag(&mut tx, &due.flag).await?;
        let Some(plan) = fetch_plan(tx.conn(), &due.flag, &due.environment).await? else { return Ok(None) };
        let due_now = plan.step_ends_at.is_some_and(|end| end <= tx.at());
        if plan.version != due.version || plan.state != PlanState::Running || !due_now {
            return Ok(None);
        }
        if breached_guard(tx.conn(), &due.flag, &due.environment).await?.is_some() {
            // The halt comes first in the scheduler's round; never a step up past a breached guard.
            return Ok(None);
        }
        let system = Actor::system(PLAN_ACTOR);
        let mut next = next_of(&plan, &tx, &system);
        next.current_step = plan.current_step + 1;
        if next.current_step + 1 >= next.spec.steps.len() {
            next.current_step = next.spec.steps.len() - 1;
            next.state = PlanState::Completed;
        }
        serve(self, &mut tx, &mut next, "config.plan.advance", &system).await?;
        record(&mut tx, &next, "advanced", &system, None).await?;
        let action = if next.state == PlanState::Completed {
            record(&mut tx, &next, "completed", &system, None).await?;
            "plan.complete"
        } else {
            "plan.advance"
        };
        save(&mut tx, &next).await?;
        Ok(Some(tx.commit(plan_audit(&system, action, Some(&plan), Some(&next))).await?))
    }

    /// Halts the flag's plan in the environment if it is running or paused, inside a guard's breach
    /// transaction: the plan's state, the history event with `detail` (which guard, its evidence) and the plan's
    /// audit row. The config is left to the breach, whose action (flag off, or the ramped share to control)
    /// already takes the variant away in the same transaction. Returns whether a plan was halted.
    pub async fn halt_plan_in(
        &self,
        tx: &mut WriteTx,
        flag: &str,
        environment: &str,
        actor: &Actor,
        detail: &Value,
    ) -> StoreResult<bool> {
        let Some((_, audit)) = self.halt_in(tx, flag, environment, None, false, actor, detail).await? else {
            return Ok(false);
        };
        tx.audit(&audit).await?;
        Ok(true)
    }

    /// Halts a plan on its own: the scheduler, on finding a plan in progress past a breached guard of its flag.
    /// Back to 0% through a config change as well. Returns the revisions bumped, or `None` when there was
    /// nothing to halt (the plan changed since it was found).
    pub async fn halt_plan(&self, found: &PlanToHalt) -> StoreResult<Option<Vec<(String, u64)>>> {
        let mut tx = self.begin_write().await?;
        let system = Actor::system(PLAN_ACTOR);
        let detail = json!({ "guard": found.guard, "evidence": found.evidence });
        let (flag, environment) = (&found.flag, &found.environment);
        let halted = self.halt_in(&mut tx, flag, environment, Some(found.version), true, &system, &detail).await?;
        let Some((_, audit)) = halted else {
            return Ok(None);
        };
        Ok(Some(tx.commit(audit).await?))
    }

    #[allow(clippy::too_many_arguments)]
    async fn halt_in(
        &self,
        tx: &mut WriteTx,
        flag: &str,
        environment: &str,
        version: Option<u64>,
        rollback: bool,
        actor: &Actor,
        detail: &Value,
    ) -> StoreResult<Option<(PlanRecord, Audit)>> {
        super::flags::lock_flag(tx, flag).await?;
        let Some(plan) = fetch_plan(tx.conn(), flag, environment).await? else { return Ok(None) };
        if !plan.state.in_progress() || version.is_some_and(|v| v != plan.version) {
            return Ok(None);
        }
        let mut next = next_of(&plan, tx, actor);
        next.state = PlanState::Halted;
        next.step_ends_at = None;
        next.remaining_ms = None;
        if rollback {
            serve(self, tx, &mut next, "config.plan.halt", actor).await?;
        }
        record(tx, &next, "halted", actor, Some(detail)).await?;
        save(tx, &next).await?;
        let audit = plan_audit(actor, "plan.halt", Some(&plan), Some(&next)).detail(detail.clone());
        Ok(Some((next, audit)))
    }
}
