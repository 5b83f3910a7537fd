//! HTTP around the API: the router and its one route layer (request metrics, CORS on the evaluation routes,
//! the body limit), the request span, the error answer (`application/problem+json`), the accept loop and
//! the clocks of each connection (polled only when they woke its task), the socket's write stall guard, the operations endpoints and the embedded
//! dashboard.
//!
//! May use every layer below it; [`crate::api`] and [`crate::auth`] use its [`error`] type.

pub mod catch_panic;
pub mod connection;
pub mod cors;
pub mod cors_step;
pub mod dashboard;
pub mod error;
pub mod listener;
pub mod ops;
pub mod request_span;
pub mod route_layer;
pub mod router;
pub mod serve;
pub mod woken_apart;
