//! End-to-end: server replicas sharing one fresh PostgreSQL database per test, real SDK clients following them
//! over real HTTP and server-sent events. The replicas run in this process, except in [`kill`], which runs the
//! `pennon` binary (build it first: `cargo build -p pennon-server`) to kill it. Every wait has a deadline
//! ([`cluster::PATIENCE`]); no test asserts on timings.

mod cluster;

mod db_connection;
mod guards;
mod kill;
mod partition;
mod plans;
mod process;
mod propagation;
mod restart;
