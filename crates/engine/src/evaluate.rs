//! Evaluation: which variant a context gets, and why.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bucket::SaltPrefix;
use crate::compile::{BucketBy, CompiledFlag, CompiledServe, CompiledSnapshot};
use crate::context::{AttrLookup, AttrMemo, AttrRef, ContextSource};

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
/// [`CompiledSnapshot::evaluate_served`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Served {
    /// The flag's position in snapshot order, as [`CompiledSnapshot::flag_keys`] lists them.
    pub flag: usize,
    /// The served variant's position in the flag's variants, as [`CompiledSnapshot::variant_keys`] lists them.
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

impl CompiledSnapshot {
    /// Evaluates one flag for a context.
    ///
    /// ```
    /// use pennon_engine::{CompiledSnapshot, Context, Snapshot};
    /// let snapshot = CompiledSnapshot::compile(&Snapshot::default());
    /// let eval = snapshot.evaluate("missing", &Context::new("user-1"));
    /// assert_eq!(eval.reason.kind(), "ERROR");
    /// ```
    pub fn evaluate<'a>(&'a self, flag_key: &'a str, ctx: &impl ContextSource) -> Evaluation<'a> {
        match self.index.get(flag_key) {
            Some(&i) => {
                // One flag reads each attribute about once: look them up directly rather than set up a memo.
                let mut direct = ctx;
                self.evaluate_index(i, &mut direct)
            }
            None => Evaluation {
                flag: flag_key,
                value: None,
                variant: None,
                version: 0,
                reason: Reason::Error { error: ErrorCode::FlagNotFound },
            },
        }
    }

