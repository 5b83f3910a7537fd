//! Moving from Unleash: its client features document (one environment) as Pennon flags, segments and
//! configs, with a report of what was mapped and of every part that could not be. Pure: the API's import
//! endpoint and the command line both use it.
//!
//! Contexts keep Unleash's field names as attributes (`userId`, `sessionId`, `appName`, `environment`,
//! `currentTime`, `remoteAddress`, and each property by its name). A toggle without variants becomes a
//! boolean flag (`on` / `off`); one with variants a JSON flag whose values are what Unleash answers:
//! `{"enabled": false, "variant": "disabled"}` (`off`), `{"enabled": true, "variant": "disabled"}` (`on`, on
//! without a variant) and `{"enabled": true, "variant": NAME, "payload": ...}` per variant. Rollouts and
//! variants keep Unleash's bucketing (the engine's `unleash` scheme), so every user keeps their cohort.

pub mod constraints;
mod dependencies;
pub mod format;
mod toggles;

use std::collections::BTreeSet;

use pennon_engine::{Flag, FlagConfig, FlagKind, Segment, Variant};
use serde::Serialize;
use serde_json::json;

use constraints::Caveat;
use format::ClientFeatures;

/// A part of the document that has no Pennon counterpart and was left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Unmapped {
    /// Where, e.g. `features[3].strategies[1]`.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// How much of a toggle or segment was mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// All of it: Pennon answers as Unleash does.
    Mapped,
    /// Some parts were left out (listed in `unmapped`).
    PartlyMapped,
    /// Nothing could be mapped; nothing is written for it.
    NotMapped,
}

/// One toggle in the report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ToggleReport {
    /// Where, e.g. `features[3]`.
    pub path: String,
    /// The Unleash name.
    pub toggle: String,
    /// The Pennon flag key.
    pub flag: String,
    /// How much was mapped.
    pub status: Status,
}

/// One segment in the report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SegmentReport {
    /// Where, e.g. `segments[0]`.
    pub path: String,
    /// The Unleash id.
    pub id: i64,
    /// The Pennon segment key (none when it has no constraints: it matches everyone and needs none).
    pub segment: Option<String>,
    /// How much was mapped.
    pub status: Status,
}

/// What the import maps and what it leaves out.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// Per toggle, in document order.
    pub toggles: Vec<ToggleReport>,
    /// Per segment, in document order.
    pub segments: Vec<SegmentReport>,
    /// Every part left out, with its path.
    pub unmapped: Vec<Unmapped>,
    /// What the mapped flags ask of the contexts sent to Pennon, and where behaviour may differ.
    pub notes: Vec<String>,
}

/// Notes, each once, in the order first given.
#[derive(Debug, Default)]
pub struct Notes(Vec<String>);

impl Notes {
    fn add(&mut self, note: String) {
        if !self.0.contains(&note) {
            self.0.push(note);
        }
    }
}

/// A flag to create or update, with its config in the environment.
#[derive(Debug, Clone)]
pub struct MappedFlag {
    /// The definition (the salt is a placeholder: an existing flag keeps its own, a new one gets one).
    pub definition: Flag,
    /// The config (version 0: the store sets it).
    pub config: FlagConfig,
}

/// The result of mapping a document.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The segments to create or update.
    pub segments: Vec<Segment>,
    /// The flags to create or update, in document order.
    pub flags: Vec<MappedFlag>,
    /// The report.
    pub report: Report,
}

/// A document that cannot be imported at all: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where, e.g. `features[2].name`.
    pub path: String,
    /// Why.
    pub message: String,
}

