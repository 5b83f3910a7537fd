//! What a config change changes, field by field, and carrying a change over to a newer config.
//!
//! A config's fields are `enabled`, `off_variant`, `targets`, `rules`, `default` and `prerequisites`; each is
//! compared whole (a rule added is a change of `rules`). A change request keeps the config it was based on
//! and the config it proposes: its diff is the fields that differ, and it can be carried over ("rebased") to
//! a newer config when the newer config did not change the same fields differently meanwhile.

use pennon_engine::FlagConfig;
use serde::Serialize;
use serde_json::Value;

/// The fields of a config that a change can touch, in the order of the wire format.
pub const FIELDS: [&str; 6] = ["enabled", "off_variant", "targets", "rules", "default", "prerequisites"];

/// One changed field: its value before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// The field, e.g. `rules`.
    pub field: &'static str,
    /// Its value before the change.
    pub before: Value,
    /// Its value after the change.
    pub after: Value,
}

fn field(config: &FlagConfig, name: &str) -> Value {
    let mut whole = serde_json::to_value(config).expect("configs serialise");
    whole.get_mut(name).map_or(Value::Null, Value::take)
}

/// The fields that differ between `before` and `after`, in the order of [`FIELDS`].
pub fn diff(before: &FlagConfig, after: &FlagConfig) -> Vec<FieldChange> {
    FIELDS
        .iter()
        .filter_map(|name| {
            let (b, a) = (field(before, name), field(after, name));
            (b != a).then_some(FieldChange { field: name, before: b, after: a })
        })
        .collect()
}

/// Carries the change from `base` to `proposed` over to `current`: `current` with every field the change
/// set. `Err` names the first field that both the change and `current` changed, to different values: such a
/// change cannot be carried over and must be made again.
pub fn rebase(base: &FlagConfig, proposed: &FlagConfig, current: &FlagConfig) -> Result<FlagConfig, &'static str> {
    let mut next = current.clone();
    for change in diff(base, proposed) {
        let now = field(current, change.field);
        if now != change.before && now != change.after {
            return Err(change.field);
        }
        match change.field {
            "enabled" => next.enabled = proposed.enabled,
            "off_variant" => next.off_variant.clone_from(&proposed.off_variant),
            "targets" => next.targets.clone_from(&proposed.targets),
            "rules" => next.rules.clone_from(&proposed.rules),
            "default" => next.default = proposed.default.clone(),
            _ => next.prerequisites.clone_from(&proposed.prerequisites),
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pennon_engine::Serve;

    fn config() -> FlagConfig {
        serde_json::from_value(serde_json::json!({
            "flag": "f", "environment": "e", "version": 1, "enabled": false, "off_variant": "off",
            "default": { "variant": "off" }
        }))
        .unwrap()
    }

    #[test]
    fn diff_names_changed_fields_only() {
        let base = config();
        let next = FlagConfig { enabled: true, version: 2, ..base.clone() };
        let d = diff(&base, &next);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].field, "enabled");
        assert_eq!(d[0].before, Value::Bool(false));
        assert_eq!(d[0].after, Value::Bool(true));
        assert!(diff(&base, &base).is_empty());
    }

    #[test]
    fn rebase_keeps_other_changes_and_refuses_clashes() {
        let base = config();
        let proposed = FlagConfig { enabled: true, ..base.clone() };
        let current = FlagConfig { default: Serve::Variant("on".into()), version: 2, ..base.clone() };
        let rebased = rebase(&base, &proposed, &current).unwrap();
        assert!(rebased.enabled);
        assert_eq!(rebased.default, Serve::Variant("on".into()));
        assert_eq!(rebased.version, 2);

        let clash = FlagConfig { off_variant: "on".into(), ..base.clone() };
        let moved = FlagConfig { off_variant: "x".into(), ..base.clone() };
        assert_eq!(rebase(&base, &clash, &moved), Err("off_variant"));
        // The same change made meanwhile is no clash.
        assert!(rebase(&base, &clash, &clash).is_ok());
    }
}