    /// Evaluates one flag like [`evaluate`](Self::evaluate), and also tells where the answer sits in this
    /// snapshot: the flag's position (its place in [`flag_keys`](Self::flag_keys)) and the served variant's
    /// position (its place in [`variant_keys`](Self::variant_keys)). `None` when no variant was served (an
    /// unknown flag, a malformed config).
    ///
    /// Positions let a caller keep per-(flag, variant) counters in a plain array laid out once per snapshot,
    /// instead of hashing keys on every evaluation. They are only meaningful for the snapshot that produced
    /// them: a new snapshot may order flags differently.
    ///
    /// ```
    /// use pennon_engine::{CompiledSnapshot, Context, Snapshot};
    /// let snapshot: Snapshot = serde_json::from_str(r#"{ "flags": [{
    ///   "definition": { "key": "dark-mode", "kind": "boolean", "salt": "s",
    ///     "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
    ///   "config": { "flag": "dark-mode", "environment": "production", "version": 1, "enabled": false,
    ///     "off_variant": "off", "default": { "variant": "on" } } }] }"#).unwrap();
    /// let compiled = CompiledSnapshot::compile(&snapshot);
    /// let (eval, served) = compiled.evaluate_served("dark-mode", &Context::new("user-1"));
    /// assert_eq!(eval.variant, Some("off"));
    /// let served = served.unwrap();
    /// assert_eq!((served.flag, served.variant), (0, 1));
    /// assert_eq!(compiled.variant_keys(served.flag).nth(served.variant), Some("off"));
    /// assert_eq!(compiled.evaluate_served("missing", &Context::new("user-1")).1, None);
    /// ```
    pub fn evaluate_served<'a>(
        &'a self,
        flag_key: &'a str,
        ctx: &impl ContextSource,
    ) -> (Evaluation<'a>, Option<Served>) {
        match self.index.get(flag_key) {
            Some(&i) => {
                let mut direct = ctx;
                let (eval, variant) = self.evaluate_index_served(i, &mut direct);
                (eval, variant.map(|variant| Served { flag: i, variant }))
            }
            None => (self.evaluate(flag_key, ctx), None),
        }
    }

    /// Evaluates every flag for a context, in snapshot order. Each attribute is looked up in the context once,
    /// however many flags test it.
    pub fn evaluate_all(&self, ctx: &impl ContextSource) -> Vec<Evaluation<'_>> {
        let mut attrs = AttrMemo::new(ctx, self.attribute_slots);
        (0..self.flags.len()).map(|i| self.evaluate_index(i, &mut attrs)).collect()
    }

    /// [`evaluate_all`](Self::evaluate_all), with the position of the variant each flag served (as
    /// [`variant_keys`](Self::variant_keys) lists them; `None` on error).
    pub fn evaluate_all_served(&self, ctx: &impl ContextSource) -> Vec<(Evaluation<'_>, Option<usize>)> {
        let mut attrs = AttrMemo::new(ctx, self.attribute_slots);
        (0..self.flags.len()).map(|i| self.evaluate_index_served(i, &mut attrs)).collect()
    }

    fn evaluate_index<'c>(&self, i: usize, attrs: &mut impl AttrLookup<'c>) -> Evaluation<'_> {
        self.evaluate_index_served(i, attrs).0
    }

    /// The evaluation of the flag at position `i`, and the position of the variant it served.
    #[inline]
    fn evaluate_index_served<'c>(&self, i: usize, attrs: &mut impl AttrLookup<'c>) -> (Evaluation<'_>, Option<usize>) {
        let flag = &self.flags[i];
        let (variant, reason) = self.decide(flag, attrs);
        let served = variant.map(|v| &flag.variants[v]);
        let eval = Evaluation {
            flag: &flag.key,
            value: served.map(|(_, value)| value),
            variant: served.map(|(key, _)| key.as_str()),
            version: flag.version,
            reason,
        };
        (eval, variant)
    }

    /// The variant index and reason for one flag.
    /// Recursion through prerequisites ends: compiling marks every flag on a prerequisite cycle broken.
    fn decide<'a, 'c>(
        &'a self,
        flag: &'a CompiledFlag,
        attrs: &mut impl AttrLookup<'c>,
    ) -> (Option<usize>, Reason<'a>) {
        if flag.broken {
            return (None, Reason::Error { error: ErrorCode::MalformedConfig });
        }
        if !flag.enabled {
            return (Some(flag.off_variant), Reason::Off);
        }
        for (prereq, required, key) in &flag.prerequisites {
            // A prerequisite passes when its flag is on, its own prerequisites pass, and it serves the
            // required variant; an unknown or broken prerequisite fails.
            let passed = prereq.is_some_and(|p| {
                let (served, reason) = self.decide(&self.flags[p], attrs);
                served == *required
                    && !matches!(reason, Reason::Off | Reason::PrerequisiteFailed { .. } | Reason::Error { .. })
            });
            if !passed {
                return (Some(flag.off_variant), Reason::PrerequisiteFailed { flag: key });
            }
        }
        if !flag.targets.is_empty()
            && let Some(&v) = attrs.key().and_then(|k| flag.targets.get(k))
        {
            return (Some(v), Reason::TargetMatch);
        }
        for (rule_index, rule) in flag.rules.iter().enumerate() {
            if rule.conditions.iter().all(|c| c.holds(attrs))
                && rule.segments.iter().all(|&s| self.in_segment(s, attrs))
            {
                return Self::serve(flag, &rule.serve, &*attrs, |bucket| Reason::RuleMatch {
                    rule_id: &rule.id,
                    rule_index,
                    bucket,
                });
            }
        }
        Self::serve(flag, &flag.default, &*attrs, |bucket| Reason::Fallthrough { bucket })
    }

    fn serve<'a, 'c>(
        flag: &'a CompiledFlag,
        serve: &CompiledServe,
        attrs: &impl AttrLookup<'c>,
        reason: impl FnOnce(Option<u32>) -> Reason<'a>,
    ) -> (Option<usize>, Reason<'a>) {
        match serve {
            CompiledServe::Variant(v) => (Some(*v), reason(None)),
            CompiledServe::Split { bucket_by, weights } => {
                let Some(b) = bucket_of(&flag.salt, bucket_by, attrs) else {
                    return (Some(flag.off_variant), Reason::Error { error: ErrorCode::MissingBucketBy });
                };
                match weights.iter().find(|(upper, _)| b < *upper) {
                    Some(&(_, v)) => (Some(v), reason(Some(b))),
                    None => (None, Reason::Error { error: ErrorCode::MalformedConfig }),
                }
            }
        }
    }

    fn in_segment<'c>(&self, s: usize, attrs: &mut impl AttrLookup<'c>) -> bool {
        let segment = &self.segments[s];
        if let Some(key) = attrs.key() {
            if segment.included.contains(key) {
                return true;
            }
            if segment.excluded.contains(key) {
                return false;
            }
        }
        !segment.conditions.is_empty() && segment.conditions.iter().all(|c| c.holds(attrs))
    }
}

