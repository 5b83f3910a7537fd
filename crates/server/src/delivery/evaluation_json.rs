//! Evaluations written as JSON by hand, byte for byte what `serde_json` writes for [`Evaluation`] and
//! [`EvaluationList`], at a fraction of the cost: serde_json escapes every string a byte at a time through a
//! table, field names included, which for every flag's evaluation cost more than evaluating them. Here the
//! field names are literals and a string is copied as it is unless it holds a character JSON escapes.
//!
//! [`EvaluationList`]: crate::api::evaluate::EvaluationList

use pennon_engine::{Evaluation, Reason, SnapshotFlag};
use serde_json::Value;

/// Appends one evaluation: `{"flag","value","variant","version","reason"}`.
pub(crate) fn write_evaluation(out: &mut Vec<u8>, evaluation: &Evaluation<'_>) {
    write_head(out, evaluation.flag, evaluation.value, evaluation.variant, evaluation.version);
    write_tail(out, &evaluation.reason);
}

/// An evaluation up to its reason: `{"flag":…,"value":…,"variant":…,"version":…,"reason":`.
fn write_head(out: &mut Vec<u8>, flag: &str, value: Option<&Value>, variant: Option<&str>, version: u64) {
    out.extend_from_slice(b"{\"flag\":");
    write_str(out, flag);
    out.extend_from_slice(b",\"value\":");
    match value {
        None | Some(Value::Null) => out.extend_from_slice(b"null"),
        Some(Value::Bool(true)) => out.extend_from_slice(b"true"),
        Some(Value::Bool(false)) => out.extend_from_slice(b"false"),
        Some(Value::String(s)) => write_str(out, s),
        Some(other) => write_serde(out, other),
    }
    out.extend_from_slice(b",\"variant\":");
    match variant {
        Some(variant) => write_str(out, variant),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"version\":");
    write_u64(out, version);
    out.extend_from_slice(b",\"reason\":");
}

/// The reason and the end of an evaluation.
fn write_tail(out: &mut Vec<u8>, reason: &Reason<'_>) {
    write_reason(out, reason);
    out.push(b'}');
}

/// Every evaluation one flag can give, written up to its reason, by variant position: all of it but the
/// reason is fixed for a flag's version, so an answer copies one piece where it would write ten. Built with
/// the flag when a snapshot takes it in, and shared by the snapshot versions that keep the flag.
#[derive(Debug)]
pub struct PrewrittenFlag {
    key: String,
    version: u64,
    variants: Vec<Vec<u8>>,
}

impl PrewrittenFlag {
    /// The heads of a flag's variants.
    pub fn new(flag: &SnapshotFlag) -> Self {
        let (key, version) = (&flag.definition.key, flag.config.version);
        let variants = flag.definition.variants.iter().map(|variant| {
            let mut head = Vec::with_capacity(64);
            write_head(&mut head, key, Some(&variant.value), Some(&variant.key), version);
            head
        });
        PrewrittenFlag { key: key.clone(), version, variants: variants.collect() }
    }
}

/// The prewritten heads of a snapshot's flags, by position (the order a compiled snapshot evaluates in).
pub trait Prewritten {
    /// The heads of the flag at `position`, if there is one.
    fn head(&self, position: usize) -> Option<&PrewrittenFlag>;

    /// Appends the evaluation of the flag at `position` that served the variant at `variant`, as
    /// `write_evaluation` would. Written in full when these positions are not the evaluation's (as with
    /// another snapshot's positions).
    fn write(&self, out: &mut Vec<u8>, evaluation: &Evaluation<'_>, position: usize, variant: Option<usize>) {
        write_with_head(out, evaluation, self.head(position), variant);
    }
}

/// Appends `evaluation`, which served the variant at `variant`, from `flag`'s prewritten heads when they are
/// that flag's at that version, and in full otherwise.
#[inline]
pub fn write_with_head(
    out: &mut Vec<u8>,
    evaluation: &Evaluation<'_>,
    flag: Option<&PrewrittenFlag>,
    variant: Option<usize>,
) {
    let head = flag.and_then(|flag| {
        let same = flag.key == evaluation.flag && flag.version == evaluation.version;
        same.then(|| flag.variants.get(variant?)).flatten()
    });
    match head {
        Some(head) => {
            out.extend_from_slice(head);
            write_tail(out, &evaluation.reason);
        }
        None => write_evaluation(out, evaluation),
    }
}

