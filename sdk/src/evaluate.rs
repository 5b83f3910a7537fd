//! Typed evaluation: `bool_value`, `string_value`, `number_value`, `json_value` and their `*_detail` forms.
//!
//! Every call evaluates locally with pennon-engine against the current snapshot: no network, no lock, no
//! blocking. The value calls allocate nothing beyond the value they return (`string_value` and `json_value`
//! return owned copies); exposure counting is an atomic add and a lookup in a fixed table.

use pennon_engine::{Context, ErrorCode, FlagKind};
use serde::Serialize;
use serde_json::Value;

use crate::Client;
use crate::local::with_state;

/// Why a context got the value it got. Serialises as on the wire: `{"kind": "RULE_MATCH", "rule_id": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// The flag is disabled: its off variant.
    Off,
    /// A prerequisite did not serve the required variant: the off variant.
    PrerequisiteFailed {
        /// The prerequisite that failed.
        flag: String,
    },
    /// The context key is an individual target.
    TargetMatch,
    /// A rule matched.
    RuleMatch {
        /// The rule's id.
        rule_id: String,
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
    /// The flag could not be evaluated as asked; the caller's default was served unless the code is
    /// `MISSING_BUCKET_BY`, which serves the off variant.
    Error {
        /// What went wrong: `FLAG_NOT_FOUND`, `TYPE_MISMATCH`, `MALFORMED_CONFIG`, `MISSING_BUCKET_BY`.
        error: ErrorCode,
    },
}

impl Reason {
    /// The kind as on the wire: `OFF`, `PREREQUISITE_FAILED`, `TARGET_MATCH`, `RULE_MATCH`, `FALLTHROUGH`,
    /// `ERROR`.
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

    /// The error code of an `ERROR` reason.
    pub fn error(&self) -> Option<ErrorCode> {
        match self {
            Reason::Error { error } => Some(*error),
            _ => None,
        }
    }

    /// The bucket of a split.
    pub fn bucket(&self) -> Option<u32> {
        match self {
            Reason::RuleMatch { bucket, .. } | Reason::Fallthrough { bucket } => *bucket,
            _ => None,
        }
    }
}

impl From<pennon_engine::Reason<'_>> for Reason {
    fn from(reason: pennon_engine::Reason<'_>) -> Self {
        use pennon_engine::Reason as R;
        match reason {
            R::Off => Reason::Off,
            R::PrerequisiteFailed { flag } => Reason::PrerequisiteFailed { flag: flag.to_owned() },
            R::TargetMatch => Reason::TargetMatch,
            R::RuleMatch { rule_id, rule_index, bucket } => {
                Reason::RuleMatch { rule_id: rule_id.to_owned(), rule_index, bucket }
            }
            R::Fallthrough { bucket } => Reason::Fallthrough { bucket },
            R::Error { error } => Reason::Error { error },
        }
    }
}

/// A value with how it was chosen: what the `*_detail` methods return.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationDetail<T> {
    /// The value served, or the caller's default on error.
    pub value: T,
    /// The variant served; `None` when the caller's default was returned.
    pub variant: Option<String>,
    /// The flag config's version (0 for an unknown flag).
    pub version: u64,
    /// Why.
    pub reason: Reason,
}

impl<T> EvaluationDetail<T> {
    /// The error code, when evaluation did not go as asked.
    pub fn error(&self) -> Option<ErrorCode> {
        self.reason.error()
    }
}

/// Which flag kinds a typed call accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Kind(FlagKind),
    Any,
}

impl Want {
    #[inline]
    fn admits(self, kind: FlagKind) -> bool {
        match self {
            Want::Kind(want) => want == kind,
            Want::Any => true,
        }
    }
}

impl Client {
    /// Evaluates a flag; `Some` only when a variant of the wanted kind was served (and counted).
    #[inline]
    fn value_of<T>(
        &self,
        key: &str,
        ctx: &Context,
        want: Want,
        extract: impl FnOnce(&Value) -> Option<T>,
    ) -> Option<T> {
        with_state(&self.shared.store, |state, stripe| {
            let (eval, served) = state.compiled.evaluate_served(key, ctx);
            let served = served?;
            if !want.admits(*state.kinds.get(served.flag)?) {
                return None;
            }
            let value = extract(eval.value?)?;
            self.shared.events.record(state, served, ctx, stripe);
            Some(value)
        })
    }

