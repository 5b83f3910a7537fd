//! Prometheus metrics, exposed at `/metrics` in the text exposition format.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock, RwLock};

use axum::http::Method;
use pennon_engine::Reason;
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
    /// HTTP method (`OTHER` for methods outside RFC 9110: bounded cardinality).
    pub method: &'static str,
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

/// The kinds of Server-Sent Events stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// `/api/v1/sdk/stream`.
    Sdk,
    /// `/api/v1/admin/stream`.
    Admin,
}

impl StreamKind {
    /// As a label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Sdk => "sdk",
            StreamKind::Admin => "admin",
        }
    }
}

/// Labels naming a kind of stream.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    /// `sdk` or `admin`.
    pub stream: &'static str,
}

/// Why an entry of an SDK metrics batch was answered but not kept.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum DropReason {
    /// A flag or variant the environment does not have.
    Unknown,
    /// A metric no guard of the flag in the environment watches.
    Unwatched,
}

/// Labels of dropped SDK metrics entries.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// `unknown` or `unwatched`.
    pub reason: &'static str,
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
    /// The environments `snapshot_revision` has a value for, so that deleted ones can be dropped.
    revision_environments: Mutex<HashSet<String>>,
    /// Open Server-Sent Events streams.
    pub sse_subscribers: Family<StreamLabels, Gauge>,
    /// Streams ended because their subscriber fell too far behind.
    pub sse_lagged: Family<StreamLabels, Counter>,
    /// Requests whose handler panicked (answered 500).
    pub handler_panics: Counter,
    /// Aggregated SDK metric rows the database refused, set aside by the flush.
    pub sdk_metrics_set_aside: Counter,
    /// SDK metrics entries answered but not kept, by reason.
    pub sdk_metrics_dropped: Family<DropLabels, Counter>,
    /// The series of `requests` and `request_seconds` by route, then method and status, found by the route's
    /// text without building a label set (routes are a fixed set, so this stays small). The keys are the
    /// server's own route templates, methods and statuses, never a caller's text, so a fast hash is safe.
    request_series: RwLock<HashMap<Box<str>, SeriesByMethodAndStatus, FastHash>>,
}

type FastHash = foldhash::fast::RandomState;
type SeriesByMethodAndStatus = HashMap<(&'static str, u16), RequestSeries, FastHash>;

/// One route, method and status's request counter and latency histogram.
#[derive(Debug, Clone)]
struct RequestSeries {
    count: Counter,
    seconds: Histogram,
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
        let sse_subscribers = Family::<StreamLabels, Gauge>::default();
        let sse_lagged = Family::<StreamLabels, Counter>::default();
        registry.register("sse_subscribers", "Open Server-Sent Events streams", sse_subscribers.clone());
        registry.register(
            "sse_lagged",
            "Streams disconnected because their subscriber fell too far behind",
            sse_lagged.clone(),
        );
        let handler_panics = Counter::default();
        registry.register(
            "http_handler_panics",
            "Requests whose handler panicked (answered 500)",
            handler_panics.clone(),
        );
        let sdk_metrics_set_aside = Counter::default();
        registry.register(
            "sdk_metrics_set_aside",
            "Aggregated SDK metric rows the database refused, set aside so that the rest is written",
            sdk_metrics_set_aside.clone(),
        );
        let sdk_metrics_dropped = Family::<DropLabels, Counter>::default();
        registry.register(
            "sdk_metrics_dropped",
            "SDK metrics entries answered but not kept: unknown flags or variants, metrics no guard watches",
            sdk_metrics_dropped.clone(),
        );
        Metrics {
            registry,
            handler_panics,
            requests,
            request_seconds,
            evaluations,
            snapshot_revision,
            revision_environments: Mutex::default(),
            sse_subscribers,
            sse_lagged,
            sdk_metrics_set_aside,
            sdk_metrics_dropped,
            request_series: RwLock::default(),
        }
    }
}

impl Metrics {
    /// Counts one evaluation.
    pub fn evaluation(&self, environment: &str, flag: &str, reason: &'static str) {
        self.evaluation_counter(environment, flag, reason).inc();
    }

