//! One connection to `GET /api/v1/sdk/stream`: read until it fails, applying the events.

use std::sync::Arc;

use pennon_engine::Snapshot;

use crate::backoff::Backoff;
use crate::client::Shared;
use crate::error::Status;
use crate::http::Failure;
use crate::protocol::{DeleteEvent, PatchEvent};
use crate::sse::{Event, Item, Parser};
use crate::store::Applied;

/// Connects (resuming from the revision held, when it came from the server) and reads events until the
/// connection fails; returns why.
pub(crate) async fn connect(shared: &Arc<Shared>, backoff: &mut Backoff) -> Failure {
    let Some(http) = &shared.http else { return Failure::NotAvailable("offline".into()) };
    let resume = shared.store.server_revision();
    let mut response = match http.open_stream(resume).await {
        Ok(response) => response,
        Err(failure) => return failure,
    };
    tracing::debug!(?resume, "event stream connected");
    if resume.is_some() {
        // The server replays what we missed, or sends a fresh snapshot; either way we are current.
        shared.set_status(Status::Ready);
    }
    let heartbeat = shared.config.heartbeat_timeout;
    let mut parser = Parser::new(shared.config.max_event_bytes);
    let mut items = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(heartbeat, response.chunk()).await {
            Err(_) => return Failure::Retry(format!("the event stream was silent for {}s", heartbeat.as_secs_f64())),
            Ok(Err(e)) => return Failure::Retry(format!("the event stream broke: {e}")),
            Ok(Ok(None)) => return Failure::Retry("the server closed the event stream".into()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        parser.feed(&chunk, &mut items);
        for item in items.drain(..) {
            match item {
                Item::Retry(delay) => backoff.set_initial(delay),
                Item::Comment => {}
                Item::Event(event) => apply(shared, &event),
            }
        }
    }
}

/// Applies one event. Anything malformed is logged and ignored: the last good flags stay.
pub(crate) fn apply(shared: &Arc<Shared>, event: &Event) {
    let store = &shared.store;
    match event.kind.as_str() {
        "put" => match serde_json::from_str::<Snapshot>(&event.data) {
            Ok(snapshot) => {
                let revision = snapshot.revision;
                report(shared, "put", revision, store.replace_from_server(snapshot));
                shared.set_status(Status::Ready);
            }
            Err(e) => tracing::warn!(error = %e, id = ?event.id, "ignoring a put event that does not parse"),
        },
        "patch" | "delete" if store.server_revision().is_none() => {
            tracing::warn!(event = %event.kind, id = ?event.id, "ignoring a change before the first snapshot");
        }
        "patch" => {
            let parsed = serde_json::from_str::<PatchEvent>(&event.data)
                .map_err(|e| e.to_string())
                .and_then(PatchEvent::into_object);
            match parsed {
                Ok((revision, object)) => report(shared, "patch", revision, store.patch(revision, &object)),
                Err(e) => tracing::warn!(error = %e, id = ?event.id, "ignoring a patch event that does not parse"),
            }
        }
        "delete" => match serde_json::from_str::<DeleteEvent>(&event.data) {
            Ok(delete) => {
                report(shared, "delete", delete.revision, store.delete(delete.revision, delete.kind, &delete.key));
            }
            Err(e) => tracing::warn!(error = %e, id = ?event.id, "ignoring a delete event that does not parse"),
        },
        other => tracing::debug!(event = other, "ignoring an event of an unknown type"),
    }
}

pub(crate) fn report(shared: &Arc<Shared>, what: &str, revision: u64, applied: Applied) {
    match applied {
        Applied::Applied(changed) => {
            tracing::debug!(revision, changed, "applied a {what}");
            shared.persist();
        }
        Applied::Stale { held } => tracing::debug!(revision, held, "ignoring a {what} older than the flags held"),
    }
}
