//! Where a guard reads its numbers: the SDK metrics intake (the default), or a Prometheus server queried with
//! PromQL templates.
//!
//! A Prometheus source names one template per number an arm needs: `events` and `requests` for a rate
//! guard (events per request), `sum`, `count` and `sum_squares` for a mean guard (the test estimates the
//! variance from them, as it does from the SDK's batches). Each template is evaluated once per arm, with
//! the placeholders filled in:
//!
//! - `{{flag}}`, `{{environment}}`, `{{variant}}`: the keys, escaped for a PromQL string (a label value);
//! - `{{range}}`: the time since the guard's data start, as a PromQL duration in whole seconds (`845s`).
//!
//! The statistics are cumulative from the guard's start, as the sequential test assumes, so every template
//! must count over `{{range}}`, typically `sum(increase(http_requests_total{variant="{{variant}}"}[{{range}}]))`,
//! and tell the arms apart with `{{variant}}`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use pennon_engine::Problem;
use pennon_engine::guards::Statistic;

/// Where a guard reads its numbers. JSON: `{"kind": "sdk"}` or `{"kind": "prometheus", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GuardSource {
    /// The metrics SDKs send (`track()` and exposures), through `POST /api/v1/sdk/metrics`.
    #[default]
    Sdk,
    /// Instant PromQL queries against a Prometheus server, every guard interval.
    Prometheus(PrometheusSource),
}

/// A Prometheus source: the server and one template per number an arm needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// The Prometheus server, e.g. `http://prometheus:9090`; without it the server's `--prometheus-url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Rate guards: events (errors, conversions) of the arm since the guard's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<String>,
    /// Rate guards: requests (exposures) of the arm since the guard's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<String>,
    /// Mean guards: the sum of the observed values of the arm since the guard's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<String>,
    /// Mean guards: how many values were observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    /// Mean guards: the sum of the squares of the observed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_squares: Option<String>,
}

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 4] = ["flag", "environment", "variant", "range"];

/// What fills a template's placeholders for one arm.
#[derive(Debug, Clone, Copy)]
pub struct Fill<'a> {
    /// Flag key.
    pub flag: &'a str,
    /// Environment key.
    pub environment: &'a str,
    /// The arm's variant.
    pub variant: &'a str,
    /// Seconds since the guard's data start (at least 1).
    pub range_secs: u64,
}

impl PrometheusSource {
    /// The templates a statistic needs, by field name: all must be given, and no others.
    pub fn templates(&self, statistic: Statistic) -> Vec<(&'static str, Option<&str>)> {
        match statistic {
            Statistic::Rate => vec![("events", self.events.as_deref()), ("requests", self.requests.as_deref())],
            Statistic::Mean => vec![
                ("sum", self.sum.as_deref()),
                ("count", self.count.as_deref()),
                ("sum_squares", self.sum_squares.as_deref()),
            ],
        }
    }

    /// Every problem, located under `source.`: a bad URL, a missing, unneeded, overlong or malformed template.
    /// `has_default_url` says whether the server has a `--prometheus-url` to fall back on.
    pub fn validate(&self, statistic: Statistic, has_default_url: bool, max_query_bytes: usize) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: &str, message: String| {
            problems.push(Problem { path: format!("source.{path}"), message });
        };
        match self.url.as_deref() {
            Some(text) => {
                if let Err(e) = check_url(text) {
                    problem("url", e);
                }
            }
            None if !has_default_url => {
                problem("url", "required: the server has no --prometheus-url".to_owned());
            }
            None => {}
        }
        for (field, template) in self.templates(statistic) {
            match template {
                None => problem(field, format!("required for a {} guard", statistic_name(statistic))),
                Some(t) => {
                    if let Err(e) = check_template(t, max_query_bytes) {
                        problem(field, e);
                    }
                }
            }
        }
        let other = match statistic {
            Statistic::Rate => Statistic::Mean,
            Statistic::Mean => Statistic::Rate,
        };
        for (field, template) in self.templates(other) {
            if template.is_some() {
                problem(field, format!("not used by a {} guard", statistic_name(statistic)));
            }
        }
        problems
    }
}

fn statistic_name(statistic: Statistic) -> &'static str {
    match statistic {
        Statistic::Rate => "rate",
        Statistic::Mean => "mean",
    }
}

