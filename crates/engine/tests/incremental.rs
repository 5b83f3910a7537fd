//! `CompiledSnapshot::apply`: a change compiles only what it carries, and the snapshot it makes evaluates
//! exactly as the edited snapshot compiled anew.

use pennon_engine::{Change, CompiledSnapshot, Context, Segment, Snapshot, SnapshotFlag};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A small deterministic generator: the tests draw configs from one `u64`, so proptest shrinks sequences of
/// changes rather than the shapes of JSON documents.
struct Draw(u64);

impl Draw {
    fn next(&mut self, below: u64) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % below
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[usize::try_from(self.next(from.len() as u64)).unwrap()]
    }
}

const FLAGS: [&str; 8] = ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"];
/// `s3` is never defined: rules naming it make a flag malformed.
const SEGMENTS: [&str; 4] = ["s0", "s1", "s2", "s3"];
const USERS: [&str; 5] = ["u1", "u2", "u3", "u4", "u5"];

fn condition(d: &mut Draw) -> Value {
    match d.next(6) {
        0 => json!({ "attribute": "country", "operator": "eq", "values": [d.pick(&["DE", "FR"])] }),
        1 => {
            json!({ "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"], "negate": d.next(2) == 0 })
        }
        2 => json!({ "attribute": "app_version", "operator": "semver_gte", "values": [d.pick(&["2.0.0", "3.1.0"])] }),
        3 => json!({ "attribute": "email", "operator": "matches", "values": [".*@example\\.com$"] }),
        4 => json!({ "attribute": "age", "operator": "gt", "values": [d.next(60)] }),
        _ => json!({ "attribute": d.pick(&["beta", "org"]), "operator": "exists" }),
    }
}

fn serve(d: &mut Draw) -> Value {
    match d.next(3) {
        0 => json!({ "variant": d.pick(&["on", "off"]) }),
        1 => {
            let on = d.next(100_001);
            json!({ "split": { "weights": [{ "variant": "on", "weight": on }, { "variant": "off", "weight": 100_000 - on }] } })
        }
        _ => json!({ "split": { "bucket_by": "org",
            "weights": [{ "variant": "off", "weight": 30_000 }, { "variant": "on", "weight": 70_000 }] } }),
    }
}

