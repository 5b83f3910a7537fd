//! Telemetry: logging (`tracing`, text or JSON) and the Prometheus metrics served at `/metrics`.
//!
//! Used by every layer; uses none.

pub mod logging;
pub mod metrics;
