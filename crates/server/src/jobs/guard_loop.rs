//! The guard loop: every `--guard-interval`, on the leader replica only, each guard of an enabled flag config is
//! checked against the metrics the SDKs sent, and a breached guard's action is applied.
//!
//! A round:
//! 1. writes this replica's aggregated SDK metrics first, so that the newest batch counts (other replicas
//!    write theirs every `--metrics-flush-interval`);
//! 2. for each guard: when it is breached and its flag's config has changed since the breach (a person
//!    turned the flag back on, or changed the rollout), starts it over: state `insufficient_data`, data from
//!    the next 10-second bucket (the current one still holds data of the breach). A breached guard stays breached otherwise, and guards of disabled configs are not checked;
//! 3. adds up both arms from the 10-second bucket holding `max(since, now − window)` up to now (the current,
//!    unfinished bucket included), runs [`evaluate_guard`], and stores the state and evidence;
//! 4. on a breach, writes the action, the breached state and the audited evidence in one transaction
//!    ([`Store::breach_guard`]), and catches the snapshots up, which pushes the change to every SDK stream.
//!    When a person changed the config or the guard in between, the write fails on its version check and the
//!    next round tries again with what is current.
//!
//! [`Store::breach_guard`]: crate::store::Store::breach_guard

use std::time::Duration;

use pennon_engine::guards::{ArmStats, GuardState, evaluate_guard};
use tokio::sync::watch;

use crate::app::state::AppState;
use crate::ingest::{BUCKET_MS, bucket_of};
use crate::jobs::leader::Leader;
use crate::store::{GuardToCheck, StoreError, StoreResult, VariantTotals, now_millis};

/// What one round did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Guards checked.
    pub checked: usize,
    /// Guards that breached (and whose action was written).
    pub breached: usize,
    /// Breached guards started over after their flag changed.
    pub reset: usize,
}

/// Runs until `stop` turns true: a round every `interval` while this replica is the leader. Gives leadership
/// up on the way out.
pub async fn run(state: AppState, leader: Leader, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        if !leader.is_leader() {
            continue;
        }
        match round(&state).await {
            Ok(r) if r.breached > 0 || r.reset > 0 => {
                tracing::info!(checked = r.checked, breached = r.breached, reset = r.reset, "guard round");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "guard round failed; trying again at the next one"),
        }
    }
    leader.stop().await;
}

fn arm(totals: &[VariantTotals], variant: Option<&str>) -> ArmStats {
    let Some(variant) = variant else { return ArmStats::default() };
    totals.iter().find(|t| t.variant == variant).map_or_else(ArmStats::default, |t| ArmStats {
        exposures: t.exposures,
        count: t.count,
        sum: t.sum,
        sum_squares: t.sum_squares,
    })
}

/// One round over every guard (see the module docs). Errors of one guard are logged and do not stop the
/// others; an error reading the guards ends the round.
pub async fn round(state: &AppState) -> StoreResult<Round> {
    if let Err(e) = state.intake.flush(&state.store).await {
        tracing::warn!(error = %e, "could not write this replica's SDK metrics before checking guards");
    }
    let mut done = Round::default();
    for item in state.store.guards_to_check().await? {
        let (flag, environment, id) = (item.guard.flag.clone(), item.guard.environment.clone(), item.guard.id);
        match check(state, item, &mut done).await {
            Ok(()) => {}
            Err(StoreError::VersionConflict { .. }) => {
                tracing::debug!(flag, environment, guard = id, "guard or config changed during the check; next round");
            }
            Err(e) => tracing::warn!(flag, environment, guard = id, error = %e, "guard check failed"),
        }
    }
    Ok(done)
}

async fn check(state: &AppState, item: GuardToCheck, done: &mut Round) -> StoreResult<()> {
    let GuardToCheck { guard, config_enabled, config_version } = item;
    if !config_enabled {
        return Ok(());
    }
    if guard.state == GuardState::Breached {
        if guard.breach_config_version.is_none_or(|v| config_version > v)
            && state.store.reset_guard(&guard, config_version, bucket_of(now_millis()) + BUCKET_MS).await?
        {
            tracing::info!(
                flag = guard.flag,
                environment = guard.environment,
                guard = guard.id,
                "guard reset: its flag changed after the breach"
            );
            done.reset += 1;
        }
        // Its data start now: nothing to check yet.
        return Ok(());
    }
    let now = now_millis();
    let since = bucket_of(guard.since.max(now.saturating_sub(guard.draft.window_ms)));
    let d = &guard.draft;
    let totals = state.store.metric_totals(&guard.environment, &guard.flag, &d.spec.metric, since, i64::MAX).await?;
    let treatment = arm(&totals, Some(&d.variant));
    let control = arm(&totals, d.control.as_deref());
    let verdict = evaluate_guard(&d.spec, &control, &treatment);
    done.checked += 1;
    if verdict.state == GuardState::Breached {
        let breach = state.store.breach_guard(&guard, &verdict, config_version).await?;
        state.snapshots.after_commit(&breach.revisions).await;
        done.breached += 1;
        tracing::warn!(
            flag = guard.flag,
            environment = guard.environment,
            guard = guard.id,
            action = ?d.action,
            p_value = verdict.evidence.p_value,
            treatment = verdict.evidence.treatment.value,
            control = verdict.evidence.control.value,
            "guard breached; action applied"
        );
    } else {
        state.store.record_guard_check(&guard, &verdict).await?;
    }
    Ok(())
}
