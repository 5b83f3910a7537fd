//! A context's attributes: a map from name to JSON value.
//!
//! Every map in the process hashes a name the same way (one random seed per process), so a compiled snapshot
//! hashes each attribute name its conditions test once, and evaluation probes a context's map with that hash
//! instead of hashing the name again for every condition. Names are compared without a call into `memcmp`.

use std::cell::Cell;
use std::fmt;
use std::hash::BuildHasher;
use std::ops::Index;
use std::sync::OnceLock;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::condition::short_str_eq as same;

thread_local! {
    /// Most attributes an object deserialized on this thread may hold (see [`read_at_most`]).
    static READ_LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Runs `read` with the attribute objects deserialized on this thread (by it) limited to `limit` attributes: the
/// one past it fails the deserialization at once, so a hostile body of 90,000 names costs the reading of 257,
/// not the building of a 90,000-entry map that is refused afterwards.
///
/// ```
/// use pennon_engine::Attributes;
/// use pennon_engine::read_at_most;
///
/// let read = |text: &str| read_at_most(2, || serde_json::from_str::<Attributes>(text));
/// assert!(read(r#"{"a": 1, "b": 2}"#).is_ok());
/// let refused = read(r#"{"a": 1, "b": 2, "c": 3}"#).unwrap_err().to_string();
/// assert!(refused.starts_with("more than 2 attributes"), "{refused}");
/// assert!(serde_json::from_str::<Attributes>(r#"{"a": 1, "b": 2, "c": 3}"#).is_ok(), "only inside");
/// ```
pub fn read_at_most<T>(limit: usize, read: impl FnOnce() -> T) -> T {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            READ_LIMIT.set(self.0);
        }
    }
    let _restore = Restore(READ_LIMIT.replace(limit));
    read()
}

/// The process's hasher: random per process, the same for every map and every compiled snapshot in it.
fn hasher() -> &'static foldhash::fast::RandomState {
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::fast::RandomState::default)
}

/// The hash an attribute name is stored under.
#[inline]
pub(crate) fn name_hash(name: &str) -> u64 {
    hasher().hash_one(name)
}

/// Attribute name → value. Serialises as a JSON object; a name given twice keeps its last value.
///
/// ```
/// use pennon_engine::Attributes;
/// let mut attributes = Attributes::new();
/// attributes.insert("plan".into(), "pro".into());
/// assert_eq!(attributes.get("plan"), Some(&serde_json::json!("pro")));
/// assert_eq!(attributes["plan"], "pro");
/// ```
#[derive(Clone, Default)]
pub struct Attributes {
    table: HashTable<(String, Value)>,
}

impl Attributes {
    /// An empty map.
    pub fn new() -> Self {
        Attributes::default()
    }

    /// An empty map with room for `capacity` attributes.
    pub fn with_capacity(capacity: usize) -> Self {
        Attributes { table: HashTable::with_capacity(capacity) }
    }

    /// How many attributes.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Sets `name` to `value`, returning the value it replaces.
    pub fn insert(&mut self, name: String, value: Value) -> Option<Value> {
        let hash = name_hash(&name);
        match self.table.entry(hash, |(k, _)| same(k, &name), |(k, _)| name_hash(k)) {
            Entry::Occupied(mut entry) => Some(std::mem::replace(&mut entry.get_mut().1, value)),
            Entry::Vacant(entry) => {
                entry.insert((name, value));
                None
            }
        }
    }

    /// The value of `name`.
    #[inline]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.get_hashed(name, name_hash(name))
    }

    /// The value of `name`, whose [`name_hash`] is `hash`.
    #[inline]
    pub(crate) fn get_hashed(&self, name: &str, hash: u64) -> Option<&Value> {
        self.table.find(hash, |(k, _)| same(k, name)).map(|(_, v)| v)
    }

    /// Whether `name` is set.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let entry = self.table.find_entry(name_hash(name), |(k, _)| same(k, name)).ok()?;
        Some(entry.remove().0.1)
    }

    /// The attributes, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.table.iter().map(|(k, v)| (k, v))
    }
}

impl Index<&str> for Attributes {
    type Output = Value;

    /// The value of `name`; panics when it is not set, like `HashMap`'s index.
    fn index(&self, name: &str) -> &Value {
        self.get(name).unwrap_or_else(|| panic!("no attribute {name:?}"))
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, Value)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(items: I) -> Self {
        let mut attributes = Attributes::new();
        attributes.extend(items);
        attributes
    }
}

impl Extend<(String, Value)> for Attributes {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, items: I) {
        for (name, value) in items {
            self.insert(name, value);
        }
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AttributesVisitor;

        impl<'de> Visitor<'de> for AttributesVisitor {
            type Value = Attributes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of attributes")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Attributes, A::Error> {
                let mut attributes = Attributes::with_capacity(access.size_hint().unwrap_or(8).min(64));
                let (limit, mut read) = (READ_LIMIT.get(), 0usize);
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    read += 1;
                    if read > limit {
                        return Err(serde::de::Error::custom(format_args!("more than {limit} attributes")));
                    }
                    attributes.insert(name, value);
                }
                Ok(attributes)
            }
        }

        deserializer.deserialize_map(AttributesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let mut a = Attributes::new();
        assert!(a.is_empty());
        assert_eq!(a.insert("plan".into(), json!("pro")), None);
        assert_eq!(a.insert("plan".into(), json!("free")), Some(json!("pro")));
        for i in 0..100 {
            a.insert(format!("attribute-with-a-long-name-{i}"), json!(i));
        }
        assert_eq!(a.len(), 101);
        assert_eq!(a["plan"], "free");
        assert_eq!(a.get("attribute-with-a-long-name-42"), Some(&json!(42)));
        assert_eq!(a.get("attribute-with-a-long-name-420"), None);
        assert_eq!(a.get("pla"), None);
        assert_eq!(a.remove("plan"), Some(json!("free")));
        assert!(!a.contains_key("plan"));
        assert_eq!(a.len(), 100);
    }

    #[test]
    fn round_trips_through_json_and_compares_by_content() {
        let a: Attributes = serde_json::from_value(json!({ "plan": "pro", "age": 42, "beta": true, "plan": "team" }))
            .expect("an object");
        assert_eq!(a.len(), 3);
        assert_eq!(a["plan"], "team", "a name given twice keeps its last value");
        let back: Attributes = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        let other: Attributes = [("plan".to_owned(), json!("pro"))].into_iter().collect();
        assert_ne!(other, a);
        assert!(serde_json::from_value::<Attributes>(json!(["not", "an", "object"])).is_err());
    }
}
