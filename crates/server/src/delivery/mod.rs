//! Delivery: what evaluation reads and what SDKs receive. The in-memory snapshots (caught up from the change
//! log after every commit), replication between replicas (PostgreSQL `LISTEN`/`NOTIFY`), the Server-Sent
//! Events streams and their frames, the evaluation JSON written ahead per snapshot, and the metrics guards
//! watch (what the SDK metrics intake keeps).
//!
//! Uses [`crate::store`], [`crate::telemetry`] and the engine; nothing here knows of HTTP requests except the
//! stream bodies it hands to the API.

pub mod env_snapshot;
pub mod evaluation_json;
pub mod origins;
pub mod replication;
pub mod snapshots;
pub mod streams;
pub mod watched;
