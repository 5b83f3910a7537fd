//! Rules that are neither HTTP nor SQL: what a rollout plan is, how a draft is checked and which split each
//! step serves. Pure like the engine: no database, no requests, no clock reads.
//!
//! Uses only the engine; [`crate::store`] keeps these types, every layer above may use them.

pub mod origins;
pub mod plans;
