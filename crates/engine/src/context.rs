//! The evaluation context: who is asking.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::attributes::Attributes;

/// A user, device or anything else flags are evaluated for.
///
/// ```
/// use pennon_engine::Context;
/// let ctx = Context::new("user-42").with("country", "DE").with("plan", "pro");
/// assert_eq!(ctx.key(), Some("user-42"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// The context key: targets match it, and splits bucket by it unless told otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Any other attributes.
    #[serde(default)]
    pub attributes: Attributes,
}

/// Where conditions read attributes from: the context itself, or a memo of the lookups already made.
pub(crate) trait AttrLookup<'c> {
    /// The context.
    fn context(&self) -> &'c Context;

    /// The attribute `name`, whose hash is `hash` and whose number among the snapshot's attribute names is
    /// `slot`.
    fn attr(&mut self, name: &str, hash: u64, slot: usize) -> Option<AttrRef<'c>>;
}

impl<'c> AttrLookup<'c> for &'c Context {
    fn context(&self) -> &'c Context {
        self
    }

    #[inline]
    fn attr(&mut self, name: &str, hash: u64, _slot: usize) -> Option<AttrRef<'c>> {
        Context::attr_hashed(self, name, hash)
    }
}

/// Looks each attribute up at most once, by slot: `evaluate_all` reads the same few attributes for many
/// flags.
pub(crate) struct AttrMemo<'c> {
    ctx: &'c Context,
    slots: Vec<Memo<'c>>,
}

#[derive(Debug, Clone, Copy)]
enum Memo<'c> {
    NotLookedUp,
    LookedUp(Option<AttrRef<'c>>),
}

impl<'c> AttrMemo<'c> {
    /// A memo for a snapshot with `slots` distinct attribute names.
    pub(crate) fn new(ctx: &'c Context, slots: usize) -> Self {
        AttrMemo { ctx, slots: vec![Memo::NotLookedUp; slots] }
    }
}

impl<'c> AttrLookup<'c> for AttrMemo<'c> {
    fn context(&self) -> &'c Context {
        self.ctx
    }

    #[inline]
    fn attr(&mut self, name: &str, hash: u64, slot: usize) -> Option<AttrRef<'c>> {
        match self.slots.get_mut(slot) {
            Some(Memo::LookedUp(attr)) => *attr,
            Some(memo) => {
                let attr = self.ctx.attr_hashed(name, hash);
                *memo = Memo::LookedUp(attr);
                attr
            }
            None => self.ctx.attr_hashed(name, hash),
        }
    }
}

/// An attribute as conditions see it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AttrRef<'a> {
    /// The context key (`key`), always a string.
    Key(&'a str),
    /// Any other attribute.
    Value(&'a Value),
}

impl Context {
    /// A context with this key and no attributes.
    pub fn new(key: impl Into<String>) -> Self {
        Context { key: Some(key.into()), attributes: Attributes::default() }
    }

    /// A context without a key (it cannot be targeted or bucketed by key).
    pub fn anonymous() -> Self {
        Context::default()
    }

    /// Adds an attribute (builder style).
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// The context key, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Looks an attribute up by its name and the name's hash (see `attributes::name_hash`, computed when the
    /// snapshot was compiled); `key` is the context key. JSON `null` counts as missing.
    #[inline]
    pub(crate) fn attr_hashed(&self, name: &str, hash: u64) -> Option<AttrRef<'_>> {
        if name == "key" {
            return self.key.as_deref().map(AttrRef::Key);
        }
        match self.attributes.get_hashed(name, hash) {
            None | Some(Value::Null) => None,
            Some(v) => Some(AttrRef::Value(v)),
        }
    }
}
