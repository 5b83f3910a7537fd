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
//! The allowed origins live in memory in an [`OriginTable`], rebuilt whenever the list of environments is
//! (see [`crate::delivery::snapshots::Snapshots::refresh_all`]), so a change made on any replica reaches every replica
//! without a restart.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

pub use crate::http::cors_step::{ClientCors, CorsStep};
use pennon_engine::Problem as FieldProblem;

use crate::http::error::ApiError;

/// The entry that allows every origin; it must stand alone.
pub const ANY_ORIGIN: &str = "*";

/// At most this many origins per environment.
pub const MAX_ORIGINS: usize = 100;

/// How long browsers may cache a preflight answer.
pub(crate) const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(300);

/// Checks and normalises an environment's allowed origins. Each is `http(s)://host[:port]` with no path,
/// query, fragment or user; scheme and host are lower-cased, a default port is dropped and a unicode host
/// becomes punycode, which is how browsers send the `Origin` header. Duplicates are dropped. Invalid lists
/// answer 422 with every problem, each naming its entry, e.g. `allowed_origins[1]`.
pub fn check_origins(origins: &[String]) -> Result<Vec<String>, ApiError> {
    const FIELD: &str = "allowed_origins";
    if origins.len() > MAX_ORIGINS {
        return Err(ApiError::invalid(FIELD, format!("at most {MAX_ORIGINS} origins")));
    }
    if origins.iter().any(|o| o == ANY_ORIGIN) && origins.len() > 1 {
        return Err(ApiError::invalid(FIELD, "\"*\" allows every origin and must be the only entry"));
    }
    let mut checked: Vec<String> = Vec::with_capacity(origins.len());
    let mut problems = Vec::new();
    for (i, origin) in origins.iter().enumerate() {
        match parse_origin(origin) {
            Ok(origin) if checked.contains(&origin) => {}
            Ok(origin) => checked.push(origin),
            Err(message) => problems.push(FieldProblem { path: format!("{FIELD}[{i}]"), message }),
        }
    }
    if problems.is_empty() { Ok(checked) } else { Err(ApiError::Invalid(problems)) }
}

/// One origin, normalised, or why it is not one.
fn parse_origin(text: &str) -> Result<String, String> {
    if text == ANY_ORIGIN {
        return Ok(text.to_owned());
    }
    let bad = |why: &str| {
        Err(format!("{text:?} is not an origin ({why}); write scheme://host[:port], e.g. https://app.example.com"))
    };
    if text.len() > 300 {
        return bad("too long");
    }
    if text.contains('*') {
        return bad("wildcards are not allowed inside an origin; \"*\" alone allows every origin");
    }
    let lower = text.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return bad("the scheme must be http or https");
    }
    let Ok(url) = url::Url::parse(text) else { return bad("it does not parse") };
    if url.host().is_none() {
        return bad("it has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("it must not carry a user");
    }
    if url.path() != "/" || text.ends_with('/') || url.query().is_some() || url.fragment().is_some() {
        return bad("it must not have a path, query or fragment, not even a trailing /");
    }
    Ok(url.origin().ascii_serialization())
}

/// Each environment's allowed origins, and every origin any environment allows.
#[derive(Debug, Default)]
struct Origins {
    by_environment: HashMap<String, Vec<String>>,
    anywhere: HashSet<String>,
    any_environment_allows_all: bool,
}

/// The allowed origins of every environment, in memory. Lock-free to read.
#[derive(Debug, Default)]
pub struct OriginTable {
    current: ArcSwap<Origins>,
}

impl OriginTable {
    /// Replaces the table with these (environment, allowed origins) pairs.
    pub fn replace<'a>(&self, environments: impl IntoIterator<Item = (&'a str, &'a [String])>) {
        let mut origins = Origins::default();
        for (environment, allowed) in environments {
            if allowed.is_empty() {
                continue;
            }
            origins.any_environment_allows_all |= allowed.iter().any(|o| o == ANY_ORIGIN);
            origins.anywhere.extend(allowed.iter().cloned());
            origins.by_environment.insert(environment.to_owned(), allowed.to_vec());
        }
        self.current.store(Arc::new(origins));
    }

    /// Whether `environment` allows `origin`.
    pub fn allows(&self, environment: &str, origin: &str) -> bool {
        self.current
            .load()
            .by_environment
            .get(environment)
            .is_some_and(|allowed| allowed.iter().any(|o| o == origin || o == ANY_ORIGIN))
    }

    /// Whether some environment allows `origin` (for preflights, which carry no credential).
    pub fn allowed_somewhere(&self, origin: &str) -> bool {
        let origins = self.current.load();
        origins.any_environment_allows_all || origins.anywhere.contains(origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> String {
        parse_origin(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        assert_eq!(ok("https://app.example.com"), "https://app.example.com");
        assert_eq!(ok("HTTPS://App.Example.COM:443"), "https://app.example.com");
        assert_eq!(ok("http://localhost:3000"), "http://localhost:3000");
        assert_eq!(ok("http://127.0.0.1:80"), "http://127.0.0.1");
        assert_eq!(ok("http://[::1]:8080"), "http://[::1]:8080");
        assert_eq!(ok("https://bücher.example"), "https://xn--bcher-kva.example");
        assert_eq!(ok("*"), "*");
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "app.example.com",
            "ftp://example.com",
            "https://example.com/",
            "https://example.com/app",
            "https://example.com?x=1",
            "https://example.com#top",
            "https://user:pw@example.com",
            "https://*.example.com",
            "https://",
            "https://example.com:99999",
            "null",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_problem_names_the_entry() {
        let e = check_origins(&["https://a.example".into(), "https://b.example/path".into()]).unwrap_err();
        let ApiError::Invalid(problems) = e else { panic!("{e:?}") };
        assert_eq!(problems.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), ["allowed_origins[1]"]);
        assert!(check_origins(&["*".into(), "https://a.example".into()]).is_err());
        let deduplicated = check_origins(&["https://a.example".into(), "https://A.example:443".into()]).unwrap();
        assert_eq!(deduplicated, ["https://a.example"]);
    }

    #[test]
    fn the_table_answers_per_environment_and_for_preflights() {
        let table = OriginTable::default();
        let production = ["https://app.example.com".to_owned()];
        let staging = ["*".to_owned()];
        table.replace([("production", &production[..]), ("development", &[][..])]);
        assert!(table.allows("production", "https://app.example.com"));
        assert!(!table.allows("production", "https://evil.example"));
        assert!(!table.allows("development", "https://app.example.com"));
        assert!(table.allowed_somewhere("https://app.example.com"));
        assert!(!table.allowed_somewhere("https://evil.example"));
        table.replace([("production", &production[..]), ("staging", &staging[..])]);
        assert!(table.allows("staging", "https://evil.example"));
        assert!(table.allowed_somewhere("https://evil.example"));
    }
}