    /// Evaluates a flag with the reason. Crate-visible for the OpenFeature provider, which wants integers.
    pub(crate) fn detail_of<T>(
        &self,
        key: &str,
        ctx: &Context,
        default: T,
        want: Want,
        extract: impl FnOnce(&Value) -> Option<T>,
    ) -> EvaluationDetail<T> {
        with_state(&self.shared.store, |state, stripe| {
            let (eval, served) = state.compiled.evaluate_served(key, ctx);
            let error = |default, error| EvaluationDetail {
                value: default,
                variant: None,
                version: eval.version,
                reason: Reason::Error { error },
            };
            let (Some(served), Some(value)) = (served, eval.value) else {
                let code = match eval.reason {
                    pennon_engine::Reason::Error { error } => error,
                    _ => ErrorCode::MalformedConfig,
                };
                return error(default, code);
            };
            if !state.kinds.get(served.flag).is_some_and(|&kind| want.admits(kind)) {
                return error(default, ErrorCode::TypeMismatch);
            }
            let Some(value) = extract(value) else { return error(default, ErrorCode::TypeMismatch) };
            self.shared.events.record(state, served, ctx, stripe);
            EvaluationDetail {
                value,
                variant: eval.variant.map(str::to_owned),
                version: eval.version,
                reason: eval.reason.into(),
            }
        })
    }

    /// The value of a boolean flag for `ctx`, or `default` when the flag is unknown, not boolean or cannot be
    /// evaluated.
    ///
    /// ```
    /// use pennon_sdk::{Context, TestData};
    /// let data = TestData::new();
    /// data.update(data.flag("new-checkout").value_for_all(true));
    /// let client = data.client();
    /// assert!(client.bool_value("new-checkout", &Context::new("user-42"), false));
    /// assert!(!client.bool_value("no-such-flag", &Context::new("user-42"), false));
    /// ```
    #[inline]
    pub fn bool_value(&self, key: &str, ctx: &Context, default: bool) -> bool {
        self.value_of(key, ctx, Want::Kind(FlagKind::Boolean), Value::as_bool).unwrap_or(default)
    }

    /// The value of a string flag, or `default`.
    #[inline]
    pub fn string_value(&self, key: &str, ctx: &Context, default: &str) -> String {
        self.value_of(key, ctx, Want::Kind(FlagKind::String), |v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| default.to_owned())
    }

    /// The value of a number flag, or `default`.
    #[inline]
    pub fn number_value(&self, key: &str, ctx: &Context, default: f64) -> f64 {
        self.value_of(key, ctx, Want::Kind(FlagKind::Number), Value::as_f64).unwrap_or(default)
    }

    /// The value of a flag of any kind, as JSON, or `default`.
    #[inline]
    pub fn json_value(&self, key: &str, ctx: &Context, default: Value) -> Value {
        self.value_of(key, ctx, Want::Any, |v| Some(v.clone())).unwrap_or(default)
    }

    /// [`bool_value`](Self::bool_value) with the variant, version and reason.
    ///
    /// ```
    /// use pennon_sdk::{Context, ErrorCode, TestData};
    /// let data = TestData::new();
    /// data.update(data.flag("banner").value_for_all("blue"));
    /// let client = data.client();
    /// let detail = client.bool_detail("banner", &Context::new("user-42"), false);
    /// assert_eq!((detail.value, detail.error()), (false, Some(ErrorCode::TypeMismatch)));
    /// ```
    pub fn bool_detail(&self, key: &str, ctx: &Context, default: bool) -> EvaluationDetail<bool> {
        self.detail_of(key, ctx, default, Want::Kind(FlagKind::Boolean), Value::as_bool)
    }

    /// [`string_value`](Self::string_value) with the variant, version and reason.
    pub fn string_detail(&self, key: &str, ctx: &Context, default: &str) -> EvaluationDetail<String> {
        self.detail_of(key, ctx, default.to_owned(), Want::Kind(FlagKind::String), |v| v.as_str().map(str::to_owned))
    }

    /// [`number_value`](Self::number_value) with the variant, version and reason.
    pub fn number_detail(&self, key: &str, ctx: &Context, default: f64) -> EvaluationDetail<f64> {
        self.detail_of(key, ctx, default, Want::Kind(FlagKind::Number), Value::as_f64)
    }

    /// [`json_value`](Self::json_value) with the variant, version and reason.
    pub fn json_detail(&self, key: &str, ctx: &Context, default: Value) -> EvaluationDetail<Value> {
        self.detail_of(key, ctx, default, Want::Any, |v| Some(v.clone()))
    }
}
