//! Behaviour tests of the server over real HTTP, each on a fresh database, each run on SQLite and PostgreSQL.

mod helpers;

mod environments;
mod openapi;
mod ops;
mod shutdown;
