//! Evaluation: which variant a context gets, and why.

#[cfg(test)]
use serde_json::Value;

use crate::bucket::SaltPrefix;
use crate::compile::{BucketBy, CompiledFlag, CompiledServe, CompiledSnapshot};
use crate::context::{AttrLookup, AttrMemo, AttrRef, ContextSource};
use crate::decided::Decided;
pub use crate::evaluation::{ErrorCode, Evaluation, Reason, Served};

#[cfg(test)]
thread_local! {
    /// Flag decisions made on this thread, for tests that count an evaluation's work.
    pub(crate) static DECISIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
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
                self.evaluate_index(i, &mut direct, None)
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
    #[inline]
    pub fn evaluate_served<'a>(
        &'a self,
        flag_key: &'a str,
        ctx: &impl ContextSource,
    ) -> (Evaluation<'a>, Option<Served>) {
        match self.index.get(flag_key) {
            Some(&i) => {
                let mut direct = ctx;
                let (eval, variant) = self.evaluate_index_served(i, &mut direct, None);
                (eval, variant.map(|variant| Served { flag: i, variant }))
            }
            None => (self.evaluate(flag_key, ctx), None),
        }
    }

    /// Evaluates every flag for a context, in snapshot order. Each attribute is looked up in the context once,
    /// however many flags test it, and each flag is decided once, however many flags require it.
    pub fn evaluate_all(&self, ctx: &impl ContextSource) -> Vec<Evaluation<'_>> {
        let mut attrs = AttrMemo::new(ctx, self.attributes.len());
        let mut decided = (!self.prerequisites.is_empty()).then(|| Decided::all(self.flags.len()));
        (0..self.flags.len()).map(|i| self.evaluate_index(i, &mut attrs, decided.as_mut())).collect()
    }

    /// [`evaluate_all`](Self::evaluate_all), with the position of the variant each flag served (as
    /// [`variant_keys`](Self::variant_keys) lists them; `None` on error).
    pub fn evaluate_all_served(&self, ctx: &impl ContextSource) -> Vec<(Evaluation<'_>, Option<usize>)> {
        let mut attrs = AttrMemo::new(ctx, self.attributes.len());
        let mut decided = (!self.prerequisites.is_empty()).then(|| Decided::all(self.flags.len()));
        (0..self.flags.len()).map(|i| self.evaluate_index_served(i, &mut attrs, decided.as_mut())).collect()
    }

    fn evaluate_index<'a, 'c>(
        &'a self,
        i: usize,
        attrs: &mut impl AttrLookup<'c>,
        decided: Option<&mut Decided<'a>>,
    ) -> Evaluation<'a> {
        self.evaluate_index_served(i, attrs, decided).0
    }

    /// The evaluation of the flag at position `i`, and the position of the variant it served. With `decided`,
    /// the decision is looked up there (or recorded), for the flags evaluated next that require it.
    #[inline]
    fn evaluate_index_served<'a, 'c>(
        &'a self,
        i: usize,
        attrs: &mut impl AttrLookup<'c>,
        decided: Option<&mut Decided<'a>>,
    ) -> (Evaluation<'a>, Option<usize>) {
        let flag = self.flags.at(i);
        let (variant, reason) =
            if let Some(decided) = decided { self.decision(i, attrs, decided) } else { self.decide(flag, attrs, None) };
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

    /// The decision for the flag at position `i`, made at most once per evaluation: `decided` remembers it.
    fn decision<'a, 'c>(
        &'a self,
        i: usize,
        attrs: &mut impl AttrLookup<'c>,
        decided: &mut Decided<'a>,
    ) -> (Option<usize>, Reason<'a>) {
        if let Some(decision) = decided.get(i) {
            return decision;
        }
        let decision = self.decide(self.flags.at(i), attrs, Some(&mut *decided));
        decided.insert(i, decision);
        decision
    }

    /// The variant index and reason for one flag. Recursion through prerequisites ends, and within
    /// [`MAX_PREREQUISITE_DEPTH`](crate::MAX_PREREQUISITE_DEPTH) steps: flags on a prerequisite cycle or with a
    /// longer chain are unresolvable.
    fn decide<'a, 'c>(
        &'a self,
        flag: &'a CompiledFlag,
        attrs: &mut impl AttrLookup<'c>,
        decided: Option<&mut Decided<'a>>,
    ) -> (Option<usize>, Reason<'a>) {
        #[cfg(test)]
        DECISIONS.with(|d| d.set(d.get() + 1));
        if flag.broken
            || (!flag.segment_slots.is_empty() && flag.segment_slots.iter().any(|&s| self.segments[s].is_none()))
            || (!flag.prerequisites.is_empty()
                && !self.unresolvable.is_empty()
                && self.unresolvable.contains(&*flag.key))
        {
            return (None, Reason::Error { error: ErrorCode::MalformedConfig });
        }
        if !flag.enabled {
            return (Some(flag.off_variant), Reason::Off);
        }
        if !flag.prerequisites.is_empty()
            && let Some(failed) = self.failed_prerequisite(flag, attrs, decided)
        {
            return (Some(flag.off_variant), Reason::PrerequisiteFailed { flag: failed });
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
            CompiledServe::Split { bucket_by, weights, unleash } => {
                let bucket = match unleash {
                    None => bucket_of(&flag.salt, bucket_by, attrs),
                    Some(group) => {
                        let total = weights.last().map_or(0, |(upper, _)| *upper);
                        // Unleash's buckets start at 1 and a variant owns its upper bound.
                        with_bucket_value(bucket_by, attrs, |v| {
                            crate::bucket::unleash_variant_bucket(group, v, total) - 1
                        })
                    }
                };
                let Some(b) = bucket else {
                    return (Some(flag.off_variant), Reason::Error { error: ErrorCode::MissingBucketBy });
                };
                match weights.iter().find(|(upper, _)| b < *upper) {
                    Some(&(_, v)) => (Some(v), reason(Some(b))),
                    None => (None, Reason::Error { error: ErrorCode::MalformedConfig }),
                }
            }
        }
    }

    /// The key of the first prerequisite of `flag` that fails. A prerequisite passes when its flag is on, its
    /// own prerequisites pass, and it serves the required variant; an unknown or broken prerequisite fails.
    #[inline(never)]
    fn failed_prerequisite<'a, 'c>(
        &'a self,
        flag: &'a CompiledFlag,
        attrs: &mut impl AttrLookup<'c>,
        decided: Option<&mut Decided<'a>>,
    ) -> Option<&'a str> {
        // Evaluating one flag keeps its decisions here, from the first prerequisite met.
        let mut own = Decided::default();
        let decided = match decided {
            Some(decided) => decided,
            None => &mut own,
        };
        for (key, required) in &flag.prerequisites {
            let passed = self.index.get(&**key).is_some_and(|&p| {
                let (served, reason) = self.decision(p, attrs, decided);
                served.is_some_and(|v| self.flags.at(p).variants[v].0 == *required)
                    && !matches!(reason, Reason::Off | Reason::PrerequisiteFailed { .. } | Reason::Error { .. })
            });
            if !passed {
                return Some(key);
            }
        }
        None
    }

    fn in_segment<'c>(&self, s: usize, attrs: &mut impl AttrLookup<'c>) -> bool {
        // Flags naming a segment the snapshot lacks are malformed: they never get here.
        let Some(segment) = &self.segments[s] else { return false };
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
    with_bucket_value(by, attrs, |v| salt.bucket(v))
}

/// `hash` of the value a split buckets by, or `None` when the context lacks it (or it is neither a string
/// nor an integer).
fn with_bucket_value<'c>(by: &BucketBy, attrs: &impl AttrLookup<'c>, hash: impl FnOnce(&str) -> u32) -> Option<u32> {
    match by {
        BucketBy::Key => attrs.key().map(hash),
        BucketBy::Attribute(name) => match attrs.attribute(name)? {
            AttrRef::Str(s) => Some(hash(s)),
            AttrRef::Number(n) if n.is_i64() || n.is_u64() => {
                use std::io::Write;
                let mut buf = [0u8; 24];
                let mut cursor = &mut buf[..];
                write!(cursor, "{n}").ok()?;
                let written = 24 - cursor.len();
                std::str::from_utf8(&buf[..written]).ok().map(hash)
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
