//! Jobs that run once cluster-wide, on the replica that holds the lock: leadership itself, the guard loop,
//! the rollout-plan scheduler and the scheduled changes it applies, the webhook sender.
//!
//! Uses [`crate::domain`], [`crate::ingest`] (to flush before a guard check), [`crate::store`] and
//! [`crate::telemetry`].

pub mod guard_loop;
pub mod leader;
pub mod plan_scheduler;
pub mod prometheus_source;
pub mod scheduled_changes;
pub mod webhooks;
