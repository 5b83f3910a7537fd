//! The guard loop: every `--guard-interval`, on the leader replica only, each guard of an enabled flag config is
//! checked against the metrics the SDKs sent, and a breached guard's action is applied.
//!
//! A round:
//! 1. writes this replica's aggregated SDK metrics first, so that the newest batch counts (other replicas
//!    write theirs every `--metrics-flush-interval`);
//! 2. for each guard: when it is breached and its flag's config has changed since the breach (a person
//!    turned the flag back on, or changed the rollout), starts it over: state `insufficient_data`, data from
//!    the next 10-second bucket (the current one still holds data of the breach). A breached guard stays breached otherwise, and guards of disabled configs are not checked;
//! 3. for a guard with a Prometheus source, reads both arms with its PromQL templates over `{{range}}`, the
//!    time since the guard's start ([`crate::jobs::prometheus_source`]); a query that fails or finds no
//!    series is stored as the guard's `source_error` and decides nothing. Otherwise it
//!    adds up both arms over every bucket that starts at or after the guard's start (creation, last change or
//!    reset), up to now, the current unfinished bucket included ([`counted_from`]): the statistics are
//!    cumulative, as the engine's always-valid test assumes. The guard's `window` shapes its charts only; a
//!    bucket that starts before the guard never counts, so data sent before a guard existed cannot breach it.
//!    It runs [`evaluate_guard`] ([`verdict_of`]) and stores the state and evidence;
//! 4. on a breach, writes the action, the breached state and the audited evidence in one transaction
//!    ([`Store::breach_guard`]), and catches the snapshots up, which pushes the change to every SDK stream.
//!    When a person changed the config or the guard in between, the write fails on its version check and the
//!    next round tries again with what is current.
//!
//! The guarantee (the engine's, see [`pennon_engine::guards`]): for a guard whose treatment is in fact within
//! its threshold, the chance that it ever breaches during its life is at most `alpha`, however often it is
//! checked, provided samples are independent, the metric buckets of the guard's life are still kept
//! (`--metrics-retention`), and the guard is not changed (a change or reset starts a new test).
//!
//! [`Store::breach_guard`]: crate::store::Store::breach_guard

use std::time::Duration;

use pennon_engine::guards::{ArmStats, GuardState, GuardVerdict, Threshold, evaluate_guard};
use tokio::sync::watch;

use crate::app::state::AppState;
use crate::domain::guard_sources::{Fill, GuardSource, PrometheusSource};
use crate::ingest::{BUCKET_MS, bucket_of};
use crate::jobs::leader::Leader;
use crate::jobs::prometheus_source::{self, Target};
use crate::store::{Guard, GuardToCheck, StoreError, StoreResult, VariantTotals, now_millis};

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

/// The start of the first bucket a guard's test counts: the first that starts at or after the guard's start.
/// Data of a bucket that started before the guard never count toward it.
pub fn counted_from(guard_since: i64) -> i64 {
    crate::ingest::first_bucket_from(guard_since)
}

/// The verdict of a guard on the cumulative totals of its arms (as [`crate::store::Store::metric_totals`]
/// reads them over the buckets from [`counted_from`]).
pub fn verdict_of(guard: &Guard, totals: &[VariantTotals]) -> GuardVerdict {
    let d = &guard.draft;
    let treatment = arm(totals, Some(&d.variant));
    let control = arm(totals, d.control.as_deref());
    evaluate_guard(&d.spec, &control, &treatment)
}

/// What [`check_at`] did with one guard.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// Not checked: its flag is off, or it is breached and its flag has not changed since.
    Skipped,
    /// A breached guard started over after its flag changed.
    Reset,
    /// Checked; a breach has been written with its action.
    Verdict(Box<GuardVerdict>),
    /// Its source could not be read (a Prometheus query failed or found no series): the error is stored
    /// as the guard's `source_error`, and nothing was decided.
    SourceError(String),
}

