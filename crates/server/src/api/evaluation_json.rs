//! Evaluations written as JSON by hand, byte for byte what `serde_json` writes for [`Evaluation`] and
//! [`EvaluationList`], at a fraction of the cost: serde_json escapes every string a byte at a time through a
//! table, field names included, which for every flag's evaluation cost more than evaluating them. Here the
//! field names are literals and a string is copied as it is unless it holds a character JSON escapes.

use pennon_engine::{Evaluation, Reason};
use serde_json::Value;

use super::evaluate::EvaluationList;

/// Appends one evaluation: `{"flag","value","variant","version","reason"}`.
pub(crate) fn write_evaluation(out: &mut Vec<u8>, evaluation: &Evaluation<'_>) {
    out.extend_from_slice(b"{\"flag\":");
    write_str(out, evaluation.flag);
    out.extend_from_slice(b",\"value\":");
    match evaluation.value {
        None | Some(Value::Null) => out.extend_from_slice(b"null"),
        Some(Value::Bool(true)) => out.extend_from_slice(b"true"),
        Some(Value::Bool(false)) => out.extend_from_slice(b"false"),
        Some(Value::String(s)) => write_str(out, s),
        Some(other) => write_serde(out, other),
    }
    out.extend_from_slice(b",\"variant\":");
    match evaluation.variant {
        Some(variant) => write_str(out, variant),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"version\":");
    write_u64(out, evaluation.version);
    out.extend_from_slice(b",\"reason\":");
    write_reason(out, &evaluation.reason);
    out.push(b'}');
}

/// Appends every flag's evaluations: `{"environment","revision","evaluations":[...]}`.
pub(crate) fn write_list(out: &mut Vec<u8>, list: &EvaluationList<'_>) {
    out.extend_from_slice(b"{\"environment\":");
    write_str(out, list.environment);
    out.extend_from_slice(b",\"revision\":");
    write_u64(out, list.revision);
    out.extend_from_slice(b",\"evaluations\":[");
    for (i, evaluation) in list.evaluations.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_evaluation(out, evaluation);
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

fn write_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn write_serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and a Value or a str always serialises.
    let _ = serde_json::to_writer(out, value);
}

#[cfg(test)]
mod tests {
    use pennon_engine::ErrorCode;
    use serde_json::json;

    use super::*;

    fn by_hand(evaluation: &Evaluation<'_>) -> String {
        let mut out = Vec::new();
        write_evaluation(&mut out, evaluation);
        String::from_utf8(out).unwrap()
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

    #[test]
    fn a_list_is_written_as_serde_writes_it() {
        let on = json!(true);
        let evaluation = |flag| Evaluation {
            flag,
            value: Some(&on),
            variant: Some("on"),
            version: 1,
            reason: Reason::Fallthrough { bucket: Some(42) },
        };
        for evaluations in [vec![], vec![evaluation("a")], vec![evaluation("a"), evaluation("b")]] {
            let list = EvaluationList { environment: "prod\"uction", revision: 12, evaluations };
            let mut out = Vec::new();
            write_list(&mut out, &list);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&list).unwrap());
        }
    }
}
