//! The Unleash import against Unleash's own evaluator (Yggdrasil): every toggle of
//! `tests/fixtures/unleash_features.json` that maps fully is evaluated by both for 10,000 contexts, and
//! Pennon must answer as Unleash does, on enabled and on the variant (name and payload).

use std::collections::HashMap;

use pennon_engine::{CompiledSnapshot, Context, Snapshot, SnapshotFlag};
use pennon_server::domain::unleash::{self, Status, format::ClientFeatures};
use serde_json::{Value, json};
use unleash_yggdrasil::EngineState;

/// The fixture, as text.
pub fn fixture() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unleash_features.json");
    std::fs::read_to_string(path).expect("the fixture")
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// An Unleash context: every context has a userId or a sessionId (Unleash places the others at random).
pub fn contexts(n: usize, seed: u64) -> Vec<unleash_yggdrasil::Context> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let mut user_id = rng.chance(80).then(|| format!("u{}", rng.next() % 2000));
            let session_id = rng.chance(60).then(|| format!("s-{:x}", rng.next() % 100_000));
            if user_id.is_none() && session_id.is_none() {
                user_id = Some(format!("u{i}"));
            }
            let mut props = HashMap::new();
            let mut prop = |rng: &mut Rng, name: &str, percent: u64, values: &[&str]| {
                if rng.chance(percent) {
                    props.insert(name.to_owned(), rng.pick(values).to_owned());
                }
            };
            prop(&mut rng, "country", 85, &["DE", "FR", "US", "de", "GB"]);
            prop(&mut rng, "plan", 85, &["free", "pro", "beta", "enterprise"]);
            prop(
                &mut rng,
                "email",
                85,
                &[
                    "admin@example.com",
                    "Admin@EXAMPLE.com",
                    "ops.jane@corp.io",
                    "test@foo.org",
                    "bob@example.org",
                    "carol@Example.COM",
                    "dave@other.net",
                ],
            );
            prop(&mut rng, "age", 85, &["17", "18", "30.5", "30", "40", "42", "42.0", "65", "66", "abc"]);
            prop(&mut rng, "appVersion", 85, &["1.0.0", "0.9.9", "2.3.0", "2.3.1", "2.10.0", "3.0.0-beta.1", "3.0.0"]);
            prop(&mut rng, "tenantId", 90, &["t1", "t2", "t3", "t4", "t5", "t6", "t7"]);
            props.insert("orgId".into(), format!("org-{}", rng.next() % 500));
            unleash_yggdrasil::Context {
                user_id,
                session_id,
                environment: rng.chance(80).then(|| rng.pick(&["production", "staging"]).to_owned()),
                app_name: rng.chance(80).then(|| rng.pick(&["web", "ios", "android"]).to_owned()),
                current_time: Some(
                    rng.pick(&[
                        "2025-01-01T00:00:00Z",
                        "2025-06-01T00:00:00Z",
                        "2025-06-01T00:00:01Z",
                        "2025-12-31T23:59:59Z",
                        "2026-01-01T00:00:00Z",
                        "2026-03-15T12:00:00Z",
                        "2026-07-04T08:30:00Z",
                    ])
                    .to_owned(),
                ),
                remote_address: rng.chance(50).then(|| "10.1.2.3".to_owned()),
                properties: Some(props),
            }
        })
        .collect()
}

/// The same context as Pennon receives it: the fields as attributes under their Unleash names, numbers (the
/// attributes `NUM_` constraints compare) as JSON numbers.
pub fn pennon_context(c: &unleash_yggdrasil::Context) -> Context {
    let mut attributes = serde_json::Map::new();
    let fields = [
        ("userId", &c.user_id),
        ("sessionId", &c.session_id),
        ("environment", &c.environment),
        ("appName", &c.app_name),
        ("currentTime", &c.current_time),
        ("remoteAddress", &c.remote_address),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            attributes.insert(name.to_owned(), json!(v));
        }
    }
    for (name, value) in c.properties.iter().flatten() {
        let v = match value.parse::<f64>() {
            Ok(n) if name == "age" => json!(n),
            _ => json!(value),
        };
        attributes.insert(name.clone(), v);
    }
    let key = c.user_id.clone().or_else(|| c.session_id.clone());
    serde_json::from_value(json!({"key": key, "attributes": attributes})).expect("a context")
}

/// What Unleash answers, as the mapped flag's value.
pub fn unleash_answer(engine: &EngineState, toggle: &str, ctx: &unleash_yggdrasil::Context, boolean: bool) -> Value {
    let enabled = engine.is_enabled(toggle, ctx, &None);
    if boolean {
        return json!(enabled);
    }
    let variant = engine.get_variant(toggle, ctx, &None);
    assert_eq!(variant.feature_enabled, enabled, "{toggle}: is_enabled and get_variant disagree");
    let mut answer = json!({"enabled": enabled, "variant": variant.name});
    if let Some(p) = variant.payload {
        answer["payload"] = json!({"type": p.payload_type, "value": p.value});
    }
    answer
}

