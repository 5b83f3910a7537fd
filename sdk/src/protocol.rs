//! The wire types of `docs/sdk-protocol.md` that the SDK reads and writes: defined once, in the engine's
//! [`pennon_engine::protocol`], which the server uses too.

pub(crate) use pennon_engine::protocol::{
    DeleteEvent, ExposureCount as ExposureRow, MetricAggregate as MetricRow, MetricsBatch, Object, ObjectKind,
};

/// `event: patch` as the SDK reads it: the object as JSON, read by its kind afterwards.
pub(crate) type PatchEvent = pennon_engine::protocol::PatchEvent<serde_json::Value>;
