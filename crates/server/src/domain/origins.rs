//! Web origins an environment allows to call the client-key endpoints from a browser: how an entry is
//! checked and normalised (as browsers send the `Origin` header). The CORS policy that applies them is in
//! [`crate::http::cors`]; the table every request reads, in [`crate::delivery::origins`].

use pennon_engine::Problem as FieldProblem;

/// The entry that allows every origin; it must stand alone.
pub const ANY_ORIGIN: &str = "*";

/// At most this many origins per environment.
pub const MAX_ORIGINS: usize = 100;

/// Checks and normalises an environment's allowed origins. Each is `http(s)://host[:port]` with no path,
/// query, fragment or user; scheme and host are lower-cased, a default port is dropped and a unicode host
/// becomes punycode, which is how browsers send the `Origin` header. Duplicates are dropped. Invalid lists
/// give every problem, each naming its entry, e.g. `allowed_origins[1]`.
pub fn check_origins(origins: &[String]) -> Result<Vec<String>, Vec<FieldProblem>> {
    const FIELD: &str = "allowed_origins";
    if origins.len() > MAX_ORIGINS {
        return Err(one(FIELD, format!("at most {MAX_ORIGINS} origins")));
    }
    if origins.iter().any(|o| o == ANY_ORIGIN) && origins.len() > 1 {
        return Err(one(FIELD, "\"*\" allows every origin and must be the only entry".into()));
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
    if problems.is_empty() { Ok(checked) } else { Err(problems) }
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

fn one(path: &str, message: String) -> Vec<FieldProblem> {
    vec![FieldProblem { path: path.to_owned(), message }]
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
        let problems = e;
        assert_eq!(problems.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), ["allowed_origins[1]"]);
        assert!(check_origins(&["*".into(), "https://a.example".into()]).is_err());
        let deduplicated = check_origins(&["https://a.example".into(), "https://A.example:443".into()]).unwrap();
        assert_eq!(deduplicated, ["https://a.example"]);
    }
}
