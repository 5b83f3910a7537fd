//! Server-Sent Events: the SDK streams (`/api/v1/sdk/stream`) and the dashboard's feed
//! (`/api/v1/admin/stream`).
//!
//! One dispatcher task per replica turns snapshot movements into encoded frames, once each, and hands them
//! to bounded broadcast channels; it also sends the heartbeats, so that an idle subscriber costs no timer of
//! its own. A subscriber's response body is a small state machine over its receiver: it filters frames by
//! revision, ends when it falls behind (the channel says so) and when the server shuts down (the channels
//! close). A client that stops reading altogether is cut off at the socket (see [`crate::http::listener`]).

pub mod admin;
pub mod frames;
pub mod sdk;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use self::admin::AdminFeed;
use self::frames::{Frame, Order};
use self::sdk::SdkHub;
use crate::delivery::snapshots::{SnapshotEvent, Snapshots};
use crate::store::Store;
use crate::telemetry::metrics::{Metrics, StreamKind};

/// How many frames a subscriber may fall behind before it is disconnected.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// Every stream of this replica.
#[derive(Debug)]
pub struct Streams {
    /// SDK streams, per environment.
    pub sdk: SdkHub,
    /// The dashboard's feed.
    pub admin: AdminFeed,
}

impl Default for Streams {
    fn default() -> Self {
        Streams { sdk: SdkHub::new(SUBSCRIBER_BUFFER), admin: AdminFeed::new(SUBSCRIBER_BUFFER) }
    }
}

impl Streams {
    /// Ends every stream and refuses new ones: called when shutdown begins, so that open streams do not
    /// hold it up.
    pub fn close(&self) {
        self.sdk.close();
        self.admin.close();
    }
}

/// Turns snapshot movements into frames and sends heartbeats, until the snapshot events end.
pub async fn dispatch(
    streams: Arc<Streams>,
    snapshots: Arc<Snapshots>,
    mut events: broadcast::Receiver<SnapshotEvent>,
    heartbeat: Duration,
    metrics: Arc<Metrics>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    streams.admin.publish_snapshot_event(&event);
                    match event {
                        SnapshotEvent::Changes { environment, changes, applied_at } => {
                            streams.sdk.publish_changes(&environment, &changes);
                            let committed = changes.iter().map(|c| c.committed_at);
                            metrics.propagation.observe(committed, applied_at, crate::store::now_millis());
                        }
                        SnapshotEvent::Reloaded { environment, .. } => {
                            if let Some(snapshot) = snapshots.get(&environment) {
                                streams.sdk.publish_put(&snapshot);
                            }
                        }
                        SnapshotEvent::Removed { environment } => streams.sdk.remove(&environment),
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    // Changes were missed: every subscriber gets the current snapshot instead.
                    tracing::warn!(missed, "stream dispatcher fell behind; sending fresh snapshots");
                    for environment in streams.sdk.listened() {
                        match snapshots.get(&environment) {
                            Some(snapshot) => streams.sdk.publish_put(&snapshot),
                            None => streams.sdk.remove(&environment),
                        }
                    }
                }
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                streams.sdk.heartbeat();
                streams.admin.heartbeat();
            }
        }
    }
}

/// Polls the audit log for the dashboard's feed, every `interval`.
pub async fn poll_audit(streams: Arc<Streams>, store: Store, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        streams.admin.poll_audit(&store).await;
    }
}

/// A future on whose completion a stream ends (e.g. its credential was revoked).
pub type Ending = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One subscriber: its receiver and the revision it holds.
pub struct Subscriber {
    rx: broadcast::Receiver<Frame>,
    revision: u64,
    open: Gauge,
    lagged: Counter,
    ends: Option<Ending>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").field("revision", &self.revision).finish_non_exhaustive()
    }
}

impl Subscriber {
    /// A subscriber that holds `revision` (0 for the admin feed, whose frames are never filtered).
    pub fn new(rx: broadcast::Receiver<Frame>, revision: u64, kind: StreamKind, metrics: &Metrics) -> Self {
        let open = metrics.sse_subscribers(kind);
        open.inc();
        Subscriber { rx, revision, open, lagged: metrics.sse_lagged(kind), ends: None }
    }

    /// Ends the stream as soon as `ends` completes, whatever it is waiting for.
    #[must_use]
    pub fn until(mut self, ends: impl Future<Output = ()> + Send + 'static) -> Self {
        self.ends = Some(Box::pin(ends));
        self
    }

    /// The next bytes to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            let received = match &mut self.ends {
                Some(ends) => tokio::select! {
                    biased;
                    () = ends.as_mut() => return None,
                    received = self.rx.recv() => received,
                },
                None => self.rx.recv().await,
            };
            match received {
                Ok(frame) => {
                    // Revisions only move forward: a `put` older than what the subscriber holds is not sent.
                    let send = match frame.order {
                        Order::Always => true,
                        Order::Changes(revision) | Order::Put(revision) => revision > self.revision,
                    };
                    if send {
                        if let Order::Changes(revision) | Order::Put(revision) = frame.order {
                            self.revision = revision;
                        }
                        return Some(frame.bytes);
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    self.lagged.inc();
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// The SSE response: `first` (the opening, replayed events), then the subscriber's frames. The body shares
/// the frames' bytes; nothing is copied per subscriber.
pub fn response(first: Vec<Bytes>, subscriber: Subscriber) -> Response {
    let first = futures_util::stream::iter(first);
    let rest = futures_util::stream::unfold(subscriber, |mut subscriber| async move {
        let bytes = subscriber.next().await?;
        Some((bytes, subscriber))
    });
    let body = Body::from_stream(first.chain(rest).map(Ok::<_, Infallible>));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells nginx-style proxies not to buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
