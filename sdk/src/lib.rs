//! # pennon-sdk
//!
//! The Rust SDK of [Pennon](https://example.invalid/pennon), a self-hosted feature flag service. It holds an
//! environment's flags in memory and evaluates them locally with `pennon-engine` — the same code the server
//! runs — so evaluation never waits on the network. A background task keeps the flags current over
//! server-sent events (falling back to polling), and another sends exposure counts and tracked metrics to the
//! server in batches, which is what metric guards act on.
//!
//! ```no_run
//! use std::time::Duration;
//! use pennon_sdk::{Client, Context};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("http://pennon.internal:8080", std::env::var("PENNON_SERVER_KEY")?)
//!     .cache_file("/var/cache/my-app/pennon.json")
//!     .build()
//!     .await?;
//! // Optional: give the flags a moment to arrive. Until then (and whenever the server is away) the client
//! // serves the cache file, the bootstrap, or the defaults passed to each call.
//! if let Err(e) = client.wait_until_ready(Duration::from_secs(2)).await {
//!     eprintln!("serving cached or default flags for now: {e}");
//! }
//!
//! let ctx = Context::new("user-42").with("plan", "pro").with("country", "DE");
//! if client.bool_value("new-checkout", &ctx, false) {
//!     // ... the new code path
//!     client.track("checkout_completed", &ctx, 1.0);
//! }
//! let detail = client.string_detail("banner-color", &ctx, "grey");
//! println!("{} because {:?}", detail.value, detail.reason);
//!
//! client.on_change(|change| println!("flag {} changed", change.key));
//! // ...
//! client.close().await; // sends what is left
//! # Ok(()) }
//! ```
//!
//! ## Evaluation
//!
//! [`Client::bool_value`], [`string_value`](Client::string_value), [`number_value`](Client::number_value)
//! and [`json_value`](Client::json_value) return the value for a [`Context`], or the caller's default when the
//! flag is unknown (`FLAG_NOT_FOUND`), of another kind (`TYPE_MISMATCH`), or cannot be evaluated
//! (`MALFORMED_CONFIG`). The `*_detail` forms also return the variant, the config version and the
//! [`Reason`]. Each call is a lock-free load of the current snapshot, the engine's evaluation, and an atomic
//! increment of an exposure counter.
//!
//! ## Staying current
//!
//! - **Stream**: `GET /api/v1/sdk/stream` (server-sent events). A `put` replaces every flag; `patch` and
//!   `delete` change one flag or segment, applied only when their revision is not older than the one held.
//!   Malformed events are logged and ignored. A connection silent for three heartbeats (45 s) is replaced.
//!   Reconnection waits a random delay of up to 1 s, 2 s, 4 s, 4 s, ... (full jitter), for as long as the
//!   server is away, and resumes with `Last-Event-ID`. A `put` older than the revision held (from a replica
//!   that lags behind) is ignored.
//! - **Polling**: `GET /api/v1/sdk/snapshot` with `If-None-Match`, every 30 s, when streaming is off or
//!   refused by the server (404/405/501), and between stream attempts while the stream keeps failing. An
//!   answer older than the revision held is ignored.
//! - **Outages**: the last flags stay. With a [cache file](ClientBuilder::cache_file) they survive a restart.
//!   A [bootstrap](ClientBuilder::bootstrap_file) snapshot, or [offline mode](ClientBuilder::offline), serves
//!   without any server. A refused key (401/403) stops all retries: [`Status::Failed`].
//! - **Busy servers**: a `429` or `503` with `Retry-After` (seconds or an HTTP date) on the stream, a poll or
//!   a metrics batch puts the next attempt off by at least that long, at most five minutes.
//!
//! ## Events
//!
//! Exposures (evaluations per flag and variant) and [`Client::track`]ed metrics (count, sum, sum of squares
//! per flag, variant and metric) go to `POST /api/v1/sdk/metrics` every 5 s and on [`Client::close`]. A metric
//! counts towards the variants the context's key was recently served; a fixed table remembers about the last
//! 131,072 (context key, flag) exposures. Batches the server does not take are kept, up to 10,000 rows.
//!
//! ## Testing your code
//!
//! [`TestData`] is an in-memory source: set flags up, hand out clients, change flags mid-test.
//!
//! ```
//! use pennon_sdk::{Context, TestData};
//! let data = TestData::new();
//! data.update(data.flag("discount").variations([("none", 0), ("ten", 10)]).variation_for_key("vip", "ten").fallthrough_variation("none"));
//! let client = data.client();
//! assert_eq!(client.number_value("discount", &Context::new("vip"), -1.0), 10.0);
//! assert_eq!(client.number_value("discount", &Context::new("someone"), -1.0), 0.0);
//! ```
//!
//! ## Cargo features
//!
//! - `openfeature`: `openfeature::PennonProvider`, an OpenFeature `FeatureProvider`.
//! - `rustls`: `https://` server URLs.

#![warn(missing_docs)]

mod backoff;
mod builder;
mod cache;
mod changes;
mod client;
mod error;
mod evaluate;
mod events;
mod exposition;
mod http;
mod local;
#[cfg(feature = "openfeature")]
pub mod openfeature;
mod protocol;
mod raw;
mod recent;
mod sse;
mod state;
mod store;
mod stream;
mod sync;
mod testdata;

pub use builder::ClientBuilder;
pub use changes::FlagChange;
pub use client::{Client, ListenerId};
pub use error::{BuildError, ReadyError, Status};
pub use evaluate::{EvaluationDetail, Reason};
pub use exposition::EXPOSURES as EXPOSURES_METRIC;
pub use pennon_engine::{Context, ErrorCode, FlagKind, Operator, Segment, Snapshot, SnapshotFlag};
pub use state::Source;
pub use testdata::{FlagBuilder, RuleBuilder, TestData};
