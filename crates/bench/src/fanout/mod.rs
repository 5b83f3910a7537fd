//! The SSE fan-out benchmarks (`sse-fanout`; `relay-fanout`, through relays): many SDK streams, a write
//! through the admin API, and the time until every stream has the change. See `docs/benchmarks.md`.

pub mod evaluation;
pub mod os;
pub mod relay;
pub mod server;
pub mod sse;
pub mod subscribers;
