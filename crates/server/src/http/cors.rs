//! Cross-origin requests to the client-key endpoints (`POST /api/v1/evaluate`, OFREP).
//!
//! Each environment lists the web origins whose pages may call these endpoints with the environment's client
//! key (`allowed_origins`: `scheme://host[:port]`, or a lone `"*"` for any origin). Only those routes carry
//! the CORS layer; the admin API and the server-key SDK routes never answer with CORS headers.
//!
//! - A preflight (`OPTIONS`) carries no credential, so it is answered for an origin that *some* environment
//!   allows, with the methods and headers the endpoints take.
//! - The actual request gets `Access-Control-Allow-Origin` only when its credential is a client key and the
//!   key's environment allows the origin. Server keys are secrets that belong on servers, and admin
//!   credentials are for the dashboard on Pennon's own origin: neither is ever allowed cross-origin.
//!
//! The allowed origins live in memory in an `OriginTable`, rebuilt whenever the list of environments is
//! ([`crate::delivery::origins`]), so a change made on any replica reaches every replica
//! without a restart.

use std::time::Duration;

pub use crate::http::cors_step::{ClientCors, CorsStep};

/// How long browsers may cache a preflight answer.
pub(crate) const PREFLIGHT_MAX_AGE: Duration = Duration::from_mins(5);
