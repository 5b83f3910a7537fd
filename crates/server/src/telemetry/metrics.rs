//! Prometheus metrics, exposed at `/metrics` in OpenMetrics or the Prometheus text format
//! ([`super::exposition`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

use axum::http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use super::flag_counters::FlagCounters;
use super::webhooks::register_webhook_metrics;
pub use super::webhooks::{WebhookLabels, WebhookOutcome};

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

/// Labels of a guard's state: one series per guard, valued 1, labelled with the state it is in.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuardStateLabels {
    /// Environment key.
    pub environment: String,
    /// Flag key.
    pub flag: String,
    /// The guard's id.
    pub guard: String,
    /// `healthy`, `insufficient_data` or `breached`.
    pub state: &'static str,
}

/// Labels of connections closed by a clock.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// `header`, `body` or `idle`.
    pub phase: &'static str,
}

/// Every metric the server keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Webhook requests sent, by outcome.
    pub webhook_attempts: Family<WebhookLabels, Counter>,
    /// Webhook deliveries given up (failed for good).
    pub webhook_failed: Counter,
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
    /// SDK metrics entries (exposures and tracked metrics) accepted into the intake.
    pub sdk_metrics_accepted: Counter,
    /// Relay: aggregates forwarded to the upstream.
    pub relay_metrics_forwarded: Counter,
    /// Relay: aggregates lost, because the buffer kept through an upstream outage was full or the upstream
    /// refused them.
    pub relay_metrics_dropped: Counter,
    /// Guard checks that reached a verdict.
    pub guard_checks: Counter,
    /// Guard breaches (each applied its action).
    pub guard_breaches: Counter,
    /// Time from a change's write to this replica's snapshot and to its stream frame.
    pub propagation: super::propagation::Propagation,
    /// Guard checks that could not read their source (a Prometheus query failed or found no series).
    pub guard_source_errors: Counter,
    /// Each guard's state as the last round saw it (on the replica that checks guards).
    pub guard_state: Family<GuardStateLabels, Gauge>,
    /// The series `guard_state` has, so that a guard that changed state or is gone loses its old one.
    guard_series: Mutex<HashSet<GuardStateLabels>>,
    /// Open client connections.
    pub connections_open: Gauge,
    /// Connections refused (answered 503 and closed) because as many as allowed were open.
    pub connections_refused: Counter,
    /// Connections closed because their client was too slow to send a request, or sent none.
    pub connections_timed_out: Family<PhaseLabels, Counter>,
    /// Failed accepts (such as the open-file limit reached).
    pub accept_errors: Counter,
    /// The series of `requests` and `request_seconds` by route, then method and status, found by the route's
    /// text without building a label set (routes are a fixed set, so this stays small). The keys are the
    /// server's own route templates, methods and statuses, never a caller's text, so a fast hash is safe.
    request_series: RwLock<HashMap<Box<str>, SeriesByMethodAndStatus, FastHash>>,
    /// Evaluations per environment and flag since the last usage flush (`last_seen`).
    pub usage: super::usage::Usage,
    /// Flags that are cleanup candidates (unused or rolled out for `--stale-after`), by environment.
    pub cleanup_candidates: Family<EnvironmentLabels, Gauge>,
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
        let handler_panics =
            counter(&mut registry, "http_handler_panics", "Requests whose handler panicked (answered 500)");
        let sdk_metrics_set_aside = counter(
            &mut registry,
            "sdk_metrics_set_aside",
            "Aggregated SDK metric rows the database refused, set aside so that the rest is written",
        );
        let (relay_metrics_forwarded, relay_metrics_dropped) = relay_counters(&mut registry);
        let sdk_metrics_dropped = Family::<DropLabels, Counter>::default();
        registry.register(
            "sdk_metrics_dropped",
            "SDK metrics entries answered but not kept: unknown flags or variants, metrics no guard watches",
            sdk_metrics_dropped.clone(),
        );
        let sdk_metrics_accepted = counter(
            &mut registry,
            "sdk_metrics_accepted",
            "SDK metrics entries (exposures and tracked metrics) accepted into the intake",
        );
        let (guard_checks, guard_breaches, guard_source_errors, guard_state) = register_guard_metrics(&mut registry);
        let cleanup_candidates = Family::<EnvironmentLabels, Gauge>::default();
        registry.register(
            "flag_cleanup_candidates",
            "Flags not evaluated, or serving one variant to everyone, in the environment for --stale-after",
            cleanup_candidates.clone(),
        );
        let (connections_open, connections_refused, connections_timed_out, accept_errors) =
            register_connection_metrics(&mut registry);
        let (webhook_attempts, webhook_failed) = register_webhook_metrics(&mut registry);
        let propagation = super::propagation::Propagation::register(&mut registry);
        Metrics {
            webhook_attempts,
            webhook_failed,
            usage: super::usage::Usage::default(),
            cleanup_candidates,
            registry,
            connections_open,
            connections_refused,
            connections_timed_out,
            accept_errors,
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
            sdk_metrics_accepted,
            relay_metrics_forwarded,
            relay_metrics_dropped,
            guard_checks,
            guard_breaches,
            guard_source_errors,
            propagation,
            guard_state,
            guard_series: Mutex::default(),
            request_series: RwLock::default(),
        }
    }
}

