//! The application: the command line and its settings, startup, and the state every handler and job shares.
//!
//! The top of the layers: it builds the state from the [`crate::store`], [`crate::delivery`], [`crate::auth`]
//! and [`crate::ingest`] parts, mounts the [`crate::http`] router and starts the [`crate::jobs`]. Other layers
//! use only [`state::AppState`] from here (the handle axum gives every handler) and the settings in [`config`].

pub mod cli;
pub mod config;
pub mod relay_config;
pub mod startup;
pub mod state;
