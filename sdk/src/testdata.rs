//! [`TestData`]: flags held in memory, for testing code that uses the SDK without a server.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use pennon_engine::{
    Condition, Flag, FlagConfig, FlagKind, Operator, Prerequisite, Rule, Segment, Serve, Snapshot, SnapshotFlag, Split,
    Target, Variant, Weight,
};
use serde_json::Value;

use crate::client::{Client, Shared};
use crate::error::Status;
use crate::state::Source;

/// An in-memory source of flags for tests: set flags up, hand out clients, change flags while the code under
/// test runs. Every client made from it sees every update at once, and its change listeners fire.
///
/// ```
/// use pennon_sdk::{Context, TestData};
///
/// let data = TestData::new();
/// data.update(data.flag("new-checkout").variation_for_all("off"));
/// let client = data.client();
/// let ctx = Context::new("user-42").with("plan", "pro");
/// assert!(!client.bool_value("new-checkout", &ctx, true));
///
/// data.update(data.flag("new-checkout").if_match("plan", ["pro"]).then_return("on"));
/// assert!(client.bool_value("new-checkout", &ctx, false));
/// assert!(!client.bool_value("new-checkout", &Context::new("user-7"), true));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TestData {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    snapshot: Mutex<Snapshot>,
    clients: Mutex<Vec<Weak<Shared>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

const ENVIRONMENT: &str = "test";

impl TestData {
    /// No flags yet.
    pub fn new() -> Self {
        TestData::default()
    }

    /// A client serving these flags: no network, no background tasks, events not sent; status
    /// [`Status::Offline`]. Works outside an async runtime too.
    pub fn client(&self) -> Client {
        let snapshot = self.snapshot();
        let config = crate::ClientBuilder::new("http://test-data.invalid", "").offline(true).events(false).config;
        let shared = Arc::new(Shared::new(config, None, snapshot, Source::TestData, Status::Offline));
        lock(&self.inner.clients).push(Arc::downgrade(&shared));
        Client::detached(shared)
    }

    /// A builder for the flag `key`: a copy of it when it exists, else a new boolean flag that is on and
    /// serves `on` (true) to everyone. Pass it to [`update`](Self::update) when done.
    pub fn flag(&self, key: &str) -> FlagBuilder {
        let existing = lock(&self.inner.snapshot).flags.iter().find(|f| f.definition.key == key).cloned();
        FlagBuilder { flag: existing.unwrap_or_else(|| FlagBuilder::new_boolean(key)) }
    }

    /// Stores the flag built and tells every client.
    pub fn update(&self, flag: FlagBuilder) {
        self.set_flag(flag.into_flag());
    }

    /// Stores a flag exactly as given (its config version is bumped) and tells every client.
    pub fn set_flag(&self, mut flag: SnapshotFlag) {
        self.edit(|snapshot| {
            let key = flag.definition.key.clone();
            match snapshot.flags.iter_mut().find(|f| f.definition.key == key) {
                Some(slot) => {
                    flag.config.version = flag.config.version.max(slot.config.version + 1);
                    *slot = flag;
                }
                None => snapshot.flags.push(flag),
            }
        });
    }

    /// Stores a segment and tells every client.
    pub fn set_segment(&self, mut segment: Segment) {
        self.edit(|snapshot| match snapshot.segments.iter_mut().find(|s| s.key == segment.key) {
            Some(slot) => {
                segment.version = segment.version.max(slot.version + 1);
                *slot = segment;
            }
            None => snapshot.segments.push(segment),
        });
    }

    /// Removes a flag and tells every client.
    pub fn delete_flag(&self, key: &str) {
        self.edit(|snapshot| snapshot.flags.retain(|f| f.definition.key != key));
    }

    /// Replaces every flag and segment with those of `snapshot` (e.g. one loaded from a file).
    pub fn put(&self, snapshot: Snapshot) {
        self.edit(|held| {
            let revision = held.revision;
            *held = snapshot;
            held.revision = held.revision.max(revision);
        });
    }

