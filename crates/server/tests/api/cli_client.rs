//! The client commands of the real `pennon` binary against a real server: export, edit, apply, everyday flag
//! work, and the exit codes a CI job reads.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::apply::populate;
use crate::both;
use crate::helpers::{Db, TestApp};

both!(export_edit_apply_and_flag_work, exit_codes_for_ci_jobs, import_from_unleash);

/// What one run of the binary gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `pennon args...` against `app` with `token`, off the runtime's threads (the server runs on them).
async fn pennon(app: &TestApp, token: &str, args: &[&str]) -> Run {
    let (base, token) = (app.base.clone(), token.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_pennon"))
            .args(&args)
            .env("PENNON_SERVER", base)
            .env("PENNON_TOKEN", token)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the pennon binary runs");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("joined")
}

async fn token(app: &TestApp, role: &str) -> String {
    let created = app.post("/api/v1/tokens", json!({ "name": format!("ci-{role}"), "role": role })).await.expect(201);
    created.body["token"].as_str().unwrap().to_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn export_edit_apply_and_flag_work(db: Db) {
    let app = TestApp::spawn(db).await;
    populate(&app).await;
    let editor = token(&app, "editor").await;
    let dir = tempfile::tempdir().unwrap();

    let yaml = pennon(&app, &editor, &["export"]).await;
    assert_eq!(yaml.code, Some(0), "{}", yaml.stderr);
    assert!(yaml.stdout.starts_with("version: 1\n"), "{}", yaml.stdout);
    let unchanged = write(dir.path(), "flags.yaml", &yaml.stdout);
    let run = pennon(&app, &editor, &["apply", "-f", &unchanged]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.starts_with("No changes"), "{}", run.stdout);

    let exported = pennon(&app, &editor, &["export", "--format", "json", "--environment", "staging"]).await;
    let mut doc: Value = serde_json::from_str(&exported.stdout).expect("JSON");
    assert_eq!(doc["environments"].as_array().unwrap().len(), 1);
    let checkout = doc["flags"].as_array_mut().unwrap().iter_mut().find(|f| f["key"] == "new-checkout").unwrap();
    checkout["environments"]["staging"]["enabled"] = json!(false);
    let edited = write(dir.path(), "flags.json", &doc.to_string());

    let plan = pennon(&app, &editor, &["apply", "-f", &edited, "--dry-run"]).await;
    assert_eq!(plan.code, Some(0), "{}", plan.stderr);
    assert!(plan.stdout.contains("~ config new-checkout/staging\n    enabled: true -> false\n"), "{}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 0 to create, 1 to update, 0 to delete"), "{}", plan.stdout);
    let config = app.get("/api/v1/flags/new-checkout/environments/staging").await.expect(200);
    assert_eq!(config.body["enabled"], true, "a dry run changes nothing");

    let applied = pennon(&app, &editor, &["apply", "-f", &edited, "--output", "json"]).await;
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    let applied: Value = serde_json::from_str(&applied.stdout).expect("JSON");
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["summary"]["update"], 1);
    let config = app.get("/api/v1/flags/new-checkout/environments/staging").await.expect(200);
    assert_eq!(config.body["enabled"], false);

    let list = pennon(&app, &editor, &["flags", "list"]).await;
    let keys: Vec<&str> = list.stdout.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(keys, ["button-color", "layout", "max-items", "new-checkout"], "{}", list.stdout);
    let envs = pennon(&app, &editor, &["envs", "list", "--output", "json"]).await;
    let envs: Value = serde_json::from_str(&envs.stdout).expect("JSON");
    assert_eq!(
        envs.as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect::<Vec<_>>(),
        ["staging", "production"]
    );

    let toggled = pennon(&app, &editor, &["flags", "toggle", "new-checkout", "--environment", "staging", "--on"]).await;
    assert_eq!(toggled.code, Some(0), "{}", toggled.stderr);
    assert!(toggled.stdout.starts_with("new-checkout is on in staging"), "{}", toggled.stdout);
    let set = ["flags", "set-default", "new-checkout", "--environment", "staging", "--variant", "off"];
    assert_eq!(pennon(&app, &editor, &set).await.code, Some(0));
    let config = app.get("/api/v1/flags/new-checkout/environments/staging").await.expect(200);
    assert_eq!(
        (config.body["enabled"].clone(), config.body["default"].clone()),
        (json!(true), json!({ "variant": "off" }))
    );

    let target = ["flags", "evaluate", "new-checkout", "--environment", "production", "--key", "user-7"];
    let evaluated = pennon(&app, &editor, &target).await;
    assert_eq!(evaluated.stdout, "new-checkout = true (variant on, TARGET_MATCH)\n", "{}", evaluated.stderr);
    let rule = [
        "flags",
        "evaluate",
        "max-items",
        "--environment",
        "production",
        "--key",
        "u",
        "--attr",
        "age=40",
        "--output",
        "json",
    ];
    let evaluated: Value = serde_json::from_str(&pennon(&app, &editor, &rule).await.stdout).expect("JSON");
    assert_eq!((evaluated["variant"].clone(), evaluated["reason"]["rule_id"].clone()), (json!("many"), json!("big")));
    let got = pennon(&app, &editor, &["flags", "get", "layout", "--output", "json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&got.stdout).expect("JSON")["kind"], "json");
}

async fn exit_codes_for_ci_jobs(db: Db) {
    let app = TestApp::spawn(db).await;
    populate(&app).await;
    let (editor, viewer) = (token(&app, "editor").await, token(&app, "viewer").await);
    let dir = tempfile::tempdir().unwrap();
    let yaml = pennon(&app, &editor, &["export"]).await.stdout;
    let file = write(dir.path(), "flags.yaml", &yaml);

    let bad = pennon(&app, "pnn_api_not-a-token", &["flags", "list"]).await;
    assert_eq!(bad.code, Some(4), "{}", bad.stderr);
    assert!(bad.stderr.starts_with("error: "), "{}", bad.stderr);
    let denied = pennon(&app, &viewer, &["apply", "-f", &file]).await;
    assert_eq!(denied.code, Some(4), "{}", denied.stderr);

    // A GitOps job applies the file it exported; a change made on the server since is a conflict.
    let exported = app.client.get(format!("{}/api/v1/export", app.base)).bearer_auth(&editor).send().await.unwrap();
    let revision = exported.headers()["pennon-revision"].to_str().unwrap().to_owned();
    app.post("/api/v1/flags/layout/environments/staging/toggle", json!({})).await.expect(200);
    let edited = yaml.replacen("enabled: true", "enabled: false", 1);
    let edited = write(dir.path(), "edited.yaml", &edited);
    let conflict = pennon(&app, &editor, &["apply", "-f", &edited, "--expected-revision", &revision]).await;
    assert_eq!(conflict.code, Some(3), "{}", conflict.stderr);
    assert!(conflict.stderr.contains("Conflict (409)"), "{}", conflict.stderr);

    let invalid = write(dir.path(), "invalid.yaml", &yaml.replacen("operator: in", "operator: near", 1));
    let refused = pennon(&app, &editor, &["apply", "-f", &invalid]).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(refused.stderr.contains("rules[0].conditions[0].operator"), "{}", refused.stderr);
    let missing = pennon(&app, &editor, &["apply", "-f", "/nonexistent/flags.yaml"]).await;
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    let usage = pennon(&app, &editor, &["apply"]).await;
    assert_eq!(usage.code, Some(2), "{}", usage.stderr);
    let help = pennon(&app, &editor, &["apply", "--help"]).await;
    assert!(help.stdout.contains("3 conflict") && help.stdout.contains("4 authentication"), "{}", help.stdout);
    let untouched = app.get("/api/v1/flags/button-color/environments/production").await;
    assert_eq!(untouched.body["enabled"], true, "nothing applied");
}

/// `pennon import unleash`: the dry run reports and writes nothing, the import writes, `--strict` refuses a
/// document with parts that cannot be mapped (exit 1), and the report names them.
async fn import_from_unleash(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let editor = token(&app, "editor").await;
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/unleash_features.json");
    let args = |extra: &[&'static str]| {
        let mut all = vec!["import", "unleash", file, "--environment", "production"];
        all.extend_from_slice(extra);
        all
    };
    let dry = pennon(&app, &editor, &args(&["--dry-run"])).await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(dry.stdout.contains("Would import:") && dry.stdout.contains("+ flag "), "{}", dry.stdout);
    assert!(dry.stdout.contains("! not mapped: features["), "the report names what is left out: {}", dry.stdout);
    assert_eq!(app.get("/api/v1/flags").await.expect(200).body["items"], json!([]), "a dry run writes nothing");

    let strict = pennon(&app, &editor, &args(&["--strict"])).await;
    assert_eq!(strict.code, Some(1), "{} {}", strict.stdout, strict.stderr);
    assert_eq!(app.get("/api/v1/flags").await.expect(200).body["items"], json!([]), "strict refused it all");

    let done = pennon(&app, &editor, &args(&["--output", "json"])).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let answer: Value = serde_json::from_str(&done.stdout).expect("JSON");
    let created = answer["changes"].as_array().unwrap().iter().filter(|c| c["action"] == "create").count();
    assert!(created > 50, "{created} objects created");
    let flags = app.get("/api/v1/flags?limit=500").await.expect(200).body["items"].as_array().unwrap().len();
    assert!(flags >= 50, "{flags} flags imported");
    let viewer = token(&app, "viewer").await;
    assert_eq!(pennon(&app, &viewer, &args(&["--dry-run"])).await.code, Some(4), "a viewer may not import");
}
