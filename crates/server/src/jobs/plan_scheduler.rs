//! The rollout-plan scheduler: every tick (`--plan-tick`, default 1 s) and when a step is due, on the one
//! replica that holds the [`PLAN_SCHEDULER`](crate::jobs::leader::PLAN_SCHEDULER) lock, each plan in progress whose
//! flag has a breached guard in its environment is halted (back to 0%), and each running plan whose hold has
//! passed gets its next step; then the scheduled changes that are due are applied
//! ([`crate::jobs::scheduled_changes`]).
//! Everything it needs lives in the database (the step served, when its hold ends), so a restart or a change
//! of leader picks up where the last one stopped. Its writes are version-checked: a plan changed by someone in
//! the meantime is left for the next tick, and two replicas that both believe they lead cannot both apply.
//! A breach found by the guard loop halts the plan in the breach's own transaction; the scheduler's halt is
//! the safety net behind it.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::state::AppState;
use crate::jobs::leader::Leader;
use crate::store::{StoreError, StoreResult, now_millis};

/// Runs a round every `tick` while this replica holds `leader`, until `stop`; then gives leadership up.
pub async fn run(state: AppState, leader: Leader, tick: Duration, mut stop: watch::Receiver<bool>) {
    let mut wait = tick;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        wait = tick;
        if !leader.is_leader() {
            continue;
        }
        if let Err(e) = round(&state).await {
            tracing::debug!(error = %e, "plan scheduler round failed; trying again next tick");
        }
        if let Err(e) = crate::jobs::scheduled_changes::round(&state).await {
            tracing::debug!(error = %e, "scheduled changes round failed; trying again next tick");
        }
        // Wake up when the next step is due rather than at the tick after it (a step due in the past, one
        // that could not be applied, waits for the next tick).
        let plans = state.store.next_due().await.ok().flatten();
        let changes = state.store.next_scheduled().await.ok().flatten();
        if let Some(next) = plans.into_iter().chain(changes).min() {
            let left = next - now_millis();
            if left > 0 {
                wait = wait.min(Duration::from_millis(left as u64 + 1));
            }
        }
    }
    leader.stop().await;
}

/// One round: halts, then advances. Returns how many plans moved.
pub async fn round(state: &AppState) -> StoreResult<usize> {
    let mut moved = 0;
    for found in state.store.plans_to_halt().await? {
        match state.store.halt_plan(&found).await {
            Ok(Some(revisions)) => {
                state.snapshots.after_commit(&revisions).await;
                tracing::warn!(flag = %found.flag, environment = %found.environment, guard = found.guard, "rollout plan halted by a breached guard");
                moved += 1;
            }
            Ok(None) | Err(StoreError::VersionConflict { .. }) => {}
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(flag = %found.flag, environment = %found.environment, error = %e, "rollout plan cannot be halted");
            }
        }
    }
    for due in state.store.due_plans(now_millis()).await? {
        match state.store.advance_plan(&due).await {
            Ok(Some(revisions)) => {
                state.snapshots.after_commit(&revisions).await;
                tracing::info!(flag = %due.flag, environment = %due.environment, "rollout plan advanced");
                moved += 1;
            }
            Ok(None) | Err(StoreError::VersionConflict { .. }) => {}
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(flag = %due.flag, environment = %due.environment, error = %e, "rollout plan cannot advance");
            }
        }
    }
    Ok(moved)
}