    /// The flags and segments as clients see them.
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.inner.snapshot).clone()
    }

    fn edit(&self, change: impl FnOnce(&mut Snapshot)) {
        let snapshot = {
            let mut snapshot = lock(&self.inner.snapshot);
            change(&mut snapshot);
            snapshot.revision += 1;
            if snapshot.environment.is_empty() {
                ENVIRONMENT.clone_into(&mut snapshot.environment);
            }
            snapshot.clone()
        };
        let clients: Vec<Arc<Shared>> = {
            let mut clients = lock(&self.inner.clients);
            clients.retain(|c| c.strong_count() > 0);
            clients.iter().filter_map(Weak::upgrade).collect()
        };
        // The lock is released: listeners may update this TestData again.
        for client in clients {
            client.store.replace_if_newer(snapshot.clone(), Source::TestData);
        }
    }
}

/// Sets one flag up for [`TestData::update`]. Variant keys name what is served; boolean flags have the
/// variants `on` (true) and `off` (false).
#[derive(Debug, Clone)]
#[must_use = "pass the builder to TestData::update"]
pub struct FlagBuilder {
    flag: SnapshotFlag,
}

fn kind_of<'a>(values: impl IntoIterator<Item = &'a Value>) -> FlagKind {
    let values: Vec<&Value> = values.into_iter().collect();
    if !values.is_empty() && values.iter().all(|v| v.is_boolean()) {
        FlagKind::Boolean
    } else if !values.is_empty() && values.iter().all(|v| v.is_string()) {
        FlagKind::String
    } else if !values.is_empty() && values.iter().all(|v| v.is_number()) {
        FlagKind::Number
    } else {
        FlagKind::Json
    }
}

fn boolean_variants() -> Vec<Variant> {
    vec![
        Variant { key: "on".into(), value: Value::Bool(true), name: None },
        Variant { key: "off".into(), value: Value::Bool(false), name: None },
    ]
}

impl FlagBuilder {
    fn new_boolean(key: &str) -> SnapshotFlag {
        SnapshotFlag {
            definition: Flag {
                key: key.to_owned(),
                name: key.to_owned(),
                description: String::new(),
                tags: Vec::new(),
                kind: FlagKind::Boolean,
                variants: boolean_variants(),
                salt: format!("test-{key}"),
                archived: false,
            },
            config: FlagConfig {
                flag: key.to_owned(),
                environment: ENVIRONMENT.to_owned(),
                version: 1,
                enabled: true,
                off_variant: "off".into(),
                targets: Vec::new(),
                rules: Vec::new(),
                default: Serve::Variant("on".into()),
                prerequisites: Vec::new(),
            },
        }
    }

    /// Makes the flag boolean, with the variants `on` (true) and `off` (false).
    pub fn boolean(mut self) -> Self {
        self.flag.definition.kind = FlagKind::Boolean;
        self.flag.definition.variants = boolean_variants();
        self
    }

    /// Sets the variants as (key, value) pairs; the kind follows the values (all booleans, all strings, all
    /// numbers, else JSON). The off variant becomes the first one unless it is among them.
    pub fn variations<K: Into<String>, V: Into<Value>>(mut self, variants: impl IntoIterator<Item = (K, V)>) -> Self {
        let variants: Vec<Variant> = variants
            .into_iter()
            .map(|(key, value)| Variant { key: key.into(), value: value.into(), name: None })
            .collect();
        self.flag.definition.kind = kind_of(variants.iter().map(|v| &v.value));
        if let Some(first) = variants.first()
            && !variants.iter().any(|v| v.key == self.flag.config.off_variant)
        {
            self.flag.config.off_variant.clone_from(&first.key);
        }
        self.flag.definition.variants = variants;
        self
    }

    /// Sets the kind explicitly (e.g. JSON for variants that happen to be all strings).
    pub fn kind(mut self, kind: FlagKind) -> Self {
        self.flag.definition.kind = kind;
        self
    }

    /// Turns the flag on (targets, rules, default apply) or off (the off variant for everyone).
    pub fn on(mut self, enabled: bool) -> Self {
        self.flag.config.enabled = enabled;
        self
    }

    /// The variant served when the flag is off or a prerequisite fails.
    pub fn off_variation(mut self, variant: &str) -> Self {
        variant.clone_into(&mut self.flag.config.off_variant);
        self
    }

    /// The variant served to contexts no target or rule matches.
    pub fn fallthrough_variation(mut self, variant: &str) -> Self {
        self.flag.config.default = Serve::Variant(variant.to_owned());
        self
    }

