//! `pennon export` and `pennon apply`: flags as code.

use std::fmt::Write as _;
use std::io::Read as _;

use reqwest::Method;
use serde_json::Value;

use super::args::{ApplyArgs, DocumentFormat, ExportArgs};
use super::client::{Body, ClientError, encode, exit};
use super::{connect, print};

/// Prints the document to standard output.
pub(super) async fn export(args: &ExportArgs) -> Result<(), ClientError> {
    let client = connect(&args.client)?;
    let format = match args.format {
        DocumentFormat::Yaml => "yaml",
        DocumentFormat::Json => "json",
    };
    let mut query = format!("?format={format}");
    if let Some(env) = &args.environment {
        let _ = write!(query, "&environment={}", encode(env));
    }
    if let Some(flag) = &args.flag {
        let _ = write!(query, "&flag={}", encode(flag));
    }
    let answer = client.send(Method::GET, &format!("/api/v1/export{query}"), None).await?;
    print!("{}", answer.text);
    Ok(())
}

/// Reads the document, asks for the plan, prints it, and (without `--dry-run`) applies exactly that plan:
/// the apply names the revision the plan was made against, so a change in between is refused (exit 3).
pub(super) async fn apply(args: &ApplyArgs) -> Result<(), ClientError> {
    let client = connect(&args.client)?;
    let bytes = read_file(&args.file)?;
    let json = args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let content_type = if json { "application/json" } else { "application/yaml" };
    let mut query = if args.prune { "&prune=true" } else { "" }.to_owned();
    if let Some(revision) = &args.expected_revision {
        let _ = write!(query, "&expected_revision={}", encode(revision));
    }
    let body = || Body { content_type, bytes: bytes.clone() };
    let plan = client.send(Method::POST, &format!("/api/v1/apply?dry_run=true{query}"), Some(body())).await?.json()?;
    let changes = plan["summary"]["create"].as_u64().unwrap_or(0)
        + plan["summary"]["update"].as_u64().unwrap_or(0)
        + plan["summary"]["delete"].as_u64().unwrap_or(0);
    if args.dry_run || changes == 0 {
        print(args.client.output, &plan, || describe(&plan));
        return Ok(());
    }
    let revision = plan["revision"].as_str().unwrap_or_default();
    let prune = if args.prune { "&prune=true" } else { "" };
    let path = format!("/api/v1/apply?expected_revision={}{prune}", encode(revision));
    let applied = client.send(Method::POST, &path, Some(body())).await?.json()?;
    print(args.client.output, &applied, || describe(&applied));
    Ok(())
}

/// The bytes of `file`, or of standard input for `-`.
pub(super) fn read_file(file: &std::path::Path) -> Result<Vec<u8>, ClientError> {
    if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map(|_| bytes)
    } else {
        std::fs::read(file)
    }
    .map_err(|e| ClientError { code: exit::ERROR, message: format!("cannot read {}: {e}", file.display()) })
}

/// The plan as a readable diff: `+` create, `~` update (with each field's before and after), `-` delete.
fn describe(plan: &Value) -> String {
    let mut out = String::new();
    for e in plan["entries"].as_array().into_iter().flatten() {
        let (kind, key) = (e["kind"].as_str().unwrap_or(""), e["key"].as_str().unwrap_or(""));
        let sign = match e["op"].as_str() {
            Some("create") => "+",
            Some("update") => "~",
            Some("delete") => "-",
            _ => continue,
        };
        let _ = writeln!(out, "{sign} {kind} {key}");
        for c in e["changes"].as_array().into_iter().flatten() {
            let show = |v: &Value| if v.is_null() { "(none)".to_owned() } else { v.to_string() };
            let _ = writeln!(
                out,
                "    {}: {} -> {}",
                c["path"].as_str().unwrap_or(""),
                show(&c["before"]),
                show(&c["after"])
            );
        }
    }
    let s = &plan["summary"];
    let verb = if plan["applied"] == Value::Bool(true) { "Applied" } else { "Plan" };
    if s["create"] == 0 && s["update"] == 0 && s["delete"] == 0 {
        let _ = writeln!(out, "No changes ({} unchanged).", s["unchanged"]);
    } else {
        let _ = writeln!(
            out,
            "{verb}: {} to create, {} to update, {} to delete, {} unchanged.",
            s["create"], s["update"], s["delete"], s["unchanged"]
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn plans_read_as_a_diff() {
        let plan = json!({ "applied": false, "summary": { "create": 1, "update": 1, "delete": 0, "unchanged": 3 },
            "entries": [{ "kind": "flag", "key": "a", "op": "create" },
                { "kind": "config", "key": "b/prod", "op": "update",
                  "changes": [{ "path": "enabled", "before": false, "after": true }] },
                { "kind": "segment", "key": "c", "op": "unchanged" }] });
        assert_eq!(
            super::describe(&plan),
            "+ flag a\n~ config b/prod\n    enabled: false -> true\nPlan: 1 to create, 1 to update, 0 to delete, 3 unchanged.\n"
        );
    }

    #[test]
    fn plans_guards_and_metrics_read_as_a_diff() {
        let plan = json!({ "applied": true, "summary": { "create": 1, "update": 1, "delete": 1, "unchanged": 0 },
            "entries": [{ "kind": "metric", "key": "signups", "op": "create" },
                { "kind": "guard", "key": "f/prod/errors:on", "op": "update",
                  "changes": [{ "path": "threshold.relative", "before": 0.1, "after": 0.2 }] },
                { "kind": "plan", "key": "f/prod", "op": "delete" }] });
        assert_eq!(
            super::describe(&plan),
            "+ metric signups\n~ guard f/prod/errors:on\n    threshold.relative: 0.1 -> 0.2\n- plan f/prod\n\
             Applied: 1 to create, 1 to update, 1 to delete, 0 unchanged.\n"
        );
    }
}
