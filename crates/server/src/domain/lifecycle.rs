//! When a flag is a cleanup candidate: not evaluated anywhere for a while (`unused`), or serving one variant
//! to everyone in every environment for a while (`rolled_out`). Times are passed in.

use pennon_engine::{FlagConfig, Serve};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a flag is a cleanup candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cleanup {
    /// Not evaluated in any environment (by the server or an SDK) for the stale period, and older than it.
    Unused,
    /// Serving the same variant to everyone in every environment, unchanged for the stale period.
    RolledOut,
}

/// The variant a config serves to every context, if it serves only one: off serves its off variant; on, it
/// must have no prerequisites, no individual targets, no rules, and a default of one variant (or a split
/// giving one variant everything).
pub fn serves_everyone(config: &FlagConfig) -> Option<&str> {
    if !config.enabled {
        return Some(&config.off_variant);
    }
    if !config.prerequisites.is_empty() || config.targets.iter().any(|t| !t.keys.is_empty()) || !config.rules.is_empty()
    {
        return None;
    }
    match &config.default {
        Serve::Variant(variant) => Some(variant),
        Serve::Split(split) => {
            let mut given = split.weights.iter().filter(|w| w.weight > 0);
            match (given.next(), given.next()) {
                (Some(only), None) => Some(&only.variant),
                _ => None,
            }
        }
    }
}

/// The facts about one flag that decide whether it is a cleanup candidate (Unix milliseconds).
#[derive(Debug, Clone)]
pub struct FlagLife<'a> {
    /// When the flag was made.
    pub created_at: i64,
    /// When it was last evaluated in any environment, if ever.
    pub last_seen: Option<i64>,
    /// Its config in every environment, with when each last changed.
    pub configs: Vec<(&'a FlagConfig, i64)>,
}

/// Why the flag is a cleanup candidate at `now` after `stale_after_ms` (empty when it is not one).
pub fn cleanup(life: &FlagLife<'_>, now: i64, stale_after_ms: i64) -> Vec<Cleanup> {
    let cutoff = now.saturating_sub(stale_after_ms);
    let mut out = Vec::new();
    if life.created_at <= cutoff && life.last_seen.is_none_or(|seen| seen <= cutoff) {
        out.push(Cleanup::Unused);
    }
    let mut served = life.configs.iter().map(|(config, changed)| (*changed <= cutoff).then(|| serves_everyone(config)));
    if let Some(Some(Some(first))) = served.next()
        && served.all(|s| s == Some(Some(first)))
    {
        out.push(Cleanup::RolledOut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: &serde_json::Value) -> FlagConfig {
        let mut base = serde_json::json!({ "flag": "f", "environment": "e", "version": 1, "enabled": true,
            "off_variant": "off", "targets": [], "rules": [], "default": { "variant": "on" }, "prerequisites": [] });
        base.as_object_mut().unwrap().extend(value.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn one_variant_to_everyone() {
        assert_eq!(serves_everyone(&config(&serde_json::json!({}))), Some("on"));
        assert_eq!(serves_everyone(&config(&serde_json::json!({ "enabled": false }))), Some("off"));
        let full = serde_json::json!({ "default": { "split": { "weights": [
            { "variant": "on", "weight": 100_000 }, { "variant": "off", "weight": 0 }] } } });
        assert_eq!(serves_everyone(&config(&full)), Some("on"));
        let split = serde_json::json!({ "default": { "split": { "weights": [
            { "variant": "on", "weight": 50_000 }, { "variant": "off", "weight": 50_000 }] } } });
        assert_eq!(serves_everyone(&config(&split)), None);
        let targeted = serde_json::json!({ "targets": [{ "variant": "off", "keys": ["u1"] }] });
        assert_eq!(serves_everyone(&config(&targeted)), None);
    }

    #[test]
    fn unused_and_rolled_out_after_the_period() {
        let on = config(&serde_json::json!({}));
        let off = config(&serde_json::json!({ "enabled": false }));
        let now = 100 * DAY;
        let old = FlagLife { created_at: 0, last_seen: Some(now - 31 * DAY), configs: vec![(&on, 0), (&on, 0)] };
        assert_eq!(cleanup(&old, now, 30 * DAY), [Cleanup::Unused, Cleanup::RolledOut]);
        let seen = FlagLife { last_seen: Some(now - DAY), ..old.clone() };
        assert_eq!(cleanup(&seen, now, 30 * DAY), [Cleanup::RolledOut]);
        let new = FlagLife { created_at: now - DAY, last_seen: None, configs: vec![(&on, now - DAY)] };
        assert!(cleanup(&new, now, 30 * DAY).is_empty(), "a new flag is neither");
        let apart = FlagLife { configs: vec![(&on, 0), (&off, 0)], ..seen.clone() };
        assert!(cleanup(&apart, now, 30 * DAY).is_empty(), "on in one environment, off in another");
        let recent = FlagLife { configs: vec![(&on, 0), (&on, now - DAY)], ..seen };
        assert!(cleanup(&recent, now, 30 * DAY).is_empty(), "changed a day ago");
    }
}
