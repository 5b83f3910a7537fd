//! The SDK wire protocol beyond the flag model (`docs/sdk-protocol.md`): the stream's `patch` and `delete`
//! events and the metrics batch. The server writes these types and the SDK reads them (and the other way
//! round for metrics), so the two cannot drift apart. The snapshot a `put` carries is [`crate::Snapshot`].

use serde::{Deserialize, Serialize};

use crate::model::{Segment, SnapshotFlag};

/// What a patch or delete is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A flag with its config in the environment ([`SnapshotFlag`]).
    Flag,
    /// A segment.
    Segment,
}

impl ObjectKind {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Flag => "flag",
            ObjectKind::Segment => "segment",
        }
    }
}

/// `event: patch`: one flag or segment as it is at `revision`. The server writes the object as the raw JSON
/// it stored; the SDK reads it as a [`serde_json::Value`] and then by its kind ([`PatchEvent::into_object`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatchEvent<O> {
    /// The environment revision the change produced (also the event's `id`).
    pub revision: u64,
    /// What changed.
    pub kind: ObjectKind,
    /// Its key.
    pub key: String,
    /// The flag config's or segment's version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The whole object.
    pub object: O,
}

/// The object of a patch, read by its kind.
#[derive(Debug, Clone)]
pub enum Object {
    /// A flag with its config.
    Flag(Box<SnapshotFlag>),
    /// A segment.
    Segment(Segment),
}

impl PatchEvent<serde_json::Value> {
    /// Reads the object by its kind and checks that it is the one the event names.
    pub fn into_object(self) -> Result<(u64, Object), String> {
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteEvent {
    /// The environment revision the deletion produced.
    pub revision: u64,
    /// What was deleted.
    pub kind: ObjectKind,
    /// Its key.
    pub key: String,
}

/// The largest `count` of an entry of a batch. The server's totals per 10-second bucket saturate at it, so that
/// a guard's sum over 30 days of buckets stays far within a signed 64-bit integer.
pub const MAX_COUNT: u64 = 1_000_000_000_000;

/// The largest magnitude of an entry's `sum`; the server's totals per bucket saturate at it.
pub const MAX_SUM: f64 = 1e18;

/// The largest `sum_squares` of an entry; the server's totals per bucket saturate at it. Together with
/// [`MAX_SUM`] it keeps every sum (and the square of every sum) the guards compute finite.
pub const MAX_SUM_SQUARES: f64 = 1e36;

/// A batch of what an SDK saw over a window (the body of `POST /api/v1/sdk/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricsBatch {
    /// Evaluations per (flag, variant).
    #[serde(default)]
    pub exposures: Vec<ExposureCount>,
    /// `track()` calls per (flag, variant served, metric).
    #[serde(default)]
    pub metrics: Vec<MetricAggregate>,
}

/// How many evaluations of a flag served a variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExposureCount {
    /// Flag key.
    pub flag: String,
    /// Variant key.
    pub variant: String,
    /// Evaluations (at most 10^12).
    #[serde(deserialize_with = "whole_number")]
    pub count: u64,
}

/// Values of a metric tracked for contexts served a variant of a flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricAggregate {
    /// Flag key.
    pub flag: String,
    /// The variant the contexts were served.
    pub variant: String,
    /// Metric name (1 to 128 bytes, no control characters).
    pub metric: String,
    /// How many values (at most 10^12).
    #[serde(deserialize_with = "whole_number")]
    pub count: u64,
    /// Their sum (finite, from -10^18 to 10^18).
    pub sum: f64,
    /// The sum of their squares (finite, from 0 to 10^36).
    pub sum_squares: f64,
}

impl MetricsBatch {
    /// Entries, exposures and metrics together.
    pub fn rows(&self) -> usize {
        self.exposures.len() + self.metrics.len()
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    /// Splits the batch into batches of at most `max_rows` entries (the server refuses larger ones whole).
    pub fn split(self, max_rows: usize) -> Vec<MetricsBatch> {
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

/// A count as JSON may write it: an integer, or a number with no fractional part (`156677.0`, which JSON
/// Schema's `integer` admits and some encoders write), from 0 to 2^53.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number from 0")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
            if v.fract() == 0.0 && (0.0..=MAX_EXACT).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    deserializer.deserialize_any(Whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_whole_numbers_however_written() {
        let count = |text: &str| {
            serde_json::from_str::<ExposureCount>(&format!(r#"{{"flag":"f","variant":"on","count":{text}}}"#))
                .map(|e| e.count)
                .map_err(|e| e.to_string())
        };
        assert_eq!(count("156677"), Ok(156_677));
        assert_eq!(count("156677.0"), Ok(156_677));
        assert_eq!(count("1e3"), Ok(1_000));
        for refused in ["1.5", "-1", "-1.0", "1e300", r#""7""#, "null"] {
            assert!(count(refused).is_err(), "{refused} was taken");
        }
    }

    #[test]
    fn large_batches_are_split() {
        let exposure = |i: u64| ExposureCount { flag: format!("f{i}"), variant: "on".into(), count: i };
        let metric = |i: u64| MetricAggregate {
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

    #[test]
    fn a_patch_names_its_object() {
        let flag = serde_json::json!({
            "definition": {"key": "a", "kind": "boolean", "salt": "s",
                "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}]},
            "config": {"flag": "a", "environment": "e", "version": 3, "enabled": true, "off_variant": "off",
                "default": {"variant": "on"}}
        });
        let event = |key: &str| PatchEvent {
            revision: 7,
            kind: ObjectKind::Flag,
            key: key.into(),
            version: Some(3),
            object: flag.clone(),
        };
        let (revision, object) = event("a").into_object().unwrap();
        assert_eq!(revision, 7);
        assert!(matches!(object, Object::Flag(f) if f.config.version == 3));
        assert!(event("b").into_object().unwrap_err().contains("not \"b\""));
        let text = serde_json::to_string(&event("a")).unwrap();
        assert!(text.starts_with(r#"{"revision":7,"kind":"flag","key":"a","version":3,"object":{"#), "{text}");
    }
}
