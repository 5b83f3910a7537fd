//! Rules that are neither HTTP nor SQL: what a rollout plan is, how a draft is checked and which split each
//! step serves, what a webhook selects and signs, what a trigger URL does with a notification. Pure like the
//! engine: no database, no requests, no clock reads.
//!
//! Uses only the engine; [`crate::store`] keeps these types, every layer above may use them.

pub mod config_diff;
pub mod guard_sources;
pub mod lifecycle;
pub mod origins;
pub mod plans;
pub mod scheduled;
pub mod triggers;
pub mod unleash;
pub mod webhooks;
