//! Dependencies on parent toggles as prerequisites. Unleash turns a child on only where its parent is on
//! (the parent evaluated with the child's name, which only matters for rollouts without a `groupId`); a
//! prerequisite `{flag: parent, variant: "on"}` says the same of a boolean parent. Other forms (a parent
//! that must be off, or must serve given variants) are reported, not mapped.

use pennon_engine::{FlagKind, Prerequisite};
use serde_json::Value;

use super::format::Feature;
use super::{MappedFlag, Status, ToggleReport, Unmapped};

/// Adds the prerequisites of every toggle's dependencies to its config, or reports why one cannot be mapped
/// (the toggle is then partly mapped). `flags` and `reports` are in document order.
pub fn map(features: &[Feature], flags: &mut [MappedFlag], reports: &mut [ToggleReport], unmapped: &mut Vec<Unmapped>) {
    for (i, feature) in features.iter().enumerate() {
        for (j, dependency) in feature.dependencies.iter().enumerate() {
            let path = format!("features[{i}].dependencies[{j}]");
            match prerequisite(features, flags, reports, dependency) {
                Ok(p) => flags[i].config.prerequisites.push(p),
                Err(reason) => {
                    unmapped.push(Unmapped { path, reason });
                    reports[i].status = Status::PartlyMapped;
                }
            }
        }
    }
}

fn prerequisite(
    features: &[Feature],
    flags: &[MappedFlag],
    reports: &[ToggleReport],
    dependency: &Value,
) -> Result<Prerequisite, String> {
    let parent = dependency.get("feature").and_then(Value::as_str).ok_or("a dependency without a feature")?;
    if dependency.get("enabled").and_then(Value::as_bool) == Some(false) {
        return Err(format!("a dependency on \"{parent}\" being off"));
    }
    if dependency.get("variants").and_then(Value::as_array).is_some_and(|v| !v.is_empty()) {
        return Err(format!("a dependency on variants of \"{parent}\""));
    }
    let at =
        features.iter().position(|f| f.name == parent).ok_or(format!("parent \"{parent}\" is not in the document"))?;
    let (feature, flag) = (&features[at], &flags[at]);
    if !feature.dependencies.is_empty() {
        return Err(format!("parent \"{parent}\" has dependencies of its own (Unleash then never turns this one on)"));
    }
    if flag.definition.kind != FlagKind::Boolean {
        return Err(format!("parent \"{parent}\" has variants"));
    }
    if reports[at].status != Status::Mapped {
        return Err(format!("parent \"{parent}\" is only partly mapped"));
    }
    let grouped = |s: &super::format::Strategy| s.param("groupId").is_some_and(|g| !g.is_empty());
    if feature.strategies.iter().any(|s| s.name == "flexibleRollout" && !grouped(s)) {
        return Err(format!(
            "parent \"{parent}\" has a rollout without a groupId, which Unleash buckets by the child's name"
        ));
    }
    Ok(Prerequisite { flag: flag.definition.key.clone(), variant: "on".into() })
}
