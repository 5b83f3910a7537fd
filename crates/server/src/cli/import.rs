//! `pennon import unleash`: moving from Unleash, through `POST /api/v1/import/unleash`.

use std::fmt::Write as _;

use reqwest::Method;
use serde_json::Value;

use super::args::ImportUnleashArgs;
use super::client::{Body, ClientError, encode};
use super::documents::read_file;
use super::{connect, print};

/// Sends the document, then prints the changes and the report.
pub(super) async fn unleash(args: &ImportUnleashArgs) -> Result<(), ClientError> {
    let client = connect(&args.client)?;
    let bytes = read_file(&args.file)?;
    let path = format!(
        "/api/v1/import/unleash?environment={}&dry_run={}&strict={}",
        encode(&args.environment),
        args.dry_run,
        args.strict
    );
    let body = Body { content_type: "application/json", bytes };
    let answer = client.send(Method::POST, &path, Some(body)).await?.json()?;
    print(args.client.output, &answer, || describe(&answer, args.dry_run));
    Ok(())
}

/// The import's changes (`+` create, `~` update) and every part that was left out, with its path.
fn describe(answer: &Value, dry_run: bool) -> String {
    let mut out = String::new();
    let mut counts = [0usize; 3];
    for c in answer["changes"].as_array().into_iter().flatten() {
        let (sign, i) = match c["action"].as_str() {
            Some("create") => ("+", 0),
            Some("update") => ("~", 1),
            _ => ("=", 2),
        };
        counts[i] += 1;
        if i < 2 {
            let _ =
                writeln!(out, "{sign} {} {}", c["resource"].as_str().unwrap_or(""), c["key"].as_str().unwrap_or(""));
        }
    }
    for part in answer["report"]["unmapped"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "! not mapped: {} ({})",
            part["path"].as_str().unwrap_or(""),
            part["reason"].as_str().unwrap_or("")
        );
    }
    let verb = if dry_run { "Would import" } else { "Imported" };
    let _ = writeln!(out, "{verb}: {} created, {} updated, {} unchanged.", counts[0], counts[1], counts[2]);
    out
}
