//! The exposure counters in the Prometheus text format, for a service's own `/metrics`
//! ([`crate::Client::exposure_metrics`]).

use std::fmt::Write as _;

/// The counter's name.
pub const EXPOSURES: &str = "pennon_sdk_exposures_total";

/// `totals` (per flag and variant) as one Prometheus counter family, in text exposition format 0.0.4.
pub(crate) fn render(totals: &[((String, String), u64)]) -> String {
    let mut out = String::with_capacity(160 + totals.len() * 64);
    out.push_str("# HELP pennon_sdk_exposures_total Flag evaluations this process served, by flag and variant.\n");
    out.push_str("# TYPE pennon_sdk_exposures_total counter\n");
    for ((flag, variant), count) in totals {
        let _ = writeln!(out, "{EXPOSURES}{{flag=\"{}\",variant=\"{}\"}} {count}", escape(flag), escape(variant));
    }
    out
}

/// A label value as the text format writes it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_flag_and_variant_with_escaped_labels() {
        let text = render(&[(("checkout".into(), "on".into()), 3), (("a\"b".into(), "x\\y".into()), 1)]);
        assert_eq!(
            text,
            "# HELP pennon_sdk_exposures_total Flag evaluations this process served, by flag and variant.\n\
             # TYPE pennon_sdk_exposures_total counter\n\
             pennon_sdk_exposures_total{flag=\"checkout\",variant=\"on\"} 3\n\
             pennon_sdk_exposures_total{flag=\"a\\\"b\",variant=\"x\\\\y\"} 1\n"
        );
    }
}
