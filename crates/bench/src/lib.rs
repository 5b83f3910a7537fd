//! # pennon-bench
//!
//! Load generators and benchmark drivers for Pennon. The `http-eval` binary measures `POST /api/v1/evaluate`
//! against a constant-JSON axum endpoint on the same machine; see `docs/benchmarks.md`.

pub mod ceiling;
pub mod cpu;
pub mod fanout;
pub mod fixture;
pub mod load;
pub mod pennon;
pub mod scale;
pub mod stacks;
pub mod stats;
pub mod wire;
