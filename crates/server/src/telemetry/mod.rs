//! Telemetry: logging (`tracing`, text or JSON), the Prometheus metrics served at `/metrics`, and the
//! in-memory counts of flag usage.
//!
//! Used by every layer; uses none.

#[cfg(test)]
mod deploy_tests;
pub mod exposition;
mod flag_counters;
pub mod logging;
pub mod metrics;
pub mod propagation;
pub mod usage;
pub mod webhooks;
