//! Jobs that run once cluster-wide, on the replica that holds the lock: leadership itself, the guard loop and
//! the rollout-plan scheduler.
//!
//! Uses [`crate::domain`], [`crate::ingest`] (to flush before a guard check), [`crate::store`] and
//! [`crate::telemetry`].

pub mod guard_loop;
pub mod leader;
pub mod plan_scheduler;
