//! The files in `deploy/` name only metrics the server exports: every `pennon_` name in the Grafana
//! dashboard and the Prometheus alert rules is a family of [`Metrics`] (with a sample in each family, since
//! a family without samples is not written).

use std::collections::BTreeSet;

use axum::http::Method;

use super::metrics::{DropReason, Metrics, StreamKind, WebhookOutcome};

const DASHBOARD: &str = include_str!("../../../../deploy/grafana/pennon-dashboard.json");
const RULES: &str = include_str!("../../../../deploy/prometheus/pennon-rules.yml");

/// Every metric with one sample.
fn exported() -> BTreeSet<String> {
    let metrics = Metrics::default();
    metrics.request("/api/v1/flags", &Method::GET, 200, 0.01);
    metrics.evaluation("production", "checkout", "FALLTHROUGH");
    metrics.set_snapshot_revisions(&[("production".to_owned(), 3)]);
    metrics.sse_subscribers(StreamKind::Sdk).inc();
    metrics.sse_lagged(StreamKind::Sdk).inc();
    metrics.sdk_metrics_dropped(DropReason::Unknown, 1);
    metrics.set_guard_states(&[("production".to_owned(), "checkout".to_owned(), 1, "healthy")]);
    metrics.connection_timed_out("idle");
    metrics.webhook_attempt(WebhookOutcome::Delivered);
    metrics.propagation.observe([1], 2, 3);
    metrics
        .cleanup_candidates
        .get_or_create(&super::metrics::EnvironmentLabels { environment: "production".to_owned() })
        .set(1);
    metrics
        .encode()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(base)
        .collect()
}

/// A sample's name without the suffix of its family's type.
fn base(name: &str) -> String {
    ["_bucket", "_count", "_sum", "_total", "_created"]
        .iter()
        .fold(name.to_owned(), |n, suffix| n.strip_suffix(suffix).map_or(n.clone(), str::to_owned))
}

/// Every `pennon_...` name in `text` that stands alone (not inside another word).
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("pennon_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(tail.len());
        let before = rest[..at].chars().last();
        if end > "pennon_".len() && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end.max(1)..];
    }
    names
}

#[test]
fn the_dashboard_and_the_rules_name_only_exported_metrics() {
    let _: serde_json::Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let exported = exported();
    for (file, text, least) in [("the dashboard", DASHBOARD, 15), ("the rules", RULES, 8)] {
        let named = names_in(text);
        assert!(named.len() >= least, "{file} names few metrics: {named:?}");
        for name in named {
            assert!(
                exported.contains(&base(&name)),
                "{file} names {name}, which /metrics does not export: {exported:?}"
            );
        }
    }
    assert!(!exported.contains("pennon_nothing"), "a name not exported is told apart");
}
