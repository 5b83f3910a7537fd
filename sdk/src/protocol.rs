//! The wire types of `docs/sdk-protocol.md` that the engine does not define: stream patches and deletes,
//! and the metrics batch.

use pennon_engine::{Segment, SnapshotFlag};
use serde::{Deserialize, Serialize};

/// What a patch or delete is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ObjectKind {
    Flag,
    Segment,
}

/// `event: patch`: one flag or segment, as it is at `revision`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PatchEvent {
    pub revision: u64,
    pub kind: ObjectKind,
    pub key: String,
    pub object: serde_json::Value,
}

/// The object of a patch, parsed by its kind.
#[derive(Debug, Clone)]
pub(crate) enum Object {
    Flag(Box<SnapshotFlag>),
    Segment(Segment),
}

impl PatchEvent {
    /// Parses the object and checks it is the one the event names.
    pub(crate) fn parse_object(self) -> Result<(u64, Object), String> {
        let object = match self.kind {
            ObjectKind::Flag => {
                let flag: SnapshotFlag = serde_json::from_value(self.object).map_err(|e| e.to_string())?;
                if flag.definition.key != self.key || flag.config.flag != self.key {
                    return Err(format!("the object is flag {:?}, not {:?}", flag.definition.key, self.key));
                }
                Object::Flag(Box::new(flag))
            }
            ObjectKind::Segment => {
                let segment: Segment = serde_json::from_value(self.object).map_err(|e| e.to_string())?;
                if segment.key != self.key {
                    return Err(format!("the object is segment {:?}, not {:?}", segment.key, self.key));
                }
                Object::Segment(segment)
            }
        };
        Ok((self.revision, object))
    }
}

/// `event: delete`: a flag or segment that is gone as of `revision`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DeleteEvent {
    pub revision: u64,
    pub kind: ObjectKind,
    pub key: String,
}

/// The body of `POST /api/v1/sdk/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct MetricsBatch {
    pub exposures: Vec<ExposureRow>,
    pub metrics: Vec<MetricRow>,
}

impl MetricsBatch {
    pub(crate) fn rows(&self) -> usize {
        self.exposures.len() + self.metrics.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    /// Splits the batch into batches of at most `max_rows` rows (the server refuses very large ones whole).
    pub(crate) fn split(self, max_rows: usize) -> Vec<MetricsBatch> {
        let max_rows = max_rows.max(1);
        let mut batches = vec![MetricsBatch::default()];
        let room = |batches: &mut Vec<MetricsBatch>| {
            if batches.last().is_some_and(|b| b.rows() >= max_rows) {
                batches.push(MetricsBatch::default());
            }
            batches.len() - 1
        };
        for row in self.exposures {
            let i = room(&mut batches);
            batches[i].exposures.push(row);
        }
        for row in self.metrics {
            let i = room(&mut batches);
            batches[i].metrics.push(row);
        }
        batches.retain(|b| !b.is_empty());
        batches
    }
}

/// Evaluations of one (flag, variant) in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ExposureRow {
    pub flag: String,
    pub variant: String,
    pub count: u64,
}

/// `track()` calls for one metric by contexts served one (flag, variant), in a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MetricRow {
    pub flag: String,
    pub variant: String,
    pub metric: String,
    pub count: u64,
    pub sum: f64,
    pub sum_squares: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_batches_are_split() {
        let exposure = |i: u64| ExposureRow { flag: format!("f{i}"), variant: "on".into(), count: i };
        let metric = |i: u64| MetricRow {
            flag: format!("f{i}"),
            variant: "on".into(),
            metric: "m".into(),
            count: 1,
            sum: 1.0,
            sum_squares: 1.0,
        };
        let batch = MetricsBatch { exposures: (0..5).map(exposure).collect(), metrics: (0..4).map(metric).collect() };
        let parts = batch.clone().split(4);
        assert_eq!(parts.iter().map(MetricsBatch::rows).collect::<Vec<_>>(), [4, 4, 1]);
        assert_eq!(parts[1].exposures.len(), 1);
        assert_eq!(parts.iter().map(|p| p.exposures.len()).sum::<usize>(), 5);
        assert_eq!(batch.clone().split(100), vec![batch]);
        assert!(MetricsBatch::default().split(10).is_empty());
    }
}
