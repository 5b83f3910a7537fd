//! The SSE fan-out benchmark (`sse-fanout`): many SDK streams on one server, a write through the admin API,
//! and the time until every stream has the change. See `docs/benchmarks.md`.

pub mod os;
pub mod server;
pub mod sse;
pub mod subscribers;
