//! Conditions in compiled form: operands parsed once per snapshot, matching without allocation.

use std::cmp::Ordering;

use regex::Regex;
use serde_json::{Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::context::{AttrLookup, AttrRef};
use crate::model::{Condition, Operator};

/// A condition whose operands are parsed.
#[derive(Debug, Clone)]
pub(crate) struct CompiledCondition {
    attribute: String,
    /// The attribute name's hash (see `attributes::name_hash`), computed once.
    attribute_hash: u64,
    /// The attribute's number among the snapshot's attribute names (see `AttrMemo`), set when the snapshot
    /// is compiled; until then `usize::MAX`, which a memo answers by a direct lookup.
    slot: usize,
    negate: bool,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    /// `eq` / `in`: equal to any operand (strings, numbers by value, booleans).
    Equals {
        strings: Vec<String>,
        numbers: Vec<f64>,
        bools: Vec<bool>,
    },
    Contains(Vec<String>),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Matches(Vec<Regex>),
    Number(Cmp, Vec<f64>),
    Semver(Cmp, Vec<semver::Version>),
    /// Instants as Unix nanoseconds; `Lt` = before, `Gt` = after.
    Time(Cmp, Vec<i128>),
    Exists,
    /// Unleash's rollout: the hash state after `group_id:` and the percentage.
    UnleashRollout(crate::bucket::SaltPrefix, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, left: &T, right: &T) -> bool {
        match self {
            Cmp::Eq => left == right,
            Cmp::Lt => left < right,
            Cmp::Lte => left <= right,
            Cmp::Gt => left > right,
            Cmp::Gte => left >= right,
        }
    }

    fn holds_ordering(self, ordering: Ordering) -> bool {
        match self {
            Cmp::Eq => ordering.is_eq(),
            Cmp::Lt => ordering.is_lt(),
            Cmp::Lte => ordering.is_le(),
            Cmp::Gt => ordering.is_gt(),
            Cmp::Gte => ordering.is_ge(),
        }
    }
}

/// Why an operand could not be compiled; validation reports it with the operand's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OperandError {
    pub index: usize,
    pub message: String,
}

