//! `patch-instructions`: the cost of applying one flag change to an environment of a given size, for counting
//! instructions under `valgrind --tool=cachegrind` (see `docs/benchmarks.md`).
//!
//! ```text
//! valgrind --tool=cachegrind --cache-sim=no target/release/patch-instructions apply 10000 2000
//! ```
//!
//! `apply` makes each change with `CompiledSnapshot::apply` (the compiled part of what the SDK does with a
//! `patch` event); `compile` compiles the whole edited snapshot instead (what it did before); `server` makes
//! the server's next snapshot version with `EnvSnapshot::changed` from a change-log row, as a commit does
//! (parse the payload, compile the flag, write its evaluation JSON ahead, share the other flags). Each loop changes one flag in
//! the middle of `FLAGS` flags (to one of two versions made beforehand) shaped like the evaluation benchmark's (three rules with a regular expression
//! and a semantic version, a split), makes the new snapshot and drops the one before. Run each at two
//! iteration counts: the difference in instructions over the difference in iterations is one change.

use std::hint::black_box;

use anyhow::{Context as _, bail};
use pennon_bench::fixture;
use pennon_engine::{Change, CompiledSnapshot, Snapshot, SnapshotFlag};
use pennon_server::delivery::env_snapshot::EnvSnapshot;
use pennon_server::store::{ChangeRow, ObjectKind};
use serde_json::json;

fn flag(i: usize, version: u64) -> anyhow::Result<SnapshotFlag> {
    let mut flag = fixture::flag();
    let key = format!("flag-{i:05}");
    flag["definition"]["key"] = json!(key);
    flag["definition"]["salt"] = json!(format!("salt-{i:05}"));
    flag["config"]["flag"] = json!(key);
    flag["config"]["version"] = json!(version);
    Ok(serde_json::from_value(flag)?)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: patch-instructions apply|compile|server FLAGS ITERATIONS";
    let which = args.next().context(usage)?;
    let flags: usize = args.next().context(usage)?.parse()?;
    let iterations: u64 = args.next().context(usage)?.parse()?;
    let mut raw = Snapshot {
        environment: "production".to_owned(),
        revision: 1,
        flags: (0..flags).map(|i| flag(i, 1)).collect::<anyhow::Result<_>>()?,
        segments: Vec::new(),
    };
    let middle = flags / 2;
    // Two versions of the flag in the middle, made once: the loop alternates between them.
    let versions = [flag(middle, 2)?, flag(middle, 3)?];
    if which == "server" {
        return server(raw, &versions, iterations);
    }
    let mut compiled = CompiledSnapshot::compile(&raw);
    let mut compiled_flags = 0;
    for n in 0..iterations {
        let changed = &versions[usize::from(n % 2 == 1)];
        let next = match which.as_str() {
            "apply" => {
                let (next, report) = compiled.apply(n + 2, &[Change::UpsertFlag(black_box(changed))]);
                compiled_flags += report.flags_compiled;
                next
            }
            "compile" => {
                raw.flags[middle].clone_from(changed);
                raw.revision = n + 2;
                let (next, report) = CompiledSnapshot::compile_with_report(black_box(&raw));
                compiled_flags += report.flags_compiled;
                next
            }
            _ => bail!(usage),
        };
        compiled = next;
    }
    println!(
        "{which}: {iterations} changes to {flags} flags, {compiled_flags} flags compiled, version {:?}",
        compiled.flag_version(&format!("flag-{middle:05}"))
    );
    Ok(())
}

/// The server's side of a change: `EnvSnapshot::changed` with the change-log row a commit appends.
fn server(raw: Snapshot, versions: &[SnapshotFlag; 2], iterations: u64) -> anyhow::Result<()> {
    let key = versions[0].definition.key.clone();
    let payloads = [serde_json::to_string(&versions[0])?, serde_json::to_string(&versions[1])?];
    let flags = raw.flags.len();
    let mut snapshot = EnvSnapshot::new(raw);
    let mut compiled_flags = 0;
    for n in 0..iterations {
        let row = ChangeRow {
            revision: n + 2,
            kind: ObjectKind::Flag,
            key: key.clone(),
            payload: Some(payloads[usize::from(n % 2 == 1)].clone()),
            committed_at: 0,
        };
        let next = snapshot.changed(black_box(&[row]))?;
        compiled_flags += next.build.flags_compiled;
        snapshot = next;
    }
    println!(
        "server: {iterations} changes to {flags} flags, {compiled_flags} flags compiled, version {:?}",
        snapshot.flag(&key).map(|f| f.config.version)
    );
    Ok(())
}
