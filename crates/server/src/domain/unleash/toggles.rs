//! One Unleash toggle as a Pennon flag and its config in the environment.
//!
//! Unleash turns a toggle on for a context when any strategy matches, and then picks the variant of the
//! first matching strategy (its own variants, else the toggle's). Pennon tries rules in order and the first
//! match serves, so each strategy becomes one rule per way of bucketing (at most three), in the strategy's
//! order: the rollout is a condition (`unleash_rollout`), so a context outside it goes on to the next
//! strategy as in Unleash; the variants are a split with the `unleash` bucketing scheme. Unleash's `default`
//! stickiness (`userId`, else `sessionId`, else random) becomes a rule for contexts with a `userId`, one
//! for those with only a `sessionId`, and one for the rest.

use pennon_engine::{Bucketing, Condition, FlagConfig, Operator, Rule, Serve, Split, Weight};
use serde_json::{Value, json};

use super::format::{Feature, Strategy, Variant};
use super::{Notes, Unmapped};

/// The Pennon variant keys and values of a toggle with variants.
pub struct VariantKeys {
    /// (Unleash name, payload, Pennon key), in first-seen order.
    pub entries: Vec<(String, Option<Value>, String)>,
}

impl VariantKeys {
    /// The key of the variant with this name and payload.
    fn key(&self, v: &Variant) -> &str {
        self.entries.iter().find(|(n, p, _)| *n == v.name && *p == v.payload).map_or("on", |(_, _, k)| k)
    }
}

/// Collects the distinct (name, payload) pairs of the toggle's variants and gives each a slug key that is
/// not `on` or `off`.
pub fn variant_keys(feature: &Feature) -> VariantKeys {
    let mut entries: Vec<(String, Option<Value>, String)> = Vec::new();
    let all = feature.variants.iter().chain(feature.strategies.iter().flat_map(|s| &s.variants));
    for v in all {
        if entries.iter().any(|(n, p, _)| *n == v.name && *p == v.payload) {
            continue;
        }
        let base = super::slug(&v.name, "variant");
        let mut key = base.clone();
        let mut n = 2;
        while key == "on" || key == "off" || entries.iter().any(|(_, _, k)| *k == key) {
            key = format!("{base}-{n}");
            n += 1;
        }
        entries.push((v.name.clone(), v.payload.clone(), key));
    }
    VariantKeys { entries }
}

/// The JSON value a variant key serves: what Unleash answers (`enabled`, the variant's name, its payload).
pub fn variant_value(name: &str, payload: Option<&Value>) -> Value {
    match payload {
        Some(p) => json!({"enabled": true, "variant": name, "payload": p}),
        None => json!({"enabled": true, "variant": name}),
    }
}

/// How a strategy buckets: by a context field, by Unleash's default chain, or at random.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sticky {
    Attr(String),
    Default,
    Random,
}

fn sticky(param: Option<&str>) -> Sticky {
    match param {
        None | Some("default" | "") => Sticky::Default,
        Some("random") => Sticky::Random,
        Some(attr) => Sticky::Attr(attr.to_owned()),
    }
}

/// A strategy's rollout: stickiness, group id and percentage (0 to 100).
struct Rollout {
    sticky: Sticky,
    group: String,
    percentage: u64,
}

/// What the strategy asks beyond its constraints: `Ok(None)` for none, `Err` when it cannot be mapped.
fn rollout(strategy: &Strategy, toggle: &str) -> Result<Option<Rollout>, String> {
    let percent = |name: &str| -> Result<u64, String> {
        let raw = strategy.param(name).ok_or_else(|| format!("{} without a {name} parameter", strategy.name))?;
        let p: u64 =
            raw.trim().parse().map_err(|_| format!("{}: {name} \"{raw}\" is not a whole number", strategy.name))?;
        Ok(p.min(100))
    };
    let group = |required: bool| -> Result<String, String> {
        match strategy.param("groupId") {
            Some(g) if !g.is_empty() => Ok(g),
            _ if required => Err(format!("{} without a groupId parameter", strategy.name)),
            _ => Ok(toggle.to_owned()),
        }
    };
    Ok(Some(match strategy.name.as_str() {
        "default" | "userWithId" => return Ok(None),
        "flexibleRollout" => Rollout {
            sticky: sticky(strategy.param("stickiness").as_deref()),
            group: group(false)?,
            percentage: percent("rollout")?,
        },
        "gradualRolloutUserId" => {
            Rollout { sticky: Sticky::Attr("userId".into()), group: group(true)?, percentage: percent("percentage")? }
        }
        "gradualRolloutSessionId" => Rollout {
            sticky: Sticky::Attr("sessionId".into()),
            group: group(true)?,
            percentage: percent("percentage")?,
        },
        "gradualRolloutRandom" => return Err("gradualRolloutRandom picks at random on every evaluation".into()),
        "remoteAddress" => return Err("remoteAddress (IP addresses) has no Pennon operator".into()),
        "applicationHostname" => return Err("applicationHostname depends on the SDK's host".into()),
        other => return Err(format!("custom strategy \"{other}\"")),
    }))
}

/// The bucketing cases of a strategy: extra conditions and the attribute `default` stickiness stands for.
fn cases(default_needed: bool) -> Vec<(&'static str, Vec<Condition>, Option<&'static str>)> {
    let exists = |attribute: &str, negate: bool| Condition {
        attribute: attribute.to_owned(),
        operator: Operator::Exists,
        values: vec![],
        negate,
    };
    if !default_needed {
        return vec![("", vec![], None)];
    }
    vec![
        ("-user", vec![exists("userId", false)], Some("userId")),
        ("-session", vec![exists("userId", true), exists("sessionId", false)], Some("sessionId")),
        ("-none", vec![exists("userId", true), exists("sessionId", true)], None),
    ]
}

