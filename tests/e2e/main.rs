//! End-to-end: server replicas sharing one fresh PostgreSQL database per test, real SDK clients following them
//! over real HTTP and server-sent events. Every wait has a deadline ([`cluster::PATIENCE`]); no test asserts on
//! timings.

mod cluster;

mod db_connection;
mod guards;
mod partition;
mod plans;
mod propagation;
mod restart;