    /// A percentage split for contexts no target or rule matches, bucketed by key: (variant, weight) with
    /// weights in units of 1/100000 summing to 100000.
    pub fn fallthrough_split<'a>(mut self, weights: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        let weights =
            weights.into_iter().map(|(variant, weight)| Weight { variant: variant.to_owned(), weight }).collect();
        self.flag.config.default = Serve::Split(Split { bucket_by: "key".into(), weights, bucketing: None });
        self
    }

    /// On, with no targets, rules or prerequisites: everyone gets `variant`.
    pub fn variation_for_all(mut self, variant: &str) -> Self {
        let config = &mut self.flag.config;
        config.enabled = true;
        config.targets.clear();
        config.rules.clear();
        config.prerequisites.clear();
        config.default = Serve::Variant(variant.to_owned());
        self
    }

    /// Everyone gets `value`. A boolean value keeps the `on`/`off` variants; any other value becomes the
    /// flag's only variant, `value`, and sets the kind from it.
    pub fn value_for_all(self, value: impl Into<Value>) -> Self {
        match value.into() {
            Value::Bool(on) => self.boolean().off_variation("off").variation_for_all(if on { "on" } else { "off" }),
            value => self.variations([("value", value)]).off_variation("value").variation_for_all("value"),
        }
    }

    /// The context with this key gets `variant` (an individual target).
    pub fn variation_for_key(mut self, context_key: &str, variant: &str) -> Self {
        let targets = &mut self.flag.config.targets;
        for target in targets.iter_mut() {
            target.keys.retain(|k| k != context_key);
        }
        targets.retain(|t| !t.keys.is_empty());
        match targets.iter_mut().find(|t| t.variant == variant) {
            Some(target) => target.keys.push(context_key.to_owned()),
            None => targets.push(Target { variant: variant.to_owned(), keys: vec![context_key.to_owned()] }),
        }
        self
    }

    /// Starts a rule (added after the existing ones): contexts whose `attribute` is one of `values`.
    pub fn if_match<V: Into<Value>>(self, attribute: &str, values: impl IntoIterator<Item = V>) -> RuleBuilder {
        RuleBuilder { flag: self, conditions: Vec::new() }.and_match(attribute, values)
    }

    /// Removes every rule.
    pub fn clear_rules(mut self) -> Self {
        self.flag.config.rules.clear();
        self
    }

    /// Requires the flag `flag` to serve `variant` for this one to be on.
    pub fn prerequisite(mut self, flag: &str, variant: &str) -> Self {
        self.flag.config.prerequisites.push(Prerequisite { flag: flag.to_owned(), variant: variant.to_owned() });
        self
    }

    /// The flag as it will be stored.
    pub fn into_flag(self) -> SnapshotFlag {
        self.flag
    }
}

/// A rule being built: [`FlagBuilder::if_match`], then conditions, then [`then_return`](Self::then_return).
#[derive(Debug, Clone)]
#[must_use = "finish the rule with then_return"]
pub struct RuleBuilder {
    flag: FlagBuilder,
    conditions: Vec<Condition>,
}

impl RuleBuilder {
    /// Also requires `attribute` to be one of `values`.
    pub fn and_match<V: Into<Value>>(self, attribute: &str, values: impl IntoIterator<Item = V>) -> Self {
        self.condition(attribute, Operator::In, values, false)
    }

    /// Also requires `attribute` not to be any of `values` (a missing attribute passes).
    pub fn and_not_match<V: Into<Value>>(self, attribute: &str, values: impl IntoIterator<Item = V>) -> Self {
        self.condition(attribute, Operator::In, values, true)
    }

    /// Adds any condition.
    pub fn condition<V: Into<Value>>(
        mut self,
        attribute: &str,
        operator: Operator,
        values: impl IntoIterator<Item = V>,
        negate: bool,
    ) -> Self {
        let values = values.into_iter().map(Into::into).collect();
        self.conditions.push(Condition { attribute: attribute.to_owned(), operator, values, negate });
        self
    }

    /// Contexts matching every condition get `variant`.
    pub fn then_return(mut self, variant: &str) -> FlagBuilder {
        let rules = &mut self.flag.flag.config.rules;
        // Of n + 1 candidates at least one is free.
        let id = (0..=rules.len())
            .map(|i| format!("rule-{}", rules.len() + i))
            .find(|id| rules.iter().all(|r| r.id != *id))
            .unwrap_or_default();
        rules.push(Rule {
            id,
            description: String::new(),
            conditions: self.conditions,
            segments: Vec::new(),
            serve: Serve::Variant(variant.to_owned()),
        });
        self.flag
    }
}

#[cfg(test)]
mod tests;