/// The rules of one strategy (`conditions` are its mapped constraints, `segments` its Pennon segments).
#[allow(clippy::too_many_arguments)]
pub fn strategy_rules(
    feature: &Feature,
    index: usize,
    strategy: &Strategy,
    conditions: &[Condition],
    segments: &[String],
    keys: Option<&VariantKeys>,
    path: &str,
    notes: &mut Notes,
) -> Result<Vec<Rule>, Unmapped> {
    let unmapped = |reason: String| Unmapped { path: path.to_owned(), reason };
    let rollout = rollout(strategy, &feature.name).map_err(unmapped)?;
    if let Some(r) = &rollout
        && r.sticky == Sticky::Random
        && r.percentage > 0
        && r.percentage < 100
    {
        return Err(unmapped(format!("a rollout of {}% with random stickiness", r.percentage)));
    }
    // The variants served: the strategy's own (bucketed by its stickiness and group), else the toggle's.
    let (variants, split_sticky, group, overrides) = if strategy.variants.is_empty() {
        let first = feature.variants.first().and_then(|v| v.stickiness.as_deref());
        (&feature.variants, sticky(first), feature.name.clone(), true)
    } else {
        let group = strategy.param("groupId").filter(|g| !g.is_empty()).unwrap_or_else(|| feature.name.clone());
        (&strategy.variants, sticky(strategy.param("stickiness").as_deref()), group, false)
    };
    let serves_split = keys.is_some() && !variants.is_empty();
    if serves_split && variants.iter().map(|v| v.weight.max(0)).sum::<i64>() == 0 {
        return Err(unmapped("variants whose weights sum to 0".into()));
    }
    let rollout_default = rollout.as_ref().is_some_and(|r| r.sticky == Sticky::Default && r.percentage < 100);
    let default_needed = rollout_default || (serves_split && split_sticky == Sticky::Default);
    let mut rules = Vec::new();
    for (suffix, extra, default_attr) in cases(default_needed) {
        let mut conds: Vec<Condition> = conditions.iter().cloned().chain(extra).collect();
        if let Some(r) = &rollout {
            let attr = match &r.sticky {
                Sticky::Attr(a) => Some(a.as_str()),
                Sticky::Default if r.percentage < 100 => default_attr,
                _ => None,
            };
            if r.percentage == 0 {
                notes.add(format!("{path}: a rollout of 0% never matches; no rule is made for it"));
                return Ok(vec![]);
            }
            match attr {
                Some(a) => conds.push(Condition {
                    attribute: a.to_owned(),
                    operator: Operator::UnleashRollout,
                    values: vec![Value::String(r.group.clone()), json!(r.percentage)],
                    negate: false,
                }),
                None if r.percentage < 100 => {
                    notes.add(format!(
                        "{path}: Unleash places contexts with neither userId nor sessionId at random; Pennon leaves them out"
                    ));
                    continue;
                }
                None => {}
            }
        }
        if strategy.name == "userWithId" {
            let ids = strategy.param("userIds").ok_or_else(|| unmapped("userWithId without userIds".into()))?;
            let values = ids.split(',').map(|id| Value::String(id.trim().to_owned())).collect();
            conds.push(Condition { attribute: "userId".into(), operator: Operator::In, values, negate: false });
        }
        let id = format!("s{index}{suffix}");
        let rule = |id: String, conditions: Vec<Condition>, serve: Serve| Rule {
            id,
            description: format!("Unleash {} ({path})", strategy.name),
            conditions,
            segments: segments.to_vec(),
            serve,
        };
        let Some(keys) = keys.filter(|_| serves_split) else {
            rules.push(rule(id, conds, Serve::Variant("on".into())));
            continue;
        };
        if overrides {
            for (i, v) in variants.iter().enumerate() {
                for (j, o) in v.overrides.iter().enumerate().filter(|(_, o)| !o.values.is_empty()) {
                    let mut with = conds.clone();
                    with.push(Condition {
                        attribute: o.context_name.clone(),
                        operator: Operator::In,
                        values: o.values.iter().cloned().map(Value::String).collect(),
                        negate: false,
                    });
                    rules.push(rule(format!("{id}-o{i}-{j}"), with, Serve::Variant(keys.key(v).to_owned())));
                }
            }
        }
        let bucket_by = match &split_sticky {
            Sticky::Attr(a) => a.clone(),
            Sticky::Random => "random".to_owned(),
            Sticky::Default => default_attr.unwrap_or("userId").to_owned(),
        };
        if split_sticky != Sticky::Default || default_attr.is_none() {
            notes.add(format!(
                "{path}: Unleash assigns a variant at random to contexts without \"{bucket_by}\"; Pennon serves them the off variant"
            ));
        }
        let weights = variants
            .iter()
            .map(|v| Weight { variant: keys.key(v).to_owned(), weight: v.weight.clamp(0, i64::from(u32::MAX)) as u32 })
            .collect();
        let split = Split { bucket_by, weights, bucketing: Some(Bucketing::Unleash { group_id: group.clone() }) };
        rules.push(rule(id, conds, Serve::Split(split)));
    }
    Ok(rules)
}

/// The config that serves nothing but `off` when no rule matches.
pub fn config(flag: &str, environment: &str, enabled: bool, rules: Vec<Rule>) -> FlagConfig {
    FlagConfig {
        flag: flag.to_owned(),
        environment: environment.to_owned(),
        version: 0,
        enabled,
        off_variant: "off".into(),
        targets: vec![],
        rules,
        default: Serve::Variant("off".into()),
        prerequisites: vec![],
    }
}
