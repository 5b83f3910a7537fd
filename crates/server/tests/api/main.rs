//! Behaviour tests of the server over real HTTP, each on a fresh database, each run on SQLite and PostgreSQL.

mod helpers;
mod proxy;

mod environments;
mod failed_writes;
mod openapi;
mod outage;
mod ops;
mod shutdown;