/// The guard loop's counters (checks, breaches, source errors) and each guard's state.
fn register_guard_metrics(registry: &mut Registry) -> (Counter, Counter, Counter, Family<GuardStateLabels, Gauge>) {
    let checks = counter(registry, "guard_checks", "Guard checks that reached a verdict");
    let breaches = counter(registry, "guard_breaches", "Guard breaches, each of which applied its action");
    let source_errors = counter(
        registry,
        "guard_source_errors",
        "Guard checks that could not read their source (a Prometheus query failed or found no series)",
    );
    let state = Family::<GuardStateLabels, Gauge>::default();
    registry.register(
        "guard_state",
        "1 for each guard, labelled with its state as the last guard round saw it",
        state.clone(),
    );
    (checks, breaches, source_errors, state)
}

/// The connection metrics: open, refused at the limit, timed out by phase, failed accepts.
fn register_connection_metrics(registry: &mut Registry) -> (Gauge, Counter, Family<PhaseLabels, Counter>, Counter) {
    let connections_open = Gauge::default();
    registry.register("http_connections_open", "Open client connections", connections_open.clone());
    let connections_refused = counter(
        registry,
        "http_connections_refused",
        "Connections answered 503 and closed because as many as --max-connections were open",
    );
    let connections_timed_out = Family::<PhaseLabels, Counter>::default();
    registry.register(
        "http_connections_timed_out",
        "Connections closed because a request's head or body came too slowly (phase header, body) or no \
         request came (idle)",
        connections_timed_out.clone(),
    );
    let accept_errors =
        counter(registry, "http_accept_errors", "Failed accepts of new connections, such as at the open-file limit");
    (connections_open, connections_refused, connections_timed_out, accept_errors)
}

/// A counter registered under `name`.
/// The relay's counters: aggregates forwarded upstream, and lost.
fn relay_counters(registry: &mut Registry) -> (Counter, Counter) {
    let forwarded = counter(registry, "relay_metrics_forwarded", "Relay: SDK metric aggregates forwarded upstream");
    let dropped = counter(
        registry,
        "relay_metrics_dropped",
        "Relay: SDK metric aggregates lost (the outage buffer was full, or the upstream refused them)",
    );
    (forwarded, dropped)
}

fn counter(registry: &mut Registry, name: &str, help: &str) -> Counter {
    let counter = Counter::default();
    registry.register(name, help, counter.clone());
    counter
}

impl Metrics {
    /// Counts one webhook delivery attempt.
    pub fn webhook_attempt(&self, outcome: WebhookOutcome) {
        self.webhook_attempts.get_or_create(&WebhookLabels { outcome: outcome.as_str() }).inc();
        if outcome == WebhookOutcome::GaveUp {
            self.webhook_failed.inc();
        }
    }

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

    /// Sets `guard_state` to these guards (environment, flag, guard id, state) and drops every other series.
    pub fn set_guard_states(&self, guards: &[(String, String, i64, &'static str)]) {
        let mut known = self.guard_series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current: HashSet<GuardStateLabels> = guards
            .iter()
            .map(|(environment, flag, guard, state)| GuardStateLabels {
                environment: environment.clone(),
                flag: flag.clone(),
                guard: guard.to_string(),
                state,
            })
            .collect();
        for gone in known.difference(&current) {
            self.guard_state.remove(gone);
        }
        for labels in &current {
            self.guard_state.get_or_create(labels).set(1);
        }
        *known = current;
    }

    /// Counts a connection closed because the clock of `phase` (`header`, `body`, `idle`) ran out.
    pub fn connection_timed_out(&self, phase: &'static str) {
        self.connections_timed_out.get_or_create(&PhaseLabels { phase }).inc();
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
