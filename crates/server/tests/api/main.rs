//! Behaviour tests of the server over real HTTP, each on a fresh database, each run on SQLite and PostgreSQL.

mod helpers;
use pennon_tests::proxy;
mod sse;

mod admin_stream;
mod audit;
mod auth;
mod authz_matrix;
mod concurrency;
mod config_history;
mod config_rules;
mod configs;
mod cors;
mod environments;
mod evaluate;
mod failed_writes;
mod flag_setup;
mod flag_states;
mod flags;
mod guard_loop;
mod guards;
mod keys;
mod leader;
mod metrics_intake;
mod ofrep;
mod openapi;
mod ops;
mod outage;
mod plans;
mod plans_guards;
mod plans_rollout;
mod restart;
mod sdk_metrics;
mod sdk_stream;
mod segments;
mod shutdown;