fn flag(key: &str, seed: u64) -> SnapshotFlag {
    let mut d = Draw(seed);
    let rules: Vec<Value> = (0..d.next(3))
        .map(|i| {
            json!({ "id": format!("r{i}"),
                "conditions": (0..d.next(3)).map(|_| condition(&mut d)).collect::<Vec<_>>(),
                "segments": (0..d.next(2)).map(|_| d.pick(&SEGMENTS)).collect::<Vec<_>>(),
                "serve": serve(&mut d) })
        })
        .collect();
    let prerequisites: Vec<Value> =
        (0..d.next(3)).map(|_| json!({ "flag": d.pick(&FLAGS), "variant": d.pick(&["on", "off"]) })).collect();
    let targets = if d.next(3) == 0 { json!([{ "variant": "on", "keys": [d.pick(&USERS)] }]) } else { json!([]) };
    serde_json::from_value(json!({
        "definition": { "key": key, "kind": "boolean", "salt": format!("{key}-{}", d.next(4)),
            "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
        "config": { "flag": key, "environment": "test", "version": seed % 1000, "enabled": d.next(5) != 0,
            "off_variant": "off", "targets": targets, "rules": rules, "default": serve(&mut d),
            "prerequisites": prerequisites }
    }))
    .unwrap()
}

fn segment(key: &str, seed: u64) -> Segment {
    let mut d = Draw(seed);
    serde_json::from_value(json!({
        "key": key,
        "included": (0..d.next(2)).map(|_| d.pick(&USERS)).collect::<Vec<_>>(),
        "excluded": (0..d.next(2)).map(|_| d.pick(&USERS)).collect::<Vec<_>>(),
        "conditions": (0..d.next(3)).map(|_| condition(&mut d)).collect::<Vec<_>>(),
    }))
    .unwrap()
}

fn contexts() -> Vec<Context> {
    vec![
        Context::new("u1").with("country", "DE").with("plan", "pro").with("app_version", "3.2.0").with("org", "acme"),
        Context::new("u2").with("country", "FR").with("email", "a@example.com").with("age", 45).with("beta", true),
        Context::new("u3").with("plan", "free").with("app_version", "1.9.0").with("org", 42),
        Context::new("u4").with("country", "DE").with("age", 20),
        Context::new("u5"),
        Context::anonymous().with("org", "globex"),
    ]
}

/// The same answers, flag by flag, for every context, and the same flags in the same order.
fn assert_same(incremental: &CompiledSnapshot, rebuilt: &CompiledSnapshot) {
    assert_eq!(incremental.flag_keys().collect::<Vec<_>>(), rebuilt.flag_keys().collect::<Vec<_>>());
    assert_eq!(incremental.revision(), rebuilt.revision());
    for key in FLAGS {
        let requiring = |s: &CompiledSnapshot| {
            let mut keys: Vec<String> = s.flags_requiring(key).map(str::to_owned).collect();
            keys.sort_unstable();
            keys
        };
        assert_eq!(requiring(incremental), requiring(rebuilt), "the flags requiring {key}");
    }
    for ctx in contexts() {
        assert_eq!(incremental.evaluate_all(&ctx), rebuilt.evaluate_all(&ctx), "{ctx:?}");
        for key in FLAGS {
            assert_eq!(incremental.evaluate(key, &ctx), rebuilt.evaluate(key, &ctx), "{key} {ctx:?}");
            assert_eq!(incremental.evaluate_served(key, &ctx), rebuilt.evaluate_served(key, &ctx), "{key} {ctx:?}");
        }
    }
}

/// A change as data: kind (0 upsert flag, 1 delete flag, 2 upsert segment, 3 delete segment), which key,
/// and the seed its config is drawn from.
#[derive(Debug, Clone, Copy)]
struct Step {
    kind: u8,
    key: usize,
    seed: u64,
}

enum Owned {
    Flag(Box<SnapshotFlag>),
    DeleteFlag(&'static str),
    Segment(Segment),
    DeleteSegment(&'static str),
}

impl Owned {
    fn of(step: Step) -> Self {
        match step.kind {
            0 | 4 => Owned::Flag(Box::new(flag(FLAGS[step.key % FLAGS.len()], step.seed))),
            1 => Owned::DeleteFlag(FLAGS[step.key % FLAGS.len()]),
            2 => Owned::Segment(segment(SEGMENTS[step.key % 3], step.seed)),
            _ => Owned::DeleteSegment(SEGMENTS[step.key % SEGMENTS.len()]),
        }
    }

    fn change(&self) -> Change<'_> {
        match self {
            Owned::Flag(f) => Change::UpsertFlag(f),
            Owned::DeleteFlag(key) => Change::DeleteFlag(key),
            Owned::Segment(s) => Change::UpsertSegment(s),
            Owned::DeleteSegment(key) => Change::DeleteSegment(key),
        }
    }

    /// The same change made to a raw snapshot, as a client keeping one does: an object replaces the one with
    /// its key in place, a new flag goes where a binary search by key puts it (a new segment last); a delete
    /// keeps the others in order.
    fn edit(&self, snapshot: &mut Snapshot) {
        match self {
            Owned::Flag(f) => {
                if let Some(slot) = snapshot.flags.iter_mut().find(|s| s.definition.key == f.definition.key) {
                    slot.clone_from(f);
                } else {
                    let i = snapshot.flags.partition_point(|s| s.definition.key < f.definition.key);
                    snapshot.flags.insert(i, (**f).clone());
                }
            }
            Owned::DeleteFlag(key) => snapshot.flags.retain(|f| f.definition.key != *key),
            Owned::Segment(s) => match snapshot.segments.iter_mut().find(|x| x.key == s.key) {
                Some(slot) => *slot = s.clone(),
                None => snapshot.segments.push(s.clone()),
            },
            Owned::DeleteSegment(key) => snapshot.segments.retain(|s| s.key != *key),
        }
    }
}

fn steps() -> impl Strategy<Value = Vec<Vec<Step>>> {
    let step = (0u8..6, 0usize..8, any::<u64>()).prop_map(|(kind, key, seed)| Step { kind, key, seed });
    // Batches of one to four changes.
    prop::collection::vec(prop::collection::vec(step, 1..5), 1..12)
}

fn initial(seed: u64) -> Snapshot {
    let mut snapshot = Snapshot { environment: "test".to_owned(), revision: 1, ..Snapshot::default() };
    for (i, key) in FLAGS.iter().take(5).enumerate() {
        snapshot.flags.push(flag(key, seed.wrapping_add(i as u64)));
    }
    snapshot.segments.push(segment("s0", seed));
    snapshot.segments.push(segment("s1", seed.wrapping_mul(3)));
    snapshot
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn applying_changes_evaluates_as_compiling_anew(seed in any::<u64>(), batches in steps()) {
        let mut raw = initial(seed);
        let mut compiled = CompiledSnapshot::compile(&raw);
        for (n, batch) in batches.iter().enumerate() {
            let owned: Vec<Owned> = batch.iter().map(|s| Owned::of(*s)).collect();
            let changes: Vec<Change<'_>> = owned.iter().map(Owned::change).collect();
            let revision = 2 + n as u64;
            let (next, report) = compiled.apply(revision, &changes);
            let upserts = owned.iter().filter(|o| matches!(o, Owned::Flag(_))).count();
            prop_assert_eq!(report.flags_compiled, upserts);
            for o in &owned {
                o.edit(&mut raw);
            }
            raw.revision = revision;
            assert_same(&next, &CompiledSnapshot::compile(&raw));
            compiled = next;
        }
    }
}

/// `n` flags with rules, a segment, splits and prerequisites on the flag before.
fn large(n: usize) -> Snapshot {
    let mut snapshot = Snapshot { environment: "test".to_owned(), revision: 1, ..Snapshot::default() };
    snapshot.segments = vec![segment("s0", 1), segment("s1", 2), segment("s2", 3)];
    for i in 0..n {
        let mut f = flag(&format!("flag-{i:05}"), i as u64);
        f.config.prerequisites.clear();
        if i % 10 == 1 {
            f.config.prerequisites.push(
                serde_json::from_value(json!({ "flag": format!("flag-{:05}", i - 1), "variant": "on" })).unwrap(),
            );
        }
        snapshot.flags.push(f);
    }
    snapshot
}

#[test]
fn one_flag_change_to_ten_thousand_flags_compiles_one_flag() {
    let mut raw = large(10_000);
    let (compiled, report) = CompiledSnapshot::compile_with_report(&raw);
    assert_eq!((report.flags_compiled, report.segments_compiled), (10_000, 3));

    // A flag that others require changes.
    let mut changed = flag("flag-05000", 77);
    changed.config.prerequisites.clear();
    let (next, report) = compiled.apply(2, &[Change::UpsertFlag(&changed)]);
    assert_eq!((report.flags_compiled, report.segments_compiled), (1, 0));
    raw.flags[5000] = changed;
    raw.revision = 2;
    let rebuilt = CompiledSnapshot::compile(&raw);
    for ctx in contexts() {
        assert_eq!(next.evaluate_all(&ctx), rebuilt.evaluate_all(&ctx));
    }

    // A segment change compiles the segment alone; a new flag and a delete compile one flag and none.
    let s1 = segment("s1", 99);
    let added = flag("flag-new", 5);
    let (next, report) =
        next.apply(3, &[Change::UpsertSegment(&s1), Change::UpsertFlag(&added), Change::DeleteFlag("flag-00003")]);
    assert_eq!((report.flags_compiled, report.segments_compiled), (1, 1));
    raw.segments[1] = s1;
    raw.flags.push(added);
    raw.flags.remove(3);
    raw.revision = 3;
    let rebuilt = CompiledSnapshot::compile(&raw);
    assert_eq!(next.len(), 10_000);
    for ctx in contexts() {
        assert_eq!(next.evaluate_all(&ctx), rebuilt.evaluate_all(&ctx));
    }
    // The version before is untouched.
    assert_eq!(compiled.flag_version("flag-05000"), Some(5000 % 1000));
    assert_eq!(compiled.revision(), 1);
}
