//! Scheduled changes: run by the rollout-plan scheduler within its tick, on the replica that leads it. Each
//! due change is applied in its own transaction, which claims it, so a change applies once whatever restarts
//! or replicas (two replicas that both believe they lead cannot both claim it). Everything lives in the
//! database: a change due while no server ran is applied at the first round after start.

use crate::app::state::AppState;
use crate::store::{ScheduleOutcome, StoreError, StoreResult, now_millis};

/// Most changes applied in one round; the rest wait for the next tick.
const PER_ROUND: u32 = 100;

/// One round: applies every due change. Returns how many were applied or failed.
pub async fn round(state: &AppState) -> StoreResult<usize> {
    let mut done = 0;
    for id in state.store.due_scheduled(now_millis(), PER_ROUND).await? {
        match state.store.apply_scheduled(id).await {
            Ok(ScheduleOutcome::Applied { version, revisions }) => {
                state.snapshots.after_commit(&revisions).await;
                tracing::info!(id, version, "scheduled change applied");
                done += 1;
            }
            Ok(ScheduleOutcome::Failed(reason)) => {
                tracing::warn!(id, %reason, "scheduled change failed");
                done += 1;
            }
            Ok(ScheduleOutcome::Gone) => {}
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            Err(e) => tracing::warn!(id, error = %e, "scheduled change cannot be applied now; trying again next tick"),
        }
    }
    Ok(done)
}