/// A slug for an Unleash name: lower case, other characters as `-`; `fallback` when nothing is left.
pub fn slug(name: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || (!out.is_empty() && matches!(c, '_' | '.' | '-')) {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    let mut key = if trimmed.is_empty() { fallback.to_owned() } else { trimmed.to_owned() };
    key.truncate(pennon_engine::MAX_KEY_LEN);
    key
}

/// Maps a document for `environment`. Refuses (with the first problem's path) a document whose toggles
/// or segments cannot be told apart or that references a segment it lacks; anything else that has no
/// Pennon counterpart is left out and listed in the report.
pub fn map(doc: &ClientFeatures, environment: &str) -> Result<Mapped, Invalid> {
    let invalid = |path: String, message: String| Invalid { path, message };
    let mut notes = Notes::default();
    let mut unmapped = Vec::new();
    let (segment_keys, segments, segment_reports) = map_segments(doc, &mut notes, &mut unmapped)?;

    let mut flags: Vec<MappedFlag> = Vec::new();
    let mut toggle_reports = Vec::new();
    for (i, feature) in doc.features.iter().enumerate() {
        let path = format!("features[{i}]");
        if feature.name.is_empty() {
            return Err(invalid(format!("{path}.name"), "a toggle needs a name".into()));
        }
        let key = slug(&feature.name, "flag");
        if let Some(other) = flags.iter().position(|f| f.definition.key == key) {
            let message = format!("\"{}\" and features[{other}] both become flag \"{key}\"", feature.name);
            return Err(invalid(format!("{path}.name"), message));
        }
        let before = unmapped.len();
        let has_variants = !feature.variants.is_empty() || feature.strategies.iter().any(|s| !s.variants.is_empty());
        let keys = has_variants.then(|| toggles::variant_keys(feature));
        let mut rules = Vec::new();
        let virtual_default;
        let strategies: Vec<(usize, &format::Strategy, String)> = if feature.strategies.is_empty() {
            // No strategy: on for everyone, as Unleash has it.
            virtual_default = format::Strategy {
                name: "default".into(),
                parameters: std::collections::BTreeMap::default(),
                constraints: vec![],
                segments: vec![],
                variants: vec![],
            };
            vec![(0, &virtual_default, path.clone())]
        } else {
            feature.strategies.iter().enumerate().map(|(j, s)| (j, s, format!("{path}.strategies[{j}]"))).collect()
        };
        for (j, strategy, spath) in strategies {
            match strategy_conditions(strategy, &spath, &segment_keys, &mut notes)? {
                Ok((conditions, segs)) => match toggles::strategy_rules(
                    feature,
                    j,
                    strategy,
                    &conditions,
                    &segs,
                    keys.as_ref(),
                    &spath,
                    &mut notes,
                ) {
                    Ok(r) => rules.extend(r),
                    Err(u) => unmapped.push(u),
                },
                Err(u) => unmapped.extend(u),
            }
        }
        let status = if unmapped.len() == before { Status::Mapped } else { Status::PartlyMapped };
        let (kind, variants) = match &keys {
            None => (
                FlagKind::Boolean,
                vec![
                    Variant { key: "on".into(), value: json!(true), name: None },
                    Variant { key: "off".into(), value: json!(false), name: None },
                ],
            ),
            Some(keys) => {
                let mut v = vec![
                    Variant { key: "off".into(), value: json!({"enabled": false, "variant": "disabled"}), name: None },
                    Variant { key: "on".into(), value: json!({"enabled": true, "variant": "disabled"}), name: None },
                ];
                v.extend(keys.entries.iter().map(|(name, payload, key)| Variant {
                    key: key.clone(),
                    value: toggles::variant_value(name, payload.as_ref()),
                    name: Some(name.clone()),
                }));
                (FlagKind::Json, v)
            }
        };
        let definition = Flag {
            key: key.clone(),
            name: feature.name.clone(),
            description: feature.description.clone().unwrap_or_default(),
            tags: vec!["unleash".into()],
            kind,
            variants,
            salt: format!("unleash:{}", feature.name),
            archived: false,
        };
        let config = toggles::config(&key, environment, feature.enabled, rules);
        toggle_reports.push(ToggleReport { path, toggle: feature.name.clone(), flag: key, status });
        flags.push(MappedFlag { definition, config });
    }
    dependencies::map(&doc.features, &mut flags, &mut toggle_reports, &mut unmapped);
    let report = Report { toggles: toggle_reports, segments: segment_reports, unmapped, notes: notes.0 };
    Ok(Mapped { segments, flags, report })
}

type SegmentKeys = [(i64, Result<Option<String>, String>)];

/// A strategy's constraints as conditions and its segments as Pennon keys; the inner `Err` lists the
/// parts that cannot be mapped (the strategy is then left out: dropping a constraint would widen it).
#[allow(clippy::type_complexity)]
fn strategy_conditions(
    strategy: &format::Strategy,
    path: &str,
    segment_keys: &SegmentKeys,
    notes: &mut Notes,
) -> Result<Result<(Vec<pennon_engine::Condition>, Vec<String>), Vec<Unmapped>>, Invalid> {
    let mut conditions = Vec::new();
    let mut problems = Vec::new();
    for (k, c) in strategy.constraints.iter().enumerate() {
        match constraints::condition(c) {
            Ok((cond, caveat)) => {
                note_caveat(notes, caveat, &c.context_name);
                conditions.push(cond);
            }
            Err(reason) => problems.push(Unmapped { path: format!("{path}.constraints[{k}]"), reason }),
        }
    }
    let mut segs = Vec::new();
    for (k, id) in strategy.segments.iter().enumerate() {
        match segment_keys.iter().find(|(s, _)| s == id) {
            None => {
                return Err(Invalid {
                    path: format!("{path}.segments[{k}]"),
                    message: format!("segment {id} is not in the document's segments"),
                });
            }
            Some((_, Ok(Some(key)))) => {
                if !segs.contains(key) {
                    segs.push(key.clone());
                }
            }
            Some((_, Ok(None))) => {}
            Some((_, Err(reason))) => {
                problems.push(Unmapped { path: format!("{path}.segments[{k}]"), reason: reason.clone() });
            }
        }
    }
    Ok(if problems.is_empty() { Ok((conditions, segs)) } else { Err(problems) })
}

fn note_caveat(notes: &mut Notes, caveat: Option<Caveat>, field: &str) {
    match caveat {
        Some(Caveat::Number) => {
            notes.add(format!("NUM_ constraints compare numbers: send \"{field}\" as a JSON number"));
        }
        Some(Caveat::Time) => notes.add(format!(
            "DATE_ constraints compare the \"{field}\" attribute: send it (RFC 3339); Unleash fills in the clock"
        )),
        None => {}
    }
}

/// Segments per Unleash id: `Some(key)` when mapped, `None` when it has no constraints (it matches everyone),
/// `Err` when it cannot be mapped; with the Pennon segments and the report's lines.
#[allow(clippy::type_complexity)]
fn map_segments(
    doc: &ClientFeatures,
    notes: &mut Notes,
    unmapped: &mut Vec<Unmapped>,
) -> Result<(Vec<(i64, Result<Option<String>, String>)>, Vec<Segment>, Vec<SegmentReport>), Invalid> {
    let invalid = |path: String, message: String| Invalid { path, message };
    // Segments: id -> Some(key) when mapped, None when it matches everyone.
    let mut segment_keys: Vec<(i64, Result<Option<String>, String>)> = Vec::new();
    let mut segments = Vec::new();
    let mut segment_reports = Vec::new();
    let mut used = BTreeSet::new();
    for (i, s) in doc.segments.iter().enumerate() {
        let path = format!("segments[{i}]");
        if segment_keys.iter().any(|(id, _)| *id == s.id) {
            return Err(invalid(format!("{path}.id"), format!("segment id {} appears twice", s.id)));
        }
        let mut conditions = Vec::new();
        let mut failed = None;
        for (j, c) in s.constraints.iter().enumerate() {
            match constraints::condition(c) {
                Ok((cond, caveat)) => {
                    note_caveat(notes, caveat, &c.context_name);
                    conditions.push(cond);
                }
                Err(reason) => {
                    unmapped.push(Unmapped { path: format!("{path}.constraints[{j}]"), reason: reason.clone() });
                    failed.get_or_insert(reason);
                }
            }
        }
        let (entry, key, status) = if let Some(reason) = failed {
            (Err(format!("segment {} cannot be mapped: {reason}", s.id)), None, Status::NotMapped)
        } else if conditions.is_empty() {
            (Ok(None), None, Status::Mapped)
        } else {
            let base = slug(s.name.as_deref().unwrap_or_default(), &format!("segment-{}", s.id));
            let key = if used.contains(&base) { format!("{base}-{}", s.id) } else { base };
            if !used.insert(key.clone()) {
                return Err(invalid(format!("{path}.name"), format!("segment key \"{key}\" is taken twice")));
            }
            let name = s.name.clone().unwrap_or_else(|| format!("Unleash segment {}", s.id));
            segments.push(Segment {
                key: key.clone(),
                name,
                description: format!("Imported from Unleash (segment {})", s.id),
                conditions,
                included: vec![],
                excluded: vec![],
                version: 0,
            });
            (Ok(Some(key.clone())), Some(key), Status::Mapped)
        };
        segment_keys.push((s.id, entry));
        segment_reports.push(SegmentReport { path, id: s.id, segment: key, status });
    }

    Ok((segment_keys, segments, segment_reports))
}
