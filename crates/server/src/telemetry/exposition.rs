//! The two text formats `/metrics` answers in: OpenMetrics 1.0 (what `prometheus-client` writes) and the
//! Prometheus text format 0.0.4, made from it, for scrapers that do not ask for OpenMetrics.
//!
//! They differ where a strict parser notices: OpenMetrics names a counter family without `_total` (its
//! samples carry it) and ends with `# EOF`; in 0.0.4 the `# TYPE` line names the sample itself
//! (`pennon_http_requests_total`), there is no `# EOF`, no `# UNIT`, and `info` and `unknown` are spelt
//! `gauge` and `untyped`.

/// `Content-Type` of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `Content-Type` of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics: it names `application/openmetrics-text` with a weight
/// above zero and at least that of any `text/plain` it names. Prometheus itself asks so.
pub fn wants_openmetrics(accept: &str) -> bool {
    let (mut openmetrics, mut plain) = (0.0_f32, 0.0_f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim();
        let weight = parts
            .filter_map(|p| p.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, q)| q.trim().parse::<f32>().unwrap_or(0.0));
        if essence.eq_ignore_ascii_case("application/openmetrics-text") {
            openmetrics = openmetrics.max(weight);
        } else if essence.eq_ignore_ascii_case("text/plain") {
            plain = plain.max(weight);
        }
    }
    openmetrics > 0.0 && openmetrics >= plain
}

/// The Prometheus text format 0.0.4 of an OpenMetrics exposition written by `prometheus-client`.
pub fn to_prometheus(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len() + 256);
    // A family's `# HELP` comes before its `# TYPE`, which decides the name both lines carry.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take(), None);
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "unknown" => ("", "untyped"),
                other => ("", other),
            };
            let renamed = format!("{name}{suffix}");
            match help.take() {
                Some((helped, text)) if helped == name => flush_help(&mut out, Some((&renamed, text)), None),
                other => flush_help(&mut out, other, None),
            }
            out.push_str("# TYPE ");
            out.push_str(&renamed);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            flush_help(&mut out, help.take(), None);
        } else {
            flush_help(&mut out, help.take(), Some(line));
        }
    }
    flush_help(&mut out, help, None);
    out
}

/// Writes a pending `# HELP` line (in 0.0.4, a quote needs no escape), then `line` if given.
fn flush_help(out: &mut String, help: Option<(&str, &str)>, line: Option<&str>) {
    if let Some((name, text)) = help {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        out.push_str(&text.replace("\\\"", "\""));
        out.push('\n');
    }
    if let Some(line) = line {
        out.push_str(line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENMETRICS: &str = "# HELP pennon_http_requests HTTP requests served.\n\
        # TYPE pennon_http_requests counter\n\
        pennon_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 3\n\
        # HELP pennon_open Open \\\"things\\\".\n\
        # TYPE pennon_open gauge\n\
        pennon_open 2\n\
        # HELP pennon_latency_seconds Latency.\n\
        # TYPE pennon_latency_seconds histogram\n\
        # UNIT pennon_latency_seconds seconds\n\
        pennon_latency_seconds_sum 0.5\n\
        pennon_latency_seconds_count 1\n\
        pennon_latency_seconds_bucket{le=\"+Inf\"} 1\n\
        # HELP pennon_build Build.\n\
        # TYPE pennon_build info\n\
        pennon_build_info{version=\"1\"} 1\n\
        # EOF\n";

    #[test]
    fn counters_are_typed_by_their_sample_names_and_eof_goes() {
        let text = to_prometheus(OPENMETRICS);
        let expected = "# HELP pennon_http_requests_total HTTP requests served.\n\
            # TYPE pennon_http_requests_total counter\n\
            pennon_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 3\n\
            # HELP pennon_open Open \"things\".\n\
            # TYPE pennon_open gauge\n\
            pennon_open 2\n\
            # HELP pennon_latency_seconds Latency.\n\
            # TYPE pennon_latency_seconds histogram\n\
            pennon_latency_seconds_sum 0.5\n\
            pennon_latency_seconds_count 1\n\
            pennon_latency_seconds_bucket{le=\"+Inf\"} 1\n\
            # HELP pennon_build_info Build.\n\
            # TYPE pennon_build_info gauge\n\
            pennon_build_info{version=\"1\"} 1\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn accept_headers() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;\
            q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(prometheus));
        assert!(wants_openmetrics("application/openmetrics-text"));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0.2, text/plain"));
    }
}
