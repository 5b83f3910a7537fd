//! # pennon-server
//!
//! Pennon's HTTP service: storage (PostgreSQL or embedded SQLite), the admin REST API, evaluation for
//! callers, and delivery to SDKs.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod cors;
pub mod cors_service;
pub mod error;
pub mod guard_loop;
pub mod intake;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod plan_scheduler;
pub mod plans;
pub mod replication;
pub mod request_metrics;
pub mod request_span;
pub mod snapshots;
pub mod startup;
pub mod state;
pub mod store;
pub mod streams;
pub mod web;