impl CompiledCondition {
    /// Parses the operands. Errors name the first operand that does not fit the operator.
    pub(crate) fn compile(c: &Condition) -> Result<Self, OperandError> {
        let test = match c.operator {
            Operator::Eq | Operator::In => equals(&c.values)?,
            Operator::Contains => Test::Contains(strings(&c.values)?),
            Operator::StartsWith => Test::StartsWith(strings(&c.values)?),
            Operator::EndsWith => Test::EndsWith(strings(&c.values)?),
            Operator::Matches => Test::Matches(
                strings(&c.values)?
                    .iter()
                    .enumerate()
                    .map(|(index, s)| {
                        Regex::new(s).map_err(|e| OperandError { index, message: format!("invalid regex: {e}") })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Operator::Lt => Test::Number(Cmp::Lt, numbers(&c.values)?),
            Operator::Lte => Test::Number(Cmp::Lte, numbers(&c.values)?),
            Operator::Gt => Test::Number(Cmp::Gt, numbers(&c.values)?),
            Operator::Gte => Test::Number(Cmp::Gte, numbers(&c.values)?),
            Operator::SemverEq => Test::Semver(Cmp::Eq, versions(&c.values)?),
            Operator::SemverLt => Test::Semver(Cmp::Lt, versions(&c.values)?),
            Operator::SemverLte => Test::Semver(Cmp::Lte, versions(&c.values)?),
            Operator::SemverGt => Test::Semver(Cmp::Gt, versions(&c.values)?),
            Operator::SemverGte => Test::Semver(Cmp::Gte, versions(&c.values)?),
            Operator::Before => Test::Time(Cmp::Lt, instants(&c.values)?),
            Operator::After => Test::Time(Cmp::Gt, instants(&c.values)?),
            Operator::Exists => Test::Exists,
            Operator::UnleashRollout => unleash_rollout(&c.values)?,
        };
        Ok(CompiledCondition {
            attribute: c.attribute.clone(),
            attribute_hash: crate::attributes::name_hash(&c.attribute),
            slot: usize::MAX,
            negate: c.negate,
            test,
        })
    }

    /// Sets the attribute's number among the snapshot's attribute names.
    pub(crate) fn set_slot(&mut self, slot: usize) {
        self.slot = slot;
    }

    /// Whether the condition holds for the context. A missing attribute or one of the wrong type does not
    /// match; `negate` inverts the final answer.
    pub(crate) fn holds<'c>(&self, attrs: &mut impl AttrLookup<'c>) -> bool {
        let matched = match attrs.attr(&self.attribute, self.attribute_hash, self.slot) {
            None => false,
            Some(attr) => self.matches_attr(attr),
        };
        matched != self.negate
    }

    fn matches_attr(&self, attr: AttrRef<'_>) -> bool {
        match attr {
            AttrRef::Str(s) => self.test.matches_str(s),
            AttrRef::Number(n) => self.test.matches_number(n),
            AttrRef::Bool(b) => self.test.matches_bool(b),
            AttrRef::Null => matches!(self.test, Test::Exists),
            AttrRef::Json(Value::Array(items)) => match self.test {
                Test::Exists => true,
                _ => items.iter().any(|item| self.test.matches_value(item)),
            },
            AttrRef::Json(v) => self.test.matches_value(v),
        }
    }
}

impl Test {
    fn matches_value(&self, v: &Value) -> bool {
        match v {
            Value::String(s) => self.matches_str(s),
            Value::Number(n) => self.matches_number(n),
            Value::Bool(b) => self.matches_bool(*b),
            _ => matches!(self, Test::Exists),
        }
    }

    fn matches_number(&self, n: &Number) -> bool {
        match self {
            Test::Exists => true,
            Test::Equals { numbers, .. } => n.as_f64().is_some_and(|n| numbers.contains(&n)),
            Test::Number(cmp, operands) => n.as_f64().is_some_and(|n| operands.iter().any(|o| cmp.holds(&n, o))),
            Test::Time(cmp, operands) => n
                .as_i64()
                .map(|ms| i128::from(ms) * 1_000_000)
                .is_some_and(|t| operands.iter().any(|o| cmp.holds(&t, o))),
            _ => false,
        }
    }

    fn matches_bool(&self, b: bool) -> bool {
        match self {
            Test::Exists => true,
            Test::Equals { bools, .. } => bools.contains(&b),
            _ => false,
        }
    }

    fn matches_str(&self, s: &str) -> bool {
        match self {
            Test::Equals { strings, .. } => strings.iter().any(|o| short_str_eq(o, s)),
            Test::Contains(ops) => ops.iter().any(|o| s.contains(o.as_str())),
            Test::StartsWith(ops) => ops.iter().any(|o| s.starts_with(o.as_str())),
            Test::EndsWith(ops) => ops.iter().any(|o| s.ends_with(o.as_str())),
            Test::Matches(res) => res.iter().any(|re| re.is_match(s)),
            Test::Semver(cmp, ops) => match parse_plain_semver(s) {
                Some(plain) => ops.iter().any(|o| cmp.holds_ordering(cmp_plain_semver(plain, o))),
                None => parse_semver(s).is_some_and(|v| ops.iter().any(|o| cmp.holds(&v, o))),
            },
            Test::Time(cmp, ops) => parse_instant(s).is_some_and(|t| ops.iter().any(|o| cmp.holds(&t, o))),
            Test::Exists => true,
            Test::UnleashRollout(group, percentage) => group.unleash_rollout_bucket(s) <= *percentage,
            Test::Number(..) => false,
        }
    }
}

/// `a == b`, comparing strings of up to 16 bytes with at most two word loads per side instead of a call into
/// `memcmp`, which costs more than the comparison for the short strings `eq` / `in` conditions test.
#[inline]
pub(crate) fn short_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word4 = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    let word8 = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    match n {
        0 => true,
        // Bytes 0, n/2 and n-1 cover every byte of a string this short.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        // Two overlapping words cover the string.
        4..=8 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        9..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

fn equals(values: &[Value]) -> Result<Test, OperandError> {
    let (mut strings, mut numbers, mut bools) = (Vec::new(), Vec::new(), Vec::new());
    for (index, v) in values.iter().enumerate() {
        match v {
            Value::String(s) => strings.push(s.clone()),
            Value::Number(n) => numbers.push(n.as_f64().unwrap_or(f64::NAN)),
            Value::Bool(b) => bools.push(*b),
            _ => return Err(OperandError { index, message: "expected a string, number or boolean".into() }),
        }
    }
    Ok(Test::Equals { strings, numbers, bools })
}

fn unleash_rollout(values: &[Value]) -> Result<Test, OperandError> {
    let group = values
        .first()
        .and_then(Value::as_str)
        .ok_or(OperandError { index: 0, message: "expected the group id, a string".into() })?;
    let percentage = values
        .get(1)
        .and_then(Value::as_u64)
        .filter(|p| *p <= 100)
        .ok_or(OperandError { index: 1, message: "expected a percentage, a whole number from 0 to 100".into() })?;
    Ok(Test::UnleashRollout(crate::bucket::SaltPrefix::new(group), percentage as u32))
}

fn strings(values: &[Value]) -> Result<Vec<String>, OperandError> {
    values
        .iter()
        .enumerate()
        .map(|(index, v)| {
            v.as_str().map(str::to_owned).ok_or(OperandError { index, message: "expected a string".into() })
        })
        .collect()
}

fn numbers(values: &[Value]) -> Result<Vec<f64>, OperandError> {
    values
        .iter()
        .enumerate()
        .map(|(index, v)| v.as_f64().ok_or(OperandError { index, message: "expected a number".into() }))
        .collect()
}

fn versions(values: &[Value]) -> Result<Vec<semver::Version>, OperandError> {
    values
        .iter()
        .enumerate()
        .map(|(index, v)| {
            v.as_str()
                .and_then(parse_semver)
                .ok_or(OperandError { index, message: "expected a semantic version such as \"2.3.0\"".into() })
        })
        .collect()
}

fn instants(values: &[Value]) -> Result<Vec<i128>, OperandError> {
    values
        .iter()
        .enumerate()
        .map(|(index, v)| {
            v.as_str().and_then(parse_instant).ok_or(OperandError {
                index,
                message: "expected an RFC 3339 time such as \"2026-01-31T12:00:00Z\"".into(),
            })
        })
        .collect()
}

/// Parses a semantic version; `2` and `2.3` are read as `2.0.0` and `2.3.0`. Build metadata is dropped: it has
/// no bearing on precedence (SemVer 2.0.0, item 10), so `2.3.0+build.7` compares equal to `2.3.0`.
pub(crate) fn parse_semver(s: &str) -> Option<semver::Version> {
    if let Some([major, minor, patch]) = parse_plain_semver(s) {
        return Some(semver::Version::new(major, minor, patch));
    }
    let mut v = parse_padded_semver(s)?;
    v.build = semver::BuildMetadata::EMPTY;
    Some(v)
}

/// The common case, `MAJOR[.MINOR[.PATCH]]` of plain numbers, without the general parser; `None` for
/// anything else (pre-release, build, leading zeros, overflow, ...), which the general path then decides.
fn parse_plain_semver(s: &str) -> Option<[u64; 3]> {
    let mut parts = [0u64; 3];
    let mut part = 0;
    let mut digits = 0;
    for &byte in s.as_bytes() {
        if byte == b'.' {
            if digits == 0 || part == 2 {
                return None;
            }
            part += 1;
            digits = 0;
        } else if byte.is_ascii_digit() {
            if digits == 1 && parts[part] == 0 {
                return None; // a leading zero
            }
            parts[part] = parts[part].checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
            digits += 1;
        } else {
            return None;
        }
    }
    (digits > 0).then_some(parts)
}

/// How the plain version `major.minor.patch` (no pre-release, no build metadata) orders against `other`, as
/// `semver::Version::cmp` would: by the numbers, then a release after any of its pre-releases.
fn cmp_plain_semver(plain: [u64; 3], other: &semver::Version) -> Ordering {
    if !other.build.is_empty() {
        // Operands are parsed without build metadata; kept exact for any other caller.
        return semver::Version::new(plain[0], plain[1], plain[2]).cmp(other);
    }
    plain.cmp(&[other.major, other.minor, other.patch]).then(if other.pre.is_empty() {
        Ordering::Equal
    } else {
        Ordering::Greater
    })
}

fn parse_padded_semver(s: &str) -> Option<semver::Version> {
    if let Ok(v) = semver::Version::parse(s) {
        return Some(v);
    }
    let core_end = s.find(['-', '+']).unwrap_or(s.len());
    let (core, rest) = s.split_at(core_end);
    let padded = match core.split('.').count() {
        1 => format!("{core}.0.0{rest}"),
        2 => format!("{core}.0{rest}"),
        _ => return None,
    };
    semver::Version::parse(&padded).ok()
}

fn parse_instant(s: &str) -> Option<i128> {
    OffsetDateTime::parse(s, &Rfc3339).ok().map(OffsetDateTime::unix_timestamp_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_semvers_are_padded() {
        assert_eq!(parse_semver("2"), Some(semver::Version::new(2, 0, 0)));
        assert_eq!(parse_semver("2.3"), Some(semver::Version::new(2, 3, 0)));
        assert_eq!(parse_semver("2.3-beta").map(|v| v.pre.to_string()), Some("beta".to_owned()));
        assert_eq!(parse_semver("x.y"), None);
        assert_eq!(parse_semver("1.2.3.4"), None);
    }

    fn general_semver(s: &str) -> Option<semver::Version> {
        let mut v = parse_padded_semver(s)?;
        v.build = semver::BuildMetadata::EMPTY;
        Some(v)
    }

    #[test]
    fn plain_semvers_parse_like_the_general_path() {
        for s in [
            "0",
            "1",
            "2.3",
            "2.3.1",
            "0.0.0",
            "10.20.30",
            "18446744073709551615.0.1",
            "18446744073709551616.0.0",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "1.2.3.4",
            "",
            ".",
            "1.",
            ".1",
            "1..2",
            "1.2.3.",
            "a.b.c",
            " 1.2.3",
            "1.2.3 ",
            "+1.2.3",
            "1.2.3-rc.1",
            "1.2.3+build",
            "1.2-beta",
            "٣.2.1",
        ] {
            assert_eq!(parse_semver(s), general_semver(s), "{s:?}");
            if let Some([major, minor, patch]) = parse_plain_semver(s) {
                assert_eq!(Some(semver::Version::new(major, minor, patch)), general_semver(s), "{s:?}");
            }
        }
    }

    #[test]
    fn plain_versions_order_like_semver() {
        let operands = ["2.3.0", "2.3.0-rc.1", "2.3.0-0", "2.3.1-alpha", "2.2.9", "2.3.1", "0.0.0", "2.3.0+build.5"];
        for plain in [[2, 3, 0], [2, 2, 9], [2, 3, 1], [0, 0, 0], [3, 0, 0]] {
            let version = semver::Version::new(plain[0], plain[1], plain[2]);
            for operand in operands {
                let operand = semver::Version::parse(operand).unwrap();
                assert_eq!(cmp_plain_semver(plain, &operand), version.cmp(&operand), "{version} vs {operand}");
            }
        }
    }

    #[test]
    fn short_string_equality_sees_every_byte() {
        for n in 0..=20 {
            let base: String = "abcdefghijklmnopqrstuvwxyz"[..n].to_owned();
            assert!(short_str_eq(&base, &base.clone()));
            for at in 0..n {
                let mut other = base.clone().into_bytes();
                other[at] = b'Z';
                assert!(!short_str_eq(&base, std::str::from_utf8(&other).unwrap()), "{base:?} at {at}");
            }
        }
        assert!(!short_str_eq("pro", "pr"));
    }

    proptest::proptest! {
        #[test]
        fn short_strings_compare_like_std(a in "[ab]{0,20}|\\PC{0,20}", b in "[ab]{0,20}|\\PC{0,20}") {
            proptest::prop_assert_eq!(short_str_eq(&a, &b), a == b);
            proptest::prop_assert!(short_str_eq(&a, &a.clone()));
        }

        #[test]
        fn plain_versions_compare_like_parsed_ones(
            plain in proptest::array::uniform3(0u64..4),
            core in proptest::array::uniform3(0u64..4),
            pre in "|-rc\\.[0-9]|-alpha|-0",
            build in "|\\+b[0-9]",
        ) {
            let operand = semver::Version::parse(&format!("{}.{}.{}{pre}{build}", core[0], core[1], core[2])).unwrap();
            let version = semver::Version::new(plain[0], plain[1], plain[2]);
            proptest::prop_assert_eq!(cmp_plain_semver(plain, &operand), version.cmp(&operand));
        }

        #[test]
        fn semvers_parse_like_the_general_path(s in "[0-9.+-]{0,12}|[0-9]{1,3}(\\.[0-9]{1,21}){0,3}") {
            proptest::prop_assert_eq!(parse_semver(&s), general_semver(&s));
        }
    }
}
