//! The rollout-plan scheduler: every tick (`--plan-tick`, default 1 s), on the one replica that leads, each
//! running plan whose hold has passed gets its next step, and each plan in progress whose flag has a breached
//! guard in its environment is halted. Everything it needs lives in the database (the step served, when its
//! hold ends), so a restart or a change of leader picks up where the last one stopped. Its writes are
//! version-checked: a plan changed by someone in the meantime is left for the next tick.

use std::time::Duration;

use crate::state::AppState;
use crate::store::{StoreError, StoreResult, now_millis};

/// Runs rounds every `tick` while `is_leader()` holds, until the task is dropped.
pub async fn run(state: AppState, tick: Duration, is_leader: impl Fn() -> bool + Send + 'static) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if !is_leader() {
            continue;
        }
        if let Err(e) = round(&state).await {
            tracing::debug!(error = %e, "plan scheduler round failed; trying again next tick");
        }
    }
}

/// One round: halts, then advances. Returns how many plans moved.
pub async fn round(state: &AppState) -> StoreResult<usize> {
    let mut moved = 0;
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
