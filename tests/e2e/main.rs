//! End-to-end: server replicas sharing one fresh PostgreSQL database per test, real SDK clients following them
//! over real HTTP and server-sent events. The replicas run in this process, except in [`kill`], which runs the
//! `pennon` binary (build it first: `cargo build -p pennon-server`) to kill it. Every wait has a deadline
//! ([`cluster::PATIENCE`]); no test asserts on timings.

mod cluster;

mod comeback;
mod db_connection;
mod guards;
mod kill;
mod monitoring;
mod monotonic;
mod partition;
mod plans;
mod process;
mod prometheus;
mod propagation;
mod relay;
mod relay_guard;
mod relay_key;
mod relay_process;
mod restart;
mod revocation;
mod sessions;
mod usage;
mod webhook_kill;