/// The attributes the report's notes name for the toggle at `path`: without them, Unleash assigns a variant
/// at random (and Pennon serves the off variant).
pub fn random_without(notes: &[String], path: &str) -> Vec<String> {
    let prefix = format!("{path}.");
    let marker = "at random to contexts without \"";
    notes
        .iter()
        .filter(|n| n.starts_with(&prefix))
        .filter_map(|n| n.split_once(marker).map(|(_, rest)| rest.split('"').next().unwrap_or("").to_owned()))
        .collect()
}

/// The mapped flags and segments as one snapshot, compiled.
pub fn compiled(mapped: &unleash::Mapped) -> CompiledSnapshot {
    let snapshot = Snapshot {
        environment: "production".into(),
        revision: 1,
        flags: mapped
            .flags
            .iter()
            .map(|f| SnapshotFlag { definition: f.definition.clone(), config: f.config.clone() })
            .collect(),
        segments: mapped.segments.clone(),
    };
    for f in &snapshot.flags {
        let problems = pennon_engine::validate_config(&f.definition, &f.config, &snapshot);
        assert!(problems.is_empty(), "{}: {problems:?}", f.definition.key);
    }
    CompiledSnapshot::compile(&snapshot)
}

#[test]
fn mapped_toggles_answer_as_unleash_does_for_10000_contexts() {
    let text = fixture();
    let doc: ClientFeatures = serde_json::from_str(&text).unwrap();
    let mapped = unleash::map(&doc, "production").expect("the fixture maps");
    let pennon = compiled(&mapped);
    let engine = EngineState::default();
    let features: unleash_yggdrasil::ClientFeatures = serde_json::from_str(&text).unwrap();
    let warnings = engine.apply_client_features(features).unwrap_or_default();

    let fully: Vec<_> = mapped.report.toggles.iter().filter(|t| t.status == Status::Mapped).collect();
    for w in &warnings {
        assert!(
            !fully.iter().any(|t| t.toggle == w.toggle_name),
            "Yggdrasil cannot compile {}: {}",
            w.toggle_name,
            w.message
        );
    }
    assert!(fully.len() >= 50, "at least 50 toggles map fully, got {}", fully.len());
    // The report names the attributes without which Unleash assigns at random; those contexts are skipped.
    let skips: Vec<Vec<String>> = fully.iter().map(|t| random_without(&mapped.report.notes, &t.path)).collect();
    let mut compared = vec![0usize; fully.len()];
    let mut disagreements = Vec::new();
    for ctx in contexts(10_000, 7) {
        let pctx = pennon_context(&ctx);
        for (i, t) in fully.iter().enumerate() {
            if skips[i].iter().any(|attr| pctx.attributes.get(attr).is_none()) {
                continue;
            }
            compared[i] += 1;
            let eval = pennon.evaluate(&t.flag, &pctx);
            let boolean = pennon.flag_kind(&t.flag) == Some(pennon_engine::FlagKind::Boolean);
            let expected = unleash_answer(&engine, &t.toggle, &ctx, boolean);
            let got = eval.value.cloned().unwrap_or(Value::Null);
            if got != expected && disagreements.len() < 20 {
                disagreements
                    .push(format!("{}: {ctx:?}: unleash {expected}, pennon {got} ({:?})", t.toggle, eval.reason));
            }
        }
    }
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
    for (t, n) in fully.iter().zip(&compared) {
        assert!(*n >= 3_000, "{}: only {n} contexts compared", t.toggle);
    }
}

#[test]
fn every_unmappable_part_is_reported_with_its_path() {
    let doc: ClientFeatures = serde_json::from_str(&fixture()).unwrap();
    let report = unleash::map(&doc, "production").unwrap().report;
    let index = |name: &str| doc.features.iter().position(|f| f.name == name).unwrap();
    let expected = [
        (format!("features[{}].strategies[0]", index("un-custom")), "custom strategy"),
        (format!("features[{}].strategies[0]", index("un-remote")), "remoteAddress"),
        (format!("features[{}].strategies[0]", index("un-hostname")), "applicationHostname"),
        (format!("features[{}].strategies[0].constraints[0]", index("un-operator")), "unknown operator"),
        (format!("features[{}].strategies[0].constraints[0]", index("un-cidr")), "IN_CIDR"),
        (format!("features[{}].strategies[0]", index("un-random")), "gradualRolloutRandom"),
        (format!("features[{}].strategies[0].segments[0]", index("un-segment")), "segment 4"),
        (format!("features[{}].dependencies[0]", index("un-dependency")), "being off"),
        (format!("features[{}].dependencies[0]", index("un-dependency-variants")), "variants of"),
        (format!("features[{}].dependencies[0]", index("un-dependency-ungrouped")), "without a groupId"),
        ("segments[3].constraints[0]".to_owned(), "IN_CIDR"),
    ];
    for (path, reason) in &expected {
        assert!(
            report.unmapped.iter().any(|u| &u.path == path && u.reason.contains(reason)),
            "{path} ({reason}) missing from {:?}",
            report.unmapped
        );
    }
    assert_eq!(report.unmapped.len(), expected.len(), "{:?}", report.unmapped);
    for t in &report.toggles {
        let partly = t.toggle.starts_with("un-");
        assert_eq!(t.status == Status::PartlyMapped, partly, "{}: {:?}", t.toggle, t.status);
    }
}
