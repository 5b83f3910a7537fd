//! `patch-instructions`: the cost of applying one flag change to an environment of a given size, for counting
//! instructions under `valgrind --tool=cachegrind` (see `docs/benchmarks.md`).
//!
//! ```text
//! valgrind --tool=cachegrind --cache-sim=no target/release/patch-instructions apply 10000 2000
//! ```
//!
//! `apply` makes each change with `CompiledSnapshot::apply` (what the SDK does with a `patch` event);
//! `compile` compiles the whole edited snapshot instead (what it did before). Each loop changes one flag in
//! the middle of `FLAGS` flags (to one of two versions made beforehand) shaped like the evaluation benchmark's (three rules with a regular expression
//! and a semantic version, a split), makes the new snapshot and drops the one before. Run each at two
//! iteration counts: the difference in instructions over the difference in iterations is one change.

use std::hint::black_box;

use anyhow::{Context as _, bail};
use pennon_bench::fixture;
use pennon_engine::{Change, CompiledSnapshot, Snapshot, SnapshotFlag};
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
    let usage = "usage: patch-instructions apply|compile FLAGS ITERATIONS";
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