/// The context's bucket for a split, or `None` when it lacks the attribute (or it is neither a string nor
/// an integer).
fn bucket_of<'c>(salt: &SaltPrefix, by: &BucketBy, attrs: &impl AttrLookup<'c>) -> Option<u32> {
    match by {
        BucketBy::Key => attrs.key().map(|k| salt.bucket(k)),
        BucketBy::Attribute(name) => match attrs.attribute(name)? {
            AttrRef::Str(s) => Some(salt.bucket(s)),
            AttrRef::Number(n) if n.is_i64() || n.is_u64() => {
                use std::io::Write;
                let mut buf = [0u8; 24];
                let mut cursor = &mut buf[..];
                write!(cursor, "{n}").ok()?;
                let written = 24 - cursor.len();
                std::str::from_utf8(&buf[..written]).ok().map(|s| salt.bucket(s))
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;
    use crate::Snapshot;

    /// `evaluate_all` (and `evaluate_all_served`) share attribute lookups between flags; they must answer
    /// exactly as evaluating each flag on its own does, for every snapshot and context of the evaluation test vectors.
    #[test]
    fn evaluate_all_agrees_with_evaluate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/evaluation");
        let mut contexts = 0;
        for entry in std::fs::read_dir(&dir).expect("evaluation vectors") {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let snapshot: Snapshot = serde_json::from_value(file["snapshot"].clone()).unwrap();
            let compiled = CompiledSnapshot::compile(&snapshot);
            for case in file["cases"].as_array().unwrap() {
                let ctx: Context = serde_json::from_value(case["context"].clone()).unwrap();
                let one_by_one: Vec<_> = compiled.flag_keys().map(|key| compiled.evaluate(key, &ctx)).collect();
                assert_eq!(compiled.evaluate_all(&ctx), one_by_one, "{}: {}", path.display(), case["name"]);
                let served: Vec<_> = compiled
                    .flag_keys()
                    .map(|key| {
                        let (eval, served) = compiled.evaluate_served(key, &ctx);
                        (eval, served.map(|s| s.variant))
                    })
                    .collect();
                assert_eq!(compiled.evaluate_all_served(&ctx), served, "{}: {}", path.display(), case["name"]);
                contexts += 1;
            }
        }
        assert!(contexts > 100, "only {contexts} contexts found in {}", dir.display());
    }

    /// `evaluate_served` answers exactly as `evaluate` does, and its positions name the flag and the variant
    /// served, for every case of the evaluation test vectors and for unknown flags.
    #[test]
    fn evaluate_served_agrees_with_evaluate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/evaluation");
        let mut served_count = 0;
        for entry in std::fs::read_dir(&dir).expect("evaluation vectors") {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let snapshot: Snapshot = serde_json::from_value(file["snapshot"].clone()).unwrap();
            let compiled = CompiledSnapshot::compile(&snapshot);
            for case in file["cases"].as_array().unwrap() {
                let ctx: Context = serde_json::from_value(case["context"].clone()).unwrap();
                let key = case["flag"].as_str().unwrap();
                let (eval, served) = compiled.evaluate_served(key, &ctx);
                assert_eq!(eval, compiled.evaluate(key, &ctx), "{}: {}", path.display(), case["name"]);
                match served {
                    Some(s) => {
                        served_count += 1;
                        assert_eq!(compiled.flag_keys().nth(s.flag), Some(key));
                        assert_eq!(compiled.variant_keys(s.flag).nth(s.variant), eval.variant);
                    }
                    None => assert_eq!(eval.variant, None, "{}: {}", path.display(), case["name"]),
                }
            }
            assert_eq!(compiled.variant_keys(compiled.len()).count(), 0);
        }
        assert!(served_count > 100, "only {served_count} served variants in {}", dir.display());
    }
}
