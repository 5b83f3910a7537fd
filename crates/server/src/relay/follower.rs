//! Following the upstream for one environment: the snapshot when there is none, then the stream (resumed
//! with `Last-Event-ID`), whose events feed the same [`Snapshots`](crate::delivery::snapshots::Snapshots)
//! the server's own handlers and stream dispatcher read. A stream that fails, or stays silent past the
//! heartbeat timeout, is reopened after a backoff with jitter; while it cannot be opened the snapshot is polled
//! (conditionally, by revision) at each attempt.

use std::sync::Arc;
use std::time::Duration;

use pennon_engine::protocol::{DeleteEvent, PatchEvent};
use serde_json::value::RawValue;

use super::sse::{Event, Parser};
use super::status::Source;
use super::upstream::{Fetched, UpstreamError};
use super::{Relay, Tie};
use crate::store::ChangeRow;

/// Why a stream ended.
enum Ended {
    /// The upstream closed it, cut it or went silent.
    Lost(String),
    /// An event could not be applied: the snapshot is fetched whole before the stream is reopened.
    Broken(String),
}

/// Follows the upstream for the environment of `tie`, forever.
pub async fn follow(relay: Arc<Relay>, tie: Arc<Tie>) {
    let mut backoff = relay.config.reconnect_min;
    let mut need_whole = false;
    loop {
        let held = held_revision(&relay, &tie);
        if (held.is_none() || need_whole) && fetch_snapshot(&relay, &tie, if need_whole { None } else { held }).await {
            need_whole = false;
        }
        let held = held_revision(&relay, &tie);
        if held.is_some() {
            match tie.upstream.stream(held).await {
                Ok(response) => {
                    // The stream resumes from the revision held: from here the upstream vouches for it.
                    if let Some(environment) = tie.slot.environment() {
                        tie.slot.set_snapshot(&environment, Source::Upstream);
                    }
                    tie.slot.set_connected(true);
                    backoff = relay.config.reconnect_min;
                    let ended = read_stream(&relay, &tie, response).await;
                    tie.slot.set_connected(false);
                    match ended {
                        Ended::Lost(why) => {
                            tracing::info!(key = tie.slot.index, why, "upstream stream lost; reconnecting");
                        }
                        Ended::Broken(why) => {
                            tracing::warn!(
                                key = tie.slot.index,
                                why,
                                "upstream event not applied; fetching the snapshot"
                            );
                            need_whole = true;
                        }
                    }
                }
                Err(e) => {
                    log_failure(&tie, "stream", &e);
                    // The stream cannot be opened: poll the snapshot meanwhile.
                    if !need_whole {
                        fetch_snapshot(&relay, &tie, held).await;
                    }
                }
            }
        }
        tokio::time::sleep(jittered(backoff)).await;
        backoff = (backoff * 2).min(relay.config.reconnect_max);
    }
}

fn log_failure(tie: &Tie, what: &str, e: &UpstreamError) {
    tracing::debug!(key = tie.slot.index, what, error = %e, "upstream request failed");
}

/// Half to the whole of `wait`, so that relays cut off together do not come back together.
fn jittered(wait: Duration) -> Duration {
    wait.mul_f64(rand::random_range(0.5..=1.0))
}

fn held_revision(relay: &Relay, tie: &Tie) -> Option<u64> {
    let environment = tie.slot.environment()?;
    relay.state.snapshots.get(&environment).map(|s| s.revision())
}

/// Fetches the snapshot (unless still at `held`) and installs it; `true` when the upstream answered.
async fn fetch_snapshot(relay: &Relay, tie: &Tie, held: Option<u64>) -> bool {
    match tie.upstream.snapshot(held).await {
        Ok(Fetched::New(snapshot, _)) => {
            tie.slot.contact();
            install_whole(relay, tie, snapshot).await;
            true
        }
        Ok(Fetched::Unchanged) => {
            tie.slot.contact();
            tie.slot.set_snapshot(&tie.slot.environment().unwrap_or_default(), Source::Upstream);
            true
        }
        Err(e) => {
            log_failure(tie, "snapshot", &e);
            false
        }
    }
}

