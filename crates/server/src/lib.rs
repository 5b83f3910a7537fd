//! # pennon-server
//!
//! Pennon's HTTP service: storage (PostgreSQL or embedded SQLite), the admin REST API, evaluation for
//! callers, and delivery to SDKs.

pub mod error;
pub mod store;