/// One round over every guard (see the module docs). Errors of one guard are logged and do not stop the
/// others; an error reading the guards ends the round.
pub async fn round(state: &AppState) -> StoreResult<Round> {
    if let Err(e) = state.intake.flush(&state.store).await {
        tracing::warn!(error = %e, "could not write this replica's SDK metrics before checking guards");
    }
    let mut done = Round::default();
    let mut states = Vec::new();
    for item in state.store.guards_to_check().await? {
        let (flag, environment, id) = (item.guard.flag.clone(), item.guard.environment.clone(), item.guard.id);
        let mut now_in = item.guard.state;
        match check_at(state, item, now_millis()).await {
            Ok(Checked::Skipped) => {}
            Ok(Checked::SourceError(error)) => {
                state.metrics.guard_source_errors.inc();
                tracing::debug!(flag, environment, guard = id, error, "guard source could not be read");
            }
            Ok(Checked::Reset) => {
                done.reset += 1;
                now_in = GuardState::InsufficientData;
            }
            Ok(Checked::Verdict(v)) => {
                done.checked += 1;
                done.breached += usize::from(v.state == GuardState::Breached);
                state.metrics.guard_checks.inc();
                if v.state == GuardState::Breached {
                    state.metrics.guard_breaches.inc();
                }
                now_in = v.state;
            }
            Err(StoreError::VersionConflict { .. }) => {
                tracing::debug!(flag, environment, guard = id, "guard or config changed during the check; next round");
            }
            Err(e) => tracing::warn!(flag, environment, guard = id, error = %e, "guard check failed"),
        }
        states.push((environment, flag, id, state_label(now_in)));
    }
    state.metrics.set_guard_states(&states);
    Ok(done)
}

/// Both arms of a guard with a Prometheus source, read over the time since the guard's start: (control,
/// treatment). An absolute threshold reads the treatment only.
async fn prometheus_arms(
    state: &AppState,
    guard: &Guard,
    source: &PrometheusSource,
    now: i64,
) -> Result<(ArmStats, ArmStats), String> {
    let url = source
        .url
        .as_deref()
        .or(state.config.prometheus_url.as_deref())
        .ok_or("the guard names no Prometheus url and the server has no --prometheus-url")?;
    let target = Target { url, timeout: state.config.prometheus_timeout };
    let d = &guard.draft;
    let range_secs = u64::try_from((now - guard.since + 999) / 1000).unwrap_or(1).max(1);
    let fill = |variant| Fill { flag: &guard.flag, environment: &guard.environment, variant, range_secs };
    let treatment = prometheus_source::arm(target, source, d.spec.statistic, fill(&d.variant)).await?;
    let control = match (&d.spec.threshold, d.control.as_deref()) {
        (Threshold::Relative(_), Some(control)) => {
            prometheus_source::arm(target, source, d.spec.statistic, fill(control)).await?
        }
        _ => ArmStats::default(),
    };
    Ok((control, treatment))
}

/// A guard state as a metric label.
fn state_label(state: GuardState) -> &'static str {
    match state {
        GuardState::InsufficientData => "insufficient_data",
        GuardState::Healthy => "healthy",
        GuardState::Breached => "breached",
    }
}

/// Checks one guard at `now` (Unix milliseconds): the function every round calls, with the clock passed in
/// so that simulations can drive it. Reads the arms' totals over the buckets from [`counted_from`] up to
/// `now`, decides with [`verdict_of`], and writes the verdict, or the breach and its action.
pub async fn check_at(state: &AppState, item: GuardToCheck, now: i64) -> StoreResult<Checked> {
    let GuardToCheck { guard, config_enabled, config_version } = item;
    if !config_enabled {
        return Ok(Checked::Skipped);
    }
    if guard.state == GuardState::Breached {
        if guard.breach_config_version.is_none_or(|v| config_version > v)
            && state.store.reset_guard(&guard, config_version, bucket_of(now) + BUCKET_MS).await?
        {
            tracing::info!(
                flag = guard.flag,
                environment = guard.environment,
                guard = guard.id,
                "guard reset: its flag changed after the breach"
            );
            return Ok(Checked::Reset);
        }
        // Its data start now: nothing to check yet.
        return Ok(Checked::Skipped);
    }
    let d = &guard.draft;
    let verdict = match &d.source {
        GuardSource::Sdk => {
            let totals = state
                .store
                .metric_totals(
                    &guard.environment,
                    &guard.flag,
                    &d.spec.metric,
                    counted_from(guard.since),
                    bucket_of(now) + 1,
                )
                .await?;
            verdict_of(&guard, &totals)
        }
        GuardSource::Prometheus(source) => {
            if now <= guard.since {
                return Ok(Checked::Skipped);
            }
            match prometheus_arms(state, &guard, source, now).await {
                Ok((control, treatment)) => evaluate_guard(&d.spec, &control, &treatment),
                Err(error) => {
                    state.store.record_guard_source_error(&guard, &error, now).await?;
                    return Ok(Checked::SourceError(error));
                }
            }
        }
    };
    if verdict.state == GuardState::Breached {
        let breach = state.store.breach_guard(&guard, &verdict, config_version).await?;
        state.snapshots.after_commit(&breach.revisions).await;
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
        state.store.record_guard_check(&guard, &verdict, now).await?;
    }
    Ok(Checked::Verdict(Box::new(verdict)))
}
