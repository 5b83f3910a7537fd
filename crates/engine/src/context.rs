//! The evaluation context: who is asking.

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

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

/// A context evaluation can read: [`Context`], which owns its data, or [`ContextRef`](crate::ContextRef), which
/// borrows it (from a request body, say). The evaluation functions take either; the trait is sealed.
pub trait ContextSource: Source {}

impl ContextSource for Context {}

/// What evaluation reads of a context (the sealed half of [`ContextSource`]).
pub trait Source {
    /// The context key.
    fn key(&self) -> Option<&str>;

    /// The attribute `name` (not the key), whose [`name_hash`](crate::attributes::name_hash) is `hash`, as
    /// it is stored: JSON `null` included.
    fn attribute_hashed(&self, name: &str, hash: u64) -> Option<AttrRef<'_>>;
}

impl Source for Context {
    #[inline]
    fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    #[inline]
    fn attribute_hashed(&self, name: &str, hash: u64) -> Option<AttrRef<'_>> {
        self.attributes.get_hashed(name, hash).map(AttrRef::of)
    }
}

/// The attribute `name` as conditions read it: `key` is the context key, and JSON `null` counts as missing.
#[inline]
fn attr_of<'c, C: Source>(ctx: &'c C, name: &str, hash: u64) -> Option<AttrRef<'c>> {
    if name == "key" {
        return ctx.key().map(AttrRef::Str);
    }
    match ctx.attribute_hashed(name, hash) {
        None | Some(AttrRef::Null) => None,
        attr => attr,
    }
}

/// Where conditions read attributes from: the context itself, or a memo of the lookups already made.
pub(crate) trait AttrLookup<'c> {
    /// The context key.
    fn key(&self) -> Option<&'c str>;

    /// The attribute `name` as it is stored (not the key; `null` included), for bucketing by it.
    fn attribute(&self, name: &str) -> Option<AttrRef<'c>>;

    /// The attribute `name` as conditions read it, whose hash is `hash` and whose number among the
    /// snapshot's attribute names is `slot`.
    fn attr(&mut self, name: &str, hash: u64, slot: usize) -> Option<AttrRef<'c>>;
}

impl<'c, C: Source> AttrLookup<'c> for &'c C {
    #[inline]
    fn key(&self) -> Option<&'c str> {
        Source::key(*self)
    }

    fn attribute(&self, name: &str) -> Option<AttrRef<'c>> {
        self.attribute_hashed(name, crate::attributes::name_hash(name))
    }

    #[inline]
    fn attr(&mut self, name: &str, hash: u64, _slot: usize) -> Option<AttrRef<'c>> {
        attr_of(*self, name, hash)
    }
}

/// Looks each attribute up at most once, by slot: `evaluate_all` reads the same few attributes for many
/// flags.
pub(crate) struct AttrMemo<'c, C> {
    ctx: &'c C,
    slots: Vec<Memo<'c>>,
}

#[derive(Debug, Clone, Copy)]
enum Memo<'c> {
    NotLookedUp,
    LookedUp(Option<AttrRef<'c>>),
}

impl<'c, C: Source> AttrMemo<'c, C> {
    /// A memo for a snapshot with `slots` distinct attribute names.
    pub(crate) fn new(ctx: &'c C, slots: usize) -> Self {
        AttrMemo { ctx, slots: vec![Memo::NotLookedUp; slots] }
    }
}

impl<'c, C: Source> AttrLookup<'c> for AttrMemo<'c, C> {
    fn key(&self) -> Option<&'c str> {
        self.ctx.key()
    }

    fn attribute(&self, name: &str) -> Option<AttrRef<'c>> {
        (&self.ctx).attribute(name)
    }

    #[inline]
    fn attr(&mut self, name: &str, hash: u64, slot: usize) -> Option<AttrRef<'c>> {
        match self.slots.get_mut(slot) {
            Some(Memo::LookedUp(attr)) => *attr,
            Some(memo) => {
                let attr = attr_of(self.ctx, name, hash);
                *memo = Memo::LookedUp(attr);
                attr
            }
            None => attr_of(self.ctx, name, hash),
        }
    }
}

/// An attribute as conditions see it, whichever kind of context it comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrRef<'a> {
    /// A string (the context key is one).
    Str(&'a str),
    /// A number.
    Number(&'a Number),
    /// A boolean.
    Bool(bool),
    /// JSON `null`.
    Null,
    /// An array or an object.
    Json(&'a Value),
}

impl<'a> AttrRef<'a> {
    /// A JSON value as conditions see it.
    #[inline]
    pub(crate) fn of(value: &'a Value) -> Self {
        match value {
            Value::String(s) => AttrRef::Str(s),
            Value::Number(n) => AttrRef::Number(n),
            Value::Bool(b) => AttrRef::Bool(*b),
            Value::Null => AttrRef::Null,
            other => AttrRef::Json(other),
        }
    }
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
}