    /// The counter of evaluations of a flag with a reason (shared: every handle counts in the same series).
    pub fn evaluation_counter(&self, environment: &str, flag: &str, reason: &'static str) -> Counter {
        let labels = EvaluationLabels { environment: environment.to_owned(), flag: flag.to_owned(), reason };
        self.evaluations.get_or_create(&labels).clone()
    }

    /// The gauge of open streams of a kind.
    pub fn sse_subscribers(&self, kind: StreamKind) -> Gauge {
        self.sse_subscribers.get_or_create(&StreamLabels { stream: kind.as_str() }).clone()
    }

    /// The counter of streams of a kind ended for lagging.
    pub fn sse_lagged(&self, kind: StreamKind) -> Counter {
        self.sse_lagged.get_or_create(&StreamLabels { stream: kind.as_str() }).clone()
    }

    /// Counts `entries` SDK metrics entries dropped for `reason`.
    pub fn sdk_metrics_dropped(&self, reason: DropReason, entries: usize) {
        if entries == 0 {
            return;
        }
        let reason = match reason {
            DropReason::Unknown => "unknown",
            DropReason::Unwatched => "unwatched",
        };
        self.sdk_metrics_dropped.get_or_create(&DropLabels { reason }).inc_by(entries as u64);
    }

    /// Counts one served request and its latency.
    pub fn request(&self, route: &str, method: &Method, status: u16, seconds: f64) {
        let method = method_label(method);
        let known = self.request_series.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(series) = known.get(route).and_then(|m| m.get(&(method, status))) {
            series.count.inc();
            series.seconds.observe(seconds);
            return;
        }
        drop(known);
        let labels = RequestLabels { route: route.to_owned(), method, status };
        let series = RequestSeries {
            count: self.requests.get_or_create(&labels).clone(),
            seconds: self.request_seconds.get_or_create(&labels).clone(),
        };
        series.count.inc();
        series.seconds.observe(seconds);
        let mut known = self.request_series.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.entry(route.into()).or_default().insert((method, status), series);
    }

    /// Sets `snapshot_revision` to these (environment, revision) pairs and drops environments not among them.
    pub fn set_snapshot_revisions(&self, revisions: &[(String, u64)]) {
        let mut known = self.revision_environments.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current: HashSet<String> = revisions.iter().map(|(environment, _)| environment.clone()).collect();
        for gone in known.difference(&current) {
            self.snapshot_revision.remove(&EnvironmentLabels { environment: gone.clone() });
        }
        for (environment, revision) in revisions {
            let value = i64::try_from(*revision).unwrap_or(i64::MAX);
            self.snapshot_revision.get_or_create(&EnvironmentLabels { environment: environment.clone() }).set(value);
        }
        *known = current;
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// How many kinds of [`Reason`] there are.
const REASON_KINDS: usize = 6;

fn reason_index(reason: &Reason<'_>) -> usize {
    match reason {
        Reason::Off => 0,
        Reason::PrerequisiteFailed { .. } => 1,
        Reason::TargetMatch => 2,
        Reason::RuleMatch { .. } => 3,
        Reason::Fallthrough { .. } => 4,
        Reason::Error { .. } => 5,
    }
}

/// The evaluation counters of one snapshot's flags, by the flag's position and the reason, taken from
/// [`Metrics`] on first use and kept with the snapshot: counting an evaluation is then an atomic add, not two
/// label strings and a map lookup under a lock. Each handle counts in the same series as
/// [`Metrics::evaluation`], so a new snapshot carries on where the last one stopped.
#[derive(Debug)]
pub struct FlagCounters {
    counters: Box<[[OnceLock<Counter>; REASON_KINDS]]>,
}

impl FlagCounters {
    /// Room for `flags` flags.
    pub fn new(flags: usize) -> Self {
        FlagCounters { counters: (0..flags).map(|_| Default::default()).collect() }
    }

    /// Counts one evaluation of the flag at `position` in `environment`.
    pub fn count(&self, metrics: &Metrics, environment: &str, position: usize, flag: &str, reason: &Reason<'_>) {
        let kind = reason.kind();
        match self.counters.get(position) {
            Some(slots) => {
                slots[reason_index(reason)].get_or_init(|| metrics.evaluation_counter(environment, flag, kind)).inc();
            }
            None => metrics.evaluation(environment, flag, kind),
        }
    }
}

/// Route label of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}