async fn install_whole(relay: &Relay, tie: &Tie, snapshot: pennon_engine::Snapshot) {
    let environment = snapshot.environment.clone();
    relay.state.snapshots.receive_whole(snapshot).await;
    tie.slot.set_snapshot(&environment, Source::Upstream);
    relay.cache_snapshot(tie, &environment).await;
}

/// Reads the stream until it ends, applying its events.
async fn read_stream(relay: &Relay, tie: &Tie, mut response: reqwest::Response) -> Ended {
    let mut parser = Parser::default();
    let mut rows: Vec<ChangeRow> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(relay.config.heartbeat_timeout, response.chunk()).await {
            Err(_) => return Ended::Lost("no event or heartbeat within the heartbeat timeout".to_owned()),
            Ok(Err(e)) => return Ended::Lost(e.to_string()),
            Ok(Ok(None)) => return Ended::Lost("the upstream ended the stream".to_owned()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        tie.slot.contact();
        parser.push(&chunk);
        while let Some(event) = parser.next_event() {
            if let Err(why) = take_event(relay, tie, event, &mut rows).await {
                return Ended::Broken(why);
            }
        }
        // The upstream writes each revision's events together: what arrived so far is applied as one batch,
        // so that the relay's own subscribers get each revision in one frame too.
        if parser.held() == 0 && !rows.is_empty() {
            let Some(environment) = tie.slot.environment() else {
                return Ended::Broken("changes before any snapshot".to_owned());
            };
            let batch = std::mem::take(&mut rows);
            if let Err(e) = relay.state.snapshots.receive_changes(&environment, batch).await {
                return Ended::Broken(e.to_string());
            }
            relay.cache_snapshot(tie, &environment).await;
        }
    }
}

/// Applies a `put`, or queues the row of a `patch` or `delete`.
async fn take_event(relay: &Relay, tie: &Tie, event: Event, rows: &mut Vec<ChangeRow>) -> Result<(), String> {
    match event.name.as_str() {
        "put" => {
            let snapshot: pennon_engine::Snapshot = serde_json::from_str(&event.data).map_err(|e| e.to_string())?;
            rows.clear();
            install_whole(relay, tie, snapshot).await;
        }
        "patch" => {
            let patch: PatchEvent<Box<RawValue>> = serde_json::from_str(&event.data).map_err(|e| e.to_string())?;
            rows.push(ChangeRow {
                revision: patch.revision,
                kind: patch.kind,
                key: patch.key,
                payload: Some(patch.object.get().to_owned()),
                // The stream does not carry the commit's time: the relay's propagation metrics count from
                // the event's arrival here.
                committed_at: crate::store::now_millis(),
            });
        }
        "delete" => {
            let delete: DeleteEvent = serde_json::from_str(&event.data).map_err(|e| e.to_string())?;
            let committed_at = crate::store::now_millis();
            rows.push(ChangeRow {
                revision: delete.revision,
                kind: delete.kind,
                key: delete.key,
                payload: None,
                committed_at,
            });
        }
        _ => {}
    }
    Ok(())
}

/// Asks the upstream for the keys, allowed origins and watched metrics of the environment of `tie` every
/// `--key-interval`, forever.
pub async fn follow_keys(relay: Arc<Relay>, tie: Arc<Tie>) {
    let mut etag: Option<String> = None;
    let mut tick = tokio::time::interval(relay.config.key_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tie.upstream.relay_info(etag.as_deref()).await {
            Ok(Fetched::New(info, tag)) => {
                tie.slot.contact();
                etag = Some(tag);
                relay.learn(&tie, info).await;
            }
            Ok(Fetched::Unchanged) => tie.slot.contact(),
            Err(UpstreamError::Status(reqwest::StatusCode::UNAUTHORIZED)) => {
                // The relay's own key was revoked upstream: the environment's keys go with it.
                if let Some(environment) = tie.slot.environment() {
                    tracing::warn!(
                        key = tie.slot.index,
                        environment,
                        "the upstream refuses this relay key; its SDK keys stop working here"
                    );
                    relay.state.auth.keys.replace_environment(&environment, &[]);
                }
                etag = None;
            }
            Err(e) => log_failure(&tie, "relay information", &e),
        }
    }
}
