//! Prometheus metrics, exposed at `/metrics` in the text exposition format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of HTTP request metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route, e.g. `/api/v1/flags/{flag}` (never the raw path: bounded cardinality).
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub status: u16,
}

/// Labels of evaluation counts.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EvaluationLabels {
    /// Environment key.
    pub environment: String,
    /// Flag key.
    pub flag: String,
    /// Reason kind (`RULE_MATCH`, ...).
    pub reason: &'static str,
}

/// Labels naming an environment.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvironmentLabels {
    /// Environment key.
    pub environment: String,
}

/// Every metric the server keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests served.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency in seconds.
    pub request_seconds: Family<RequestLabels, Histogram>,
    /// Flag evaluations served.
    pub evaluations: Family<EvaluationLabels, Counter>,
    /// The revision each environment's in-memory snapshot is at.
    pub snapshot_revision: Family<EnvironmentLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pennon");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::<RequestLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0001, 2.5, 14))) as fn() -> Histogram,
        );
        let evaluations = Family::<EvaluationLabels, Counter>::default();
        let snapshot_revision = Family::<EnvironmentLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", request_seconds.clone());
        registry.register("evaluations", "Flag evaluations served by the evaluation endpoints", evaluations.clone());
        registry.register(
            "snapshot_revision",
            "Revision of each environment's in-memory snapshot",
            snapshot_revision.clone(),
        );
        Metrics { registry, requests, request_seconds, evaluations, snapshot_revision }
    }
}

impl Metrics {
    /// Counts one evaluation.
    pub fn evaluation(&self, environment: &str, flag: &str, reason: &'static str) {
        self.evaluations
            .get_or_create(&EvaluationLabels { environment: environment.to_owned(), flag: flag.to_owned(), reason })
            .inc();
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}
