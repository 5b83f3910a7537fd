//! What an evaluation answers: the value served and why.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The outcome of evaluating one flag for one context. Borrows from the snapshot: no allocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation<'a> {
    /// The flag key asked for.
    pub flag: &'a str,
    /// The value served; `None` on error (the caller's default applies).
    pub value: Option<&'a Value>,
    /// The variant served; `None` on error.
    pub variant: Option<&'a str>,
    /// The flag config's version; 0 when the flag is unknown.
    pub version: u64,
    /// Why.
    pub reason: Reason<'a>,
}

/// Where an evaluation's answer sits in the snapshot that gave it: see
/// [`CompiledSnapshot::evaluate_served`](crate::CompiledSnapshot::evaluate_served).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Served {
    /// The flag's position in snapshot order, as [`CompiledSnapshot::flag_keys`](crate::CompiledSnapshot::flag_keys) lists them.
    pub flag: usize,
    /// The served variant's position in the flag's variants, as [`CompiledSnapshot::variant_keys`](crate::CompiledSnapshot::variant_keys) lists them.
    pub variant: usize,
}

/// Why a context got what it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason<'a> {
    /// The flag is disabled: the off variant.
    Off,
    /// A prerequisite did not serve the required variant: the off variant.
    PrerequisiteFailed {
        /// The prerequisite that failed.
        flag: &'a str,
    },
    /// The context key is an individual target.
    TargetMatch,
    /// A rule matched.
    RuleMatch {
        /// The rule's id.
        rule_id: &'a str,
        /// Its position in the rules.
        rule_index: usize,
        /// The bucket, when the rule serves a split.
        #[serde(skip_serializing_if = "Option::is_none")]
        bucket: Option<u32>,
    },
    /// No target or rule matched: the default.
    Fallthrough {
        /// The bucket, when the default is a split.
        #[serde(skip_serializing_if = "Option::is_none")]
        bucket: Option<u32>,
    },
    /// Evaluation could not decide; see the code.
    Error {
        /// What went wrong.
        error: ErrorCode,
    },
}

impl Reason<'_> {
    /// The reason's kind as on the wire (`OFF`, `RULE_MATCH`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Off => "OFF",
            Reason::PrerequisiteFailed { .. } => "PREREQUISITE_FAILED",
            Reason::TargetMatch => "TARGET_MATCH",
            Reason::RuleMatch { .. } => "RULE_MATCH",
            Reason::Fallthrough { .. } => "FALLTHROUGH",
            Reason::Error { .. } => "ERROR",
        }
    }
}

/// Error codes of `ERROR` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// No flag with that key in the snapshot.
    FlagNotFound,
    /// The caller asked for a type the flag does not serve (reported by typed SDK calls).
    TypeMismatch,
    /// A split buckets by an attribute the context lacks: the off variant is served.
    MissingBucketBy,
    /// The flag's config cannot be evaluated (unknown variant, bad operand, prerequisite cycle, ...).
    MalformedConfig,
}

impl ErrorCode {
    /// The code as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::MissingBucketBy => "MISSING_BUCKET_BY",
            ErrorCode::MalformedConfig => "MALFORMED_CONFIG",
        }
    }
}
