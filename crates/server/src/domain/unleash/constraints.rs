//! Unleash constraints as Pennon conditions: each constraint becomes exactly one condition, or a reason why
//! it cannot be mapped. A context field keeps its Unleash name as the attribute (`userId`, `currentTime`, a
//! property's name), and a missing field behaves alike on both sides (false, true when inverted).

use pennon_engine::{Condition, Operator};
use serde_json::Value;

use super::format::Constraint;

/// What a mapped constraint asks of the contexts sent to Pennon, for the report's notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caveat {
    /// `NUM_` operators compare JSON numbers: the attribute must be sent as a number.
    Number,
    /// `DATE_` operators compare the `currentTime` attribute: it must be sent (Unleash fills in the clock).
    Time,
}

/// The condition for `c`, with what it asks of contexts, or why it cannot be mapped.
pub fn condition(c: &Constraint) -> Result<(Condition, Option<Caveat>), String> {
    let attribute = c.context_name.clone();
    if attribute.is_empty() {
        return Err("the constraint names no context field".into());
    }
    let list = || -> Result<Vec<String>, String> {
        if c.values.is_empty() {
            Err(format!("{} with an empty list of values", c.operator))
        } else {
            Ok(c.values.clone())
        }
    };
    let single = || c.value.clone().ok_or_else(|| format!("{} without a value", c.operator));
    let strings = |v: Vec<String>| v.into_iter().map(Value::String).collect::<Vec<_>>();
    let (operator, values, caveat) = match c.operator.as_str() {
        "IN" => (Operator::In, strings(list()?), None),
        "NOT_IN" => {
            let cond = Condition { attribute, operator: Operator::In, values: strings(list()?), negate: !c.inverted };
            return Ok((cond, None));
        }
        op @ ("STR_CONTAINS" | "STR_STARTS_WITH" | "STR_ENDS_WITH") if c.case_insensitive => {
            let alternatives = list()?.iter().map(|v| regex::escape(v)).collect::<Vec<_>>().join("|");
            let pattern = match op {
                "STR_CONTAINS" => format!("(?i)(?:{alternatives})"),
                "STR_STARTS_WITH" => format!("(?i)^(?:{alternatives})"),
                _ => format!("(?i)(?:{alternatives})$"),
            };
            (Operator::Matches, vec![Value::String(pattern)], None)
        }
        "STR_CONTAINS" => (Operator::Contains, strings(list()?), None),
        "STR_STARTS_WITH" => (Operator::StartsWith, strings(list()?), None),
        "STR_ENDS_WITH" => (Operator::EndsWith, strings(list()?), None),
        "REGEX" => {
            let re = single()?;
            let pattern = if c.case_insensitive { format!("(?i){re}") } else { re };
            regex::Regex::new(&pattern).map_err(|e| format!("REGEX: invalid regular expression: {e}"))?;
            (Operator::Matches, vec![Value::String(pattern)], None)
        }
        op @ ("NUM_EQ" | "NUM_LT" | "NUM_LTE" | "NUM_GT" | "NUM_GTE") => {
            let raw = single()?;
            let n = raw
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .ok_or_else(|| format!("{op}: \"{raw}\" is not a number"))?;
            let operator = match op {
                "NUM_EQ" => Operator::Eq,
                "NUM_LT" => Operator::Lt,
                "NUM_LTE" => Operator::Lte,
                "NUM_GT" => Operator::Gt,
                _ => Operator::Gte,
            };
            (operator, vec![Value::Number(n)], Some(Caveat::Number))
        }
        op @ ("DATE_AFTER" | "DATE_BEFORE") => {
            let raw = single()?;
            time::OffsetDateTime::parse(&raw, &time::format_description::well_known::Rfc3339)
                .map_err(|_| format!("{op}: \"{raw}\" is not an RFC 3339 time"))?;
            let operator = if op == "DATE_AFTER" { Operator::After } else { Operator::Before };
            (operator, vec![Value::String(raw)], Some(Caveat::Time))
        }
        op @ ("SEMVER_EQ" | "SEMVER_LT" | "SEMVER_LTE" | "SEMVER_GT" | "SEMVER_GTE") => {
            let raw = single()?;
            semver::Version::parse(&raw).map_err(|_| format!("{op}: \"{raw}\" is not a semantic version"))?;
            let operator = match op {
                "SEMVER_EQ" => Operator::SemverEq,
                "SEMVER_LT" => Operator::SemverLt,
                "SEMVER_LTE" => Operator::SemverLte,
                "SEMVER_GT" => Operator::SemverGt,
                _ => Operator::SemverGte,
            };
            (operator, vec![Value::String(raw)], None)
        }
        "IN_CIDR" => return Err("IN_CIDR (IP ranges) has no Pennon operator".into()),
        other => return Err(format!("unknown operator \"{other}\"")),
    };
    Ok((Condition { attribute, operator, values, negate: c.inverted }, caveat))
}