/// An http(s) URL without credentials, query or fragment.
pub fn check_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err("must not carry credentials, a query or a fragment".into());
    }
    Ok(())
}

/// A template: not empty, not too long, no control characters, only known placeholders, and both
/// `{{variant}}` (to tell the arms apart) and `{{range}}` (to count from the guard's start).
pub fn check_template(template: &str, max_bytes: usize) -> Result<(), String> {
    if template.trim().is_empty() {
        return Err("must be a PromQL expression".into());
    }
    if template.len() > max_bytes {
        return Err(format!("must be at most {max_bytes} bytes"));
    }
    if template.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("must not contain control characters".into());
    }
    let mut rest = template;
    let mut seen = Vec::new();
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("has a {{ without its }}")?;
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{{{name}}}}}; known: {{{{flag}}}}, {{{{environment}}}}, {{{{variant}}}}, {{{{range}}}}"
            ));
        }
        seen.push(name);
        rest = &after[end + 2..];
    }
    for needed in ["variant", "range"] {
        if !seen.contains(&needed) {
            return Err(format!("must use {{{{{needed}}}}}"));
        }
    }
    Ok(())
}

/// A value as the inside of a PromQL double-quoted string.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The template with its placeholders filled in (a template that passed [`check_template`]).
pub fn render(template: &str, fill: Fill<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match after[..end].trim() {
            "flag" => out.push_str(&escape_label_value(fill.flag)),
            "environment" => out.push_str(&escape_label_value(fill.environment)),
            "variant" => out.push_str(&escape_label_value(fill.variant)),
            "range" => {
                let _ = write!(out, "{}s", fill.range_secs.max(1));
            }
            other => {
                let _ = write!(out, "{{{{{other}}}}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(json: &str) -> GuardSource {
        serde_json::from_str(json).expect("a source")
    }

    #[test]
    fn reads_both_kinds_and_refuses_unknown_fields() {
        assert_eq!(source(r#"{"kind": "sdk"}"#), GuardSource::Sdk);
        let GuardSource::Prometheus(p) =
            source(r#"{"kind": "prometheus", "events": "e{{variant}}[{{range}}]", "requests": "r"}"#)
        else {
            panic!("prometheus")
        };
        assert_eq!(p.requests.as_deref(), Some("r"));
        assert!(serde_json::from_str::<GuardSource>(r#"{"kind": "prometheus", "evnts": "x"}"#).is_err());
        assert!(serde_json::from_str::<GuardSource>(r#"{"kind": "graphite"}"#).is_err());
    }

    #[test]
    fn renders_escaped_values_and_the_range() {
        let fill = Fill { flag: "new-checkout", environment: "prod", variant: "a\"b\\c", range_secs: 845 };
        let out = render(r#"sum(increase(errors_total{flag="{{flag}}", v="{{ variant }}"}[{{range}}]))"#, fill);
        assert_eq!(out, r#"sum(increase(errors_total{flag="new-checkout", v="a\"b\\c"}[845s]))"#);
        let zero = Fill { range_secs: 0, ..fill };
        assert_eq!(render("x[{{range}}]", zero), "x[1s]");
    }

    #[test]
    fn validation_names_each_field() {
        let GuardSource::Prometheus(p) = source(
            r#"{"kind": "prometheus", "url": "ftp://x", "events": "errors_total[{{range}}]",
                "requests": "r{v=\"{{variant}}\"}[{{range}}] {{user}}", "sum": "s"}"#,
        ) else {
            panic!("prometheus")
        };
        let problems = p.validate(Statistic::Rate, true, 4096);
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["source.url", "source.events", "source.requests", "source.sum"]);
        assert!(problems[1].message.contains("{{variant}}"), "{}", problems[1].message);
        assert!(problems[2].message.contains("unknown placeholder {{user}}"), "{}", problems[2].message);

        let none =
            PrometheusSource { url: None, events: None, requests: None, sum: None, count: None, sum_squares: None };
        let paths: Vec<String> = none.validate(Statistic::Mean, false, 4096).into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["source.url", "source.sum", "source.count", "source.sum_squares"]);
        assert!(check_template(&"x{{variant}}{{range}}".repeat(100), 100).is_err());
        assert!(check_url("http://user:pw@prom:9090").is_err());
        assert!(check_url("http://prom:9090/prefix").is_ok());
    }
}
