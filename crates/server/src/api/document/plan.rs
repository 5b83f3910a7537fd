//! What an apply does: per object, create, update (with the fields that change), delete or unchanged.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// What an apply does to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanOp {
    /// The object is new.
    Create,
    /// Some of its fields change.
    Update,
    /// It is removed (`prune=true` only).
    Delete,
    /// Nothing changes.
    Unchanged,
}

/// One field that changes, by its path in the object.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldChange {
    /// E.g. `rules[0].serve.variant`.
    pub path: String,
    /// The value now, any JSON value (absent when the field is new).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = serde_json::Value, required = false)]
    pub before: Option<Value>,
    /// The value after, any JSON value (absent when the field goes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = serde_json::Value, required = false)]
    pub after: Option<Value>,
}

/// One object of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PlanEntry {
    /// `environment`, `segment`, `flag` (the definition) or `config` (a flag in one environment).
    pub kind: String,
    /// The object's key; `flag/environment` for a config.
    pub key: String,
    /// What happens to it.
    pub op: PlanOp,
    /// The fields that change, for an update.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

/// How many objects each operation touches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct PlanSummary {
    /// New objects.
    pub create: usize,
    /// Changed objects.
    pub update: usize,
    /// Removed objects.
    pub delete: usize,
    /// Objects left as they are.
    pub unchanged: usize,
}

/// The plan of an apply: what a dry run answers, and what an apply did.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Plan {
    /// The document revision the plan was made against (dry run), or the one after the apply.
    pub revision: String,
    /// Whether the plan was carried out.
    pub applied: bool,
    /// Counts per operation.
    pub summary: PlanSummary,
    /// Every object the document names (and, with `prune`, those it removes), in the order applied.
    pub entries: Vec<PlanEntry>,
}

impl Plan {
    /// A plan of `entries`, counted.
    pub fn new(revision: String, entries: Vec<PlanEntry>) -> Plan {
        let mut summary = PlanSummary::default();
        for e in &entries {
            *match e.op {
                PlanOp::Create => &mut summary.create,
                PlanOp::Update => &mut summary.update,
                PlanOp::Delete => &mut summary.delete,
                PlanOp::Unchanged => &mut summary.unchanged,
            } += 1;
        }
        Plan { revision, applied: false, summary, entries }
    }

    /// Whether anything would change.
    pub fn changes_anything(&self) -> bool {
        self.entries.iter().any(|e| e.op != PlanOp::Unchanged)
    }
}

/// An entry comparing `before` (none: a new object) with `after` (none: a deleted one).
pub(super) fn entry<T: Serialize>(kind: &str, key: String, before: Option<&T>, after: Option<&T>) -> PlanEntry {
    let json = |v: &T| serde_json::to_value(v).expect("serialisable");
    let (op, changes) = match (before, after) {
        (None, _) => (PlanOp::Create, Vec::new()),
        (Some(_), None) => (PlanOp::Delete, Vec::new()),
        (Some(b), Some(a)) => {
            let mut changes = Vec::new();
            diff(&json(b), &json(a), String::new(), &mut changes);
            (if changes.is_empty() { PlanOp::Unchanged } else { PlanOp::Update }, changes)
        }
    };
    PlanEntry { kind: kind.to_owned(), key, op, changes }
}

/// The fields in which `before` and `after` differ: objects field by field, lists of the same length item
/// by item, anything else whole.
fn diff(before: &Value, after: &Value, path: String, out: &mut Vec<FieldChange>) {
    if before == after {
        return;
    }
    let join = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                match (b.get(key), a.get(key)) {
                    (Some(x), Some(y)) => diff(x, y, join(key), out),
                    (x, y) => out.push(FieldChange { path: join(key), before: x.cloned(), after: y.cloned() }),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (x, y)) in b.iter().zip(a).enumerate() {
                diff(x, y, format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(FieldChange { path, before: Some(before.clone()), after: Some(after.clone()) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_name_the_fields_that_change() {
        let before = json!({ "enabled": false, "rules": [{ "serve": { "variant": "on" } }], "targets": [] });
        let after = json!({ "enabled": true, "rules": [{ "serve": { "variant": "off" } }], "targets": [1] });
        let e = entry("config", "f/production".into(), Some(&before), Some(&after));
        assert_eq!(e.op, PlanOp::Update);
        let paths: Vec<&str> = e.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["enabled", "rules[0].serve.variant", "targets"]);
        assert_eq!(entry("config", "k".into(), Some(&before), Some(&before)).op, PlanOp::Unchanged);
    }
}
