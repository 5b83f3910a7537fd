//! Server-Sent Events as bytes: each frame is encoded once and shared by every subscriber that receives it.
//! The events are those of `docs/sdk-protocol.md`.

use std::borrow::Cow;
use std::fmt::Write as _;

use axum::body::Bytes;
use pennon_engine::protocol::{DeleteEvent, PatchEvent};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::store::{ChangeRow, ObjectKind};

/// How long clients wait before reconnecting, in milliseconds (the `retry:` field).
pub const RETRY_MS: u64 = 3000;

/// The heartbeat comment.
pub const HEARTBEAT: Bytes = Bytes::from_static(b": heartbeat\n\n");

/// Closes an event whose `data:` line was written before.
pub const EVENT_END: Bytes = Bytes::from_static(b"\n\n");

/// The first bytes of every stream.
pub fn retry() -> Bytes {
    Bytes::from(format!("retry: {RETRY_MS}\n\n"))
}

/// What a subscriber does with a frame, given the revision it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Send it whatever the subscriber holds (heartbeats, admin events).
    Always,
    /// `patch`/`delete` events of this revision: send when newer than what the subscriber holds.
    Changes(u64),
    /// A `put` of the snapshot at this revision: send unless the subscriber holds exactly that revision.
    Put(u64),
}

/// One frame of a stream: complete events, shared between subscribers.
#[derive(Debug, Clone)]
pub struct Frame {
    /// How it is ordered against what a subscriber holds.
    pub order: Order,
    /// The encoded events.
    pub bytes: Bytes,
}

impl Frame {
    /// The heartbeat frame.
    pub fn heartbeat() -> Self {
        Frame { order: Order::Always, bytes: HEARTBEAT }
    }
}

/// The head of a `put` event, up to its data: the snapshot JSON and [`EVENT_END`] follow.
pub fn put_head(revision: u64) -> Bytes {
    Bytes::from(format!("event: put\nid: {revision}\ndata: "))
}

/// A whole `put` event in one buffer.
pub fn put(revision: u64, snapshot_json: &[u8]) -> Bytes {
    let head = put_head(revision);
    let mut out = Vec::with_capacity(head.len() + snapshot_json.len() + EVENT_END.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(snapshot_json);
    out.extend_from_slice(&EVENT_END);
    Bytes::from(out)
}

/// One event with a name, an optional id and one line of data.
pub fn event(name: &str, id: Option<u64>, data: &str) -> String {
    let mut out = String::with_capacity(name.len() + data.len() + 32);
    let _ = writeln!(out, "event: {name}");
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    let _ = writeln!(out, "data: {}\n", single_line(data));
    out
}

/// Change-log rows (ordered by revision) as frames, one per revision, each holding every `patch`/`delete`
/// event of that revision.
pub fn changes(rows: &[ChangeRow]) -> Vec<(u64, Bytes)> {
    let mut frames = Vec::new();
    let mut current: Option<(u64, String)> = None;
    for row in rows {
        let (name, data) = change_event(row);
        match &mut current {
            Some((revision, text)) if *revision == row.revision => {
                text.push_str(&event(name, Some(row.revision), &data));
            }
            _ => {
                if let Some((revision, text)) = current.take() {
                    frames.push((revision, Bytes::from(text)));
                }
                current = Some((row.revision, event(name, Some(row.revision), &data)));
            }
        }
    }
    if let Some((revision, text)) = current {
        frames.push((revision, Bytes::from(text)));
    }
    frames
}

/// The event name and data of one change: `patch` with the object, or `delete`.
fn change_event(row: &ChangeRow) -> (&'static str, String) {
    let (revision, kind, key) = (row.revision, row.kind, row.key.clone());
    let Some(payload) = &row.payload else {
        let data = serde_json::to_string(&DeleteEvent { revision, kind, key }).expect("a delete event serialises");
        return ("delete", data);
    };
    let version = object_version(kind, payload);
    // The store writes payloads as JSON; one that is not goes as a string, which SDKs report and skip.
    let object = RawValue::from_string(single_line(payload).into_owned())
        .or_else(|_| serde_json::value::to_raw_value(payload))
        .expect("a string serialises");
    let data = serde_json::to_string(&PatchEvent { revision, kind, key, version, object }).expect("a patch serialises");
    ("patch", data)
}

#[derive(Deserialize)]
struct Versioned {
    version: u64,
}

#[derive(Deserialize)]
struct FlagVersion {
    config: Versioned,
}

fn object_version(kind: ObjectKind, payload: &str) -> Option<u64> {
    match kind {
        ObjectKind::Flag => serde_json::from_str::<FlagVersion>(payload).ok().map(|f| f.config.version),
        ObjectKind::Segment => serde_json::from_str::<Versioned>(payload).ok().map(|s| s.version),
    }
}

fn single_line(json: &str) -> Cow<'_, str> {
    if !json.contains(['\n', '\r']) {
        return Cow::Borrowed(json);
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(value) => Cow::Owned(value.to_string()),
        Err(_) => Cow::Owned(json.replace(['\n', '\r'], " ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(revision: u64, kind: ObjectKind, key: &str, payload: Option<&str>) -> ChangeRow {
        ChangeRow { revision, kind, key: key.into(), payload: payload.map(str::to_owned), committed_at: 0 }
    }

    #[test]
    fn changes_group_by_revision_and_carry_versions() {
        let flag = r#"{"definition":{"key":"a"},"config":{"version":8,"enabled":true}}"#;
        let rows = [
            row(43, ObjectKind::Flag, "a", Some(flag)),
            row(43, ObjectKind::Segment, "s", Some("{\"key\":\"s\",\n\"version\":3}")),
            row(44, ObjectKind::Flag, "a", None),
        ];
        let frames = changes(&rows);
        assert_eq!(frames.len(), 2);
        let first = std::str::from_utf8(&frames[0].1).unwrap();
        assert_eq!(
            first,
            format!(
                "event: patch\nid: 43\ndata: {{\"revision\":43,\"kind\":\"flag\",\"key\":\"a\",\"version\":8,\"object\":{flag}}}\n\n\
                 event: patch\nid: 43\ndata: {{\"revision\":43,\"kind\":\"segment\",\"key\":\"s\",\"version\":3,\"object\":{{\"key\":\"s\",\"version\":3}}}}\n\n"
            )
        );
        assert_eq!(
            std::str::from_utf8(&frames[1].1).unwrap(),
            "event: delete\nid: 44\ndata: {\"revision\":44,\"kind\":\"flag\",\"key\":\"a\"}\n\n"
        );
    }

    #[test]
    fn put_is_head_data_end() {
        assert_eq!(&put(7, b"{}")[..], b"event: put\nid: 7\ndata: {}\n\n");
        assert_eq!(event("audit", None, "{\"id\":1}"), "event: audit\ndata: {\"id\":1}\n\n");
    }
}