impl Prewritten for [PrewrittenFlag] {
    fn head(&self, position: usize) -> Option<&PrewrittenFlag> {
        self.get(position)
    }
}

/// Appends every flag's evaluations, `{"environment","revision","evaluations":[...]}` (an
/// [`EvaluationList`](super::evaluate::EvaluationList)): each as `evaluate_all_served` gives it, with the
/// variant it served and its flag's prewritten heads ([`write_with_head`]).
pub(crate) fn write_all<'e, 'a: 'e>(
    out: &mut Vec<u8>,
    environment: &str,
    revision: u64,
    evaluations: impl IntoIterator<Item = (&'e Evaluation<'a>, Option<usize>, Option<&'e PrewrittenFlag>)>,
) {
    out.extend_from_slice(b"{\"environment\":");
    write_str(out, environment);
    out.extend_from_slice(b",\"revision\":");
    write_u64(out, revision);
    out.extend_from_slice(b",\"evaluations\":[");
    for (i, (evaluation, variant, flag)) in evaluations.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_with_head(out, evaluation, flag, variant);
    }
    out.extend_from_slice(b"]}");
}

fn write_reason(out: &mut Vec<u8>, reason: &Reason<'_>) {
    out.extend_from_slice(b"{\"kind\":\"");
    out.extend_from_slice(reason.kind().as_bytes());
    out.push(b'"');
    match reason {
        Reason::Off | Reason::TargetMatch => {}
        Reason::PrerequisiteFailed { flag } => {
            out.extend_from_slice(b",\"flag\":");
            write_str(out, flag);
        }
        Reason::RuleMatch { rule_id, rule_index, bucket } => {
            out.extend_from_slice(b",\"rule_id\":");
            write_str(out, rule_id);
            out.extend_from_slice(b",\"rule_index\":");
            write_u64(out, *rule_index as u64);
            write_bucket(out, *bucket);
        }
        Reason::Fallthrough { bucket } => write_bucket(out, *bucket),
        Reason::Error { error } => {
            out.extend_from_slice(b",\"error\":\"");
            out.extend_from_slice(error.as_str().as_bytes());
            out.push(b'"');
        }
    }
    out.push(b'}');
}

fn write_bucket(out: &mut Vec<u8>, bucket: Option<u32>) {
    if let Some(bucket) = bucket {
        out.extend_from_slice(b",\"bucket\":");
        write_u64(out, u64::from(bucket));
    }
}

/// A JSON string: copied between quotes when nothing in it needs escaping, else through serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        write_serde(out, &s);
    }
}

/// Two decimal digits for each number below 100.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849\
    5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// A number in decimal, two digits a step (buckets have five, the one number every evaluation writes).
