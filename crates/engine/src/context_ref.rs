//! A context that borrows its strings: evaluation without copying a request's key, attribute names and
//! values into owned strings first.

use serde_json::{Number, Value};

use crate::attributes::name_hash;
use crate::condition::short_str_eq as same;
use crate::context::{AttrRef, ContextSource, Source};
use crate::{Attributes, Context};

/// A context whose key and attributes borrow from elsewhere — a request body, say. It evaluates exactly as
/// the [`Context`] [`to_context`](Self::to_context) makes of it.
///
/// ```
/// use pennon_engine::{AttrValue, ContextRef};
/// let mut ctx = ContextRef::new(Some("user-42"));
/// ctx.set("country", AttrValue::Str("DE"));
/// ctx.set("beta", AttrValue::Bool(true));
/// ctx.set("country", AttrValue::Str("FR"));
/// let owned = ctx.to_context();
/// assert_eq!(owned.key(), Some("user-42"));
/// assert_eq!(owned.attributes["country"], "FR", "a name set twice keeps its last value");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextRef<'a> {
    key: Option<&'a str>,
    /// Name hash, name, value; a handful per context, so a scan beats a hash table.
    attributes: Vec<(u64, &'a str, AttrValue<'a>)>,
}

/// An attribute value of a [`ContextRef`].
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue<'a> {
    /// A string.
    Str(&'a str),
    /// A number.
    Number(Number),
    /// A boolean.
    Bool(bool),
    /// JSON `null` (the same as a missing attribute to conditions).
    Null,
    /// Any JSON value, arrays and objects included.
    Json(&'a Value),
}

impl<'a> AttrValue<'a> {
    /// A JSON value as an attribute value: strings, numbers, booleans and null as themselves, as a reader of
    /// request bodies makes them; arrays and objects as JSON.
    pub fn of(value: &'a Value) -> Self {
        match value {
            Value::String(s) => AttrValue::Str(s),
            Value::Number(n) => AttrValue::Number(n.clone()),
            Value::Bool(b) => AttrValue::Bool(*b),
            Value::Null => AttrValue::Null,
            other => AttrValue::Json(other),
        }
    }
}

impl<'a> ContextRef<'a> {
    /// A context with this key (or none) and no attributes.
    pub fn new(key: Option<&'a str>) -> Self {
        ContextRef { key, attributes: Vec::new() }
    }

    /// Sets the key.
    pub fn set_key(&mut self, key: Option<&'a str>) {
        self.key = key;
    }

    /// Sets `name` to `value`; a name set twice keeps its last value.
    pub fn set(&mut self, name: &'a str, value: AttrValue<'a>) {
        let hash = name_hash(name);
        if let Some(slot) = self.attributes.iter_mut().find(|(h, n, _)| *h == hash && same(n, name)) {
            slot.2 = value;
            return;
        }
        if self.attributes.capacity() == 0 {
            self.attributes.reserve(8);
        }
        self.attributes.push((hash, name, value));
    }

    /// The context key.
    pub fn key(&self) -> Option<&'a str> {
        self.key
    }

    /// How many attributes.
    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// The same context, owning its data.
    pub fn to_context(&self) -> Context {
        let attributes: Attributes = self
            .attributes
            .iter()
            .map(|(_, name, value)| {
                let value = match value {
                    AttrValue::Str(s) => Value::String((*s).to_owned()),
                    AttrValue::Number(n) => Value::Number(n.clone()),
                    AttrValue::Bool(b) => Value::Bool(*b),
                    AttrValue::Null => Value::Null,
                    AttrValue::Json(v) => (*v).clone(),
                };
                ((*name).to_owned(), value)
            })
            .collect();
        Context { key: self.key.map(str::to_owned), attributes }
    }
}

impl<'a> From<&'a Context> for ContextRef<'a> {
    /// Borrows an owned context.
    fn from(ctx: &'a Context) -> Self {
        let mut borrowed = ContextRef::new(ctx.key.as_deref());
        for (name, value) in ctx.attributes.iter() {
            borrowed.set(name, AttrValue::of(value));
        }
        borrowed
    }
}

impl ContextSource for ContextRef<'_> {}

impl Source for ContextRef<'_> {
    #[inline]
    fn key(&self) -> Option<&str> {
        self.key
    }

    #[inline]
    fn attribute_hashed(&self, name: &str, hash: u64) -> Option<AttrRef<'_>> {
        let (_, _, value) = self.attributes.iter().find(|(h, n, _)| *h == hash && same(n, name))?;
        Some(match value {
            AttrValue::Str(s) => AttrRef::Str(s),
            AttrValue::Number(n) => AttrRef::Number(n),
            AttrValue::Bool(b) => AttrRef::Bool(*b),
            AttrValue::Null => AttrRef::Null,
            AttrValue::Json(v) => AttrRef::of(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_as_the_owned_context_it_stands_for() {
        let owned =
            Context::new("u").with("plan", "pro").with("age", 42).with("tags", json!(["a"])).with("x", json!(null));
        let borrowed = ContextRef::from(&owned);
        assert_eq!(borrowed.len(), 4);
        assert_eq!(borrowed.to_context(), owned);
        let hash = name_hash("plan");
        assert_eq!(borrowed.attribute_hashed("plan", hash), owned.attribute_hashed("plan", hash));
        assert_eq!(borrowed.attribute_hashed("age", name_hash("age")), Some(AttrRef::Number(&42.into())));
        assert_eq!(borrowed.attribute_hashed("missing", name_hash("missing")), None);
        assert_eq!(borrowed.attribute_hashed("x", name_hash("x")), Some(AttrRef::Null));
    }
}
