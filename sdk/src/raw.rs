//! The snapshot as received, held so that one generation shares every flag and segment a change did not
//! touch with the generation before (an `Arc` each, flags in the engine's `Shelf` of shared chunks): a patch
//! copies one chunk's pointers, not the flags nor a pointer per flag.

use std::sync::Arc;

use pennon_engine::{Segment, Shelf, Snapshot, SnapshotFlag};

/// A [`Snapshot`] whose flags and segments are shared between generations.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawSnapshot {
    pub environment: String,
    pub revision: u64,
    /// In the compiled snapshot's order; shared in chunks of 64 with the generation before, so a patch
    /// copies a pointer per 64 flags.
    pub flags: Shelf<SnapshotFlag>,
    pub segments: Vec<Arc<Segment>>,
}

impl From<Snapshot> for RawSnapshot {
    fn from(snapshot: Snapshot) -> Self {
        RawSnapshot {
            environment: snapshot.environment,
            revision: snapshot.revision,
            flags: snapshot.flags.into_iter().map(Arc::new).collect(),
            segments: snapshot.segments.into_iter().map(Arc::new).collect(),
        }
    }
}

impl RawSnapshot {
    /// An owned copy.
    pub fn to_snapshot(&self) -> Snapshot {
        Snapshot {
            environment: self.environment.clone(),
            revision: self.revision,
            flags: self.flags.iter().cloned().collect(),
            segments: self.segments.iter().map(|s| (**s).clone()).collect(),
        }
    }

    /// Whether it holds exactly `snapshot`.
    pub fn same_as(&self, snapshot: &Snapshot) -> bool {
        self.environment == snapshot.environment
            && self.revision == snapshot.revision
            && self.flags.len() == snapshot.flags.len()
            && self.segments.len() == snapshot.segments.len()
            && self.flags.iter().zip(&snapshot.flags).all(|(a, b)| *a == *b)
            && self.segments.iter().zip(&snapshot.segments).all(|(a, b)| **a == *b)
    }
}
