//! # pennon-server
//!
//! Pennon's HTTP service: storage (PostgreSQL or embedded SQLite), the admin REST API, evaluation for
//! callers, and delivery to SDKs.
//!
//! The modules are layers; each may use the ones below it, never one above (see `docs/architecture.md`):
//!
//! | layer | holds |
//! | --- | --- |
//! | [`app`] | startup, the shared state, configuration, the command line |
//! | [`http`], [`api`], [`auth`] | the router and its layers, the REST resources, who is calling |
//! | [`delivery`], [`ingest`], [`jobs`] | snapshots and streams to SDKs; the metrics intake; leader-only jobs |
//! | [`domain`] | rules that are neither HTTP nor SQL (rollout plans) |
//! | [`store`] | SQL, on PostgreSQL and SQLite |
//!
//! [`telemetry`] (logging, Prometheus metrics) is used by every layer and uses none.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod relay;
pub mod store;
pub mod telemetry;