fn write_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    while rest >= 100 {
        let pair = (rest % 100) as usize * 2;
        rest /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if rest >= 10 {
        let pair = rest as usize * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + rest as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

fn write_serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and a Value or a str always serialises.
    let _ = serde_json::to_writer(out, value);
}

#[cfg(test)]
mod tests {
    use pennon_engine::{CompiledSnapshot, Context, ErrorCode, Snapshot};

    use crate::api::evaluate::EvaluationList;
    use serde_json::json;

    use super::*;

    fn prewrite(snapshot: &Snapshot) -> Vec<PrewrittenFlag> {
        snapshot.flags.iter().map(PrewrittenFlag::new).collect()
    }

    fn by_hand(evaluation: &Evaluation<'_>) -> String {
        let mut out = Vec::new();
        write_evaluation(&mut out, evaluation);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 9, 10, 42, 99, 100, 101, 999, 1000, 12_345, 99_999, 100_000, 1 << 32, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
        for n in (0..200_000).step_by(7) {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn every_reason_and_value_is_written_as_serde_writes_it() {
        let values =
            [json!(true), json!(false), json!("blue \"sky\"\n"), json!(12.5), json!({"a": [1, "b"]}), json!(null)];
        let reasons = [
            Reason::Off,
            Reason::TargetMatch,
            Reason::PrerequisiteFailed { flag: "parent" },
            Reason::RuleMatch { rule_id: "beta", rule_index: 3, bucket: None },
            Reason::RuleMatch { rule_id: "r\\1", rule_index: 0, bucket: Some(99_999) },
            Reason::Fallthrough { bucket: None },
            Reason::Fallthrough { bucket: Some(0) },
            Reason::Error { error: ErrorCode::FlagNotFound },
            Reason::Error { error: ErrorCode::MissingBucketBy },
        ];
        for value in &values {
            for reason in reasons {
                for (flag, variant, version) in [("checkout", Some("on"), 7), ("flag \u{7f}é\t", None, u64::MAX)] {
                    let evaluation = Evaluation { flag, value: Some(value), variant, version, reason };
                    assert_eq!(by_hand(&evaluation), serde_json::to_string(&evaluation).unwrap());
                }
            }
        }
        let missing = Evaluation { flag: "x", value: None, variant: None, version: 0, reason: Reason::Off };
        assert_eq!(by_hand(&missing), serde_json::to_string(&missing).unwrap());
    }

    /// Every snapshot and context of the engine's evaluation test vectors: every flag's evaluations, written
    /// from the prewritten heads, read exactly as serde_json writes them, and so does each one alone.
    #[test]
    fn every_flags_evaluations_are_written_as_serde_writes_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/vectors/evaluation");
        let mut lists = 0;
        for entry in std::fs::read_dir(&dir).expect("evaluation vectors") {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let snapshot: Snapshot = serde_json::from_value(file["snapshot"].clone()).unwrap();
            let (compiled, prewritten) = (CompiledSnapshot::compile(&snapshot), prewrite(&snapshot));
            for case in file["cases"].as_array().unwrap() {
                let ctx: Context = serde_json::from_value(case["context"].clone()).unwrap();
                let served = compiled.evaluate_all_served(&ctx);
                let mut out = Vec::new();
                let heads = served.iter().zip(&prewritten).map(|((e, variant), head)| (e, *variant, Some(head)));
                write_all(&mut out, compiled.environment(), compiled.revision(), heads);
                let evaluations = served.iter().map(|(e, _)| e.clone()).collect();
                let list =
                    EvaluationList { environment: compiled.environment(), revision: compiled.revision(), evaluations };
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    serde_json::to_string(&list).unwrap(),
                    "{}",
                    path.display()
                );
                for (i, (evaluation, variant)) in served.iter().enumerate() {
                    let mut one = Vec::new();
                    prewritten.as_slice().write(&mut one, evaluation, i, *variant);
                    assert_eq!(one, serde_json::to_vec(evaluation).unwrap());
                }
                lists += 1;
            }
        }
        assert!(lists > 100, "only {lists} contexts found in {}", dir.display());
    }

    /// Positions that are not the evaluation's (another snapshot's, or none) write it in full, correctly.
    #[test]
    fn wrong_positions_write_the_evaluation_in_full() {
        let snapshot: Snapshot = serde_json::from_value(json!({
            "environment": "production", "revision": 3,
            "flags": [
                { "definition": { "key": "a", "kind": "string", "salt": "s",
                    "variants": [{ "key": "x", "value": "ex" }, { "key": "y", "value": "why" }] },
                  "config": { "flag": "a", "environment": "production", "version": 4, "enabled": true,
                    "off_variant": "x", "default": { "variant": "y" } } }
            ]
        }))
        .unwrap();
        let (compiled, prewritten) = (CompiledSnapshot::compile(&snapshot), prewrite(&snapshot));
        let (evaluation, _) = compiled.evaluate_served("a", &Context::default());
        let expected = serde_json::to_vec(&evaluation).unwrap();
        for (position, variant) in [(0, None), (0, Some(7)), (1, Some(0)), (usize::MAX, Some(1))] {
            let mut out = Vec::new();
            prewritten.as_slice().write(&mut out, &evaluation, position, variant);
            assert_eq!(out, expected, "position {position}, variant {variant:?}");
        }
        let stale = Evaluation { version: 5, ..evaluation.clone() };
        let mut out = Vec::new();
        prewritten.as_slice().write(&mut out, &stale, 0, Some(1));
        assert_eq!(out, serde_json::to_vec(&stale).unwrap(), "another version of the flag");
        let mut out = Vec::new();
        prewritten.as_slice().write(&mut out, &evaluation, 0, Some(1));
        assert_eq!(out, expected, "the right positions");
    }
}
