//! `eval-instructions`: the loops of `sdk/benches/evaluate.rs`, run a given number of times, for counting
//! instructions under `valgrind --tool=cachegrind`, which a machine busy with other work does not disturb.
//!
//! ```text
//! valgrind --tool=cachegrind --cache-sim=no target/release/eval-instructions sdk 200000
//! ```
//!
//! Run each loop at two iteration counts: the difference in instructions, divided by the difference in
//! iterations, is the cost of one evaluation without the setup.

use std::hint::black_box;

use anyhow::{Context as _, bail};
use pennon_bench::fixture;
use pennon_sdk::{Client, Context, Snapshot};
use serde_json::json;

const KEY: &str = "3f2b8c1e-9d4a-4e7b-a5c6-0d1e2f3a4b5c";

fn context(key: &str) -> Context {
    let attributes = serde_json::from_value(fixture::attributes()).expect("attributes");
    Context { key: Some(key.to_owned()), attributes }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: eval-instructions engine|sdk|engine-10k|sdk-10k ITERATIONS";
    let which = args.next().context(usage)?;
    let iterations: usize = args.next().context(usage)?.parse()?;
    let snapshot: Snapshot =
        serde_json::from_value(json!({ "environment": "production", "revision": 1, "flags": [fixture::flag()] }))?;
    let engine = pennon_engine::CompiledSnapshot::compile(&snapshot);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client: Client =
        runtime.block_on(Client::builder("http://127.0.0.1:9", "unused").bootstrap(snapshot).offline(true).build())?;
    let one = context(KEY);
    let many: Vec<Context> = (0..10_000).map(|i| context(&format!("{KEY}-{i:05}"))).collect();
    let mut on = 0usize;
    match which.as_str() {
        "engine" => {
            for _ in 0..iterations {
                on += usize::from(engine.evaluate(black_box("flag-00"), black_box(&one)).variant == Some("on"));
            }
        }
        "sdk" => {
            for _ in 0..iterations {
                on += usize::from(client.bool_value(black_box("flag-00"), black_box(&one), false));
            }
        }
        "engine-10k" => {
            for i in 0..iterations {
                on += usize::from(engine.evaluate(black_box("flag-00"), &many[i % many.len()]).variant == Some("on"));
            }
        }
        "sdk-10k" => {
            for i in 0..iterations {
                on += usize::from(client.bool_value(black_box("flag-00"), &many[i % many.len()], false));
            }
        }
        _ => bail!(usage),
    }
    println!("{which}: {iterations} evaluations, {on} served on");
    Ok(())
}
