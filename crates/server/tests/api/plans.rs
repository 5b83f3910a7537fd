//! `/flags/{flag}/environments/{env}/rollout-plan`: writing, reading, validating and deleting plans, and the moves a
//! person makes (start, pause, resume, abort), each with its history event, audit row and config change.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::flags::{audit_actions, colour_flag};
use crate::helpers::{Db, TestApp};

both!(
    create_read_replace_delete,
    validation_names_every_field,
    viewers_read_editors_write,
    start_pause_resume_abort,
    approvals_gate_what_raises_exposure
);

pub const PLAN: &str = "/api/v1/flags/checkout/environments/production/rollout-plan";
pub const CONFIG: &str = "/api/v1/flags/checkout/environments/production";

/// An app with `production` and the boolean flag `checkout`, on there.
pub async fn app_with_flag(db: Db) -> TestApp {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app.post(&format!("{CONFIG}/toggle"), json!({ "enabled": true })).await.expect(200);
    app
}

/// The usual ramp: 1% → 5% → 25% → 50% → 100%.
pub fn ramp() -> Value {
    json!({ "variant": "on", "steps": [
        { "percent": 1, "hold": "10m" }, { "percent": 5, "hold": "30m" }, { "percent": 25, "hold": "1h" },
        { "percent": 50, "hold": "1h" }, { "percent": 100 }
    ] })
}

/// The config's default as `[(variant, weight)]`.
pub async fn default_weights(app: &TestApp) -> Vec<(String, u64)> {
    let config = app.get(CONFIG).await.expect(200).body;
    let weights = config["default"]["split"]["weights"].as_array().cloned().unwrap_or_default();
    weights.iter().map(|w| (w["variant"].as_str().unwrap().to_owned(), w["weight"].as_u64().unwrap())).collect()
}

/// The history's events, oldest first.
pub fn events(plan: &Value) -> Vec<String> {
    plan["history"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect()
}

fn paths(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap().to_owned()).collect()
}

async fn create_read_replace_delete(db: Db) {
    let app = app_with_flag(db).await;
    app.get(PLAN).await.expect(404);
    let config_before = app.get(CONFIG).await.expect(200).body;

    let created = app.put(PLAN, ramp()).await.expect(201);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let plan = &created.body;
    assert_eq!(
        (plan["variant"].clone(), plan["control"].clone(), plan["bucket_by"].clone()),
        (json!("on"), json!("off"), json!("key"))
    );
    assert_eq!(plan["steps"][1], json!({ "percent": 5.0, "hold": "30m" }));
    assert_eq!(plan["steps"][2]["hold"], "1h");
    assert_eq!(plan["steps"][4], json!({ "percent": 100.0 }));
    assert_eq!((plan["state"].clone(), plan["current_percent"].clone()), (json!("pending"), json!(0.0)));
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["updated_by"], "user:admin@pennon.test");
    assert_eq!(events(plan), ["created"]);
    assert_eq!(app.get(CONFIG).await.expect(200).body, config_before, "writing a plan changes no config");

    let got = app.get(PLAN).await.expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.body, created.body);

    // Replacing names the version it is based on, when it names one.
    let short = json!({ "variant": "on", "control": "off", "bucket_by": "account",
        "steps": [{ "percent": 10, "hold": "90s" }, { "percent": 100 }] });
    let stale = app.call(Method::PUT, PLAN, Some(short.clone()), &[("if-match", "\"7\"")]).await.expect(409);
    assert_eq!(stale.body["current_version"], 1);
    let replaced = app.call(Method::PUT, PLAN, Some(short), &[("if-match", "\"1\"")]).await.expect(200);
    assert_eq!(replaced.body["version"], 2);
    assert_eq!(replaced.body["bucket_by"], "account");
    assert_eq!(replaced.body["steps"][0]["hold"], "1m 30s");
    assert_eq!(events(&replaced.body), ["created", "updated"]);

    // Not while it is in progress.
    app.post(&format!("{PLAN}/start"), json!({})).await.expect(200);
    assert_eq!(app.put(PLAN, ramp()).await.expect(409).body["status"], 409);
    app.delete(PLAN).await.expect(409);
    app.post(&format!("{PLAN}/abort"), json!({})).await.expect(200);

    app.call(Method::DELETE, PLAN, None, &[("if-match", "\"1\"")]).await.expect(409);
    app.delete(PLAN).await.expect(204);
    app.get(PLAN).await.expect(404);
    app.delete(PLAN).await.expect(404);
    let actions = audit_actions(&app, "checkout").await;
    for action in ["plan.create", "plan.replace", "plan.start", "plan.abort", "plan.delete"] {
        assert!(actions.contains(&action.to_owned()), "{action} audited: {actions:?}");
    }

    // A new plan starts a new history; unknown flags and environments are named.
    assert_eq!(events(&app.put(PLAN, ramp()).await.expect(201).body), ["created"]);
    let nowhere = app.put("/api/v1/flags/checkout/environments/nowhere/rollout-plan", ramp()).await.expect(404);
    assert!(nowhere.body["detail"].as_str().unwrap().contains("nowhere"));
    app.put("/api/v1/flags/nothing/environments/production/rollout-plan", ramp()).await.expect(404);
    app.post("/api/v1/flags/nothing/environments/production/rollout-plan/start", json!({})).await.expect(404);
}

async fn validation_names_every_field(db: Db) {
    let app = app_with_flag(db).await;
    colour_flag(&app, "colour").await;
    let bad = json!({ "variant": "maybe", "steps": [
        { "percent": 5, "hold": "10m" }, { "percent": 5, "hold": "10m" }, { "percent": 0, "hold": "-3m" },
        { "percent": 120, "hold": "1m" }, { "percent": 50 }
    ] });
    let refused = app.put(PLAN, bad).await.expect(422);
    assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    assert_eq!(
        paths(&refused.body),
        ["variant", "steps[1].percent", "steps[2].percent", "steps[2].hold", "steps[3].percent", "steps[4].percent"]
    );
    assert_eq!(refused.body["field"], "variant");

    let cases = [
        (json!({ "variant": "on", "steps": [] }), "steps"),
        (json!({ "variant": "on", "control": "on", "steps": [{ "percent": 100 }] }), "control"),
        (json!({ "variant": "on", "control": "nope", "steps": [{ "percent": 100 }] }), "control"),
        (json!({ "variant": "on", "steps": [{ "percent": 10 }, { "percent": 100 }] }), "steps[0].hold"),
        (json!({ "variant": "on", "steps": [{ "percent": 10, "hold": "0s" }, { "percent": 100 }] }), "steps[0].hold"),
        (json!({ "variant": "on", "steps": [{ "percent": 100, "hold": "1m" }] }), "steps[0].hold"),
        (
            json!({ "variant": "on", "steps": [{ "percent": 0.0001, "hold": "1m" }, { "percent": 100 }] }),
            "steps[0].percent",
        ),
        (json!({ "variant": "on", "bucket_by": "", "steps": [{ "percent": 100 }] }), "bucket_by"),
    ];
    for (body, field) in cases {
        let refused = app.put(PLAN, body.clone()).await.expect(422);
        assert_eq!(paths(&refused.body), [field], "{body}");
    }
    // Malformed JSON is a 400 naming the field; unknown fields are refused.
    let typo = app.put(PLAN, json!({ "variant": "on", "steps": [{ "percent": "ten" }] })).await.expect(400);
    assert_eq!(typo.body["field"], "steps[0].percent");
    app.put(PLAN, json!({ "variant": "on", "steps": [{ "percent": 100 }], "speed": 2 })).await.expect(400);

    // Other kinds of flags name their control.
    let colour = "/api/v1/flags/colour/environments/production/rollout-plan";
    let missing = app.put(colour, json!({ "variant": "green", "steps": [{ "percent": 100 }] })).await.expect(422);
    assert_eq!(paths(&missing.body), ["control"]);
    let ok = json!({ "variant": "green", "control": "blue", "steps": [{ "percent": 50, "hold": "1s" }, { "percent": 100 }] });
    assert_eq!(app.put(colour, ok).await.expect(201).body["control"], "blue");

    app.get(PLAN).await.expect(404);
    let actions = audit_actions(&app, "checkout").await;
    assert!(!actions.iter().any(|a| a.starts_with("plan.")), "refused writes leave no audit rows: {actions:?}");
}

async fn viewers_read_editors_write(db: Db) {
    let app = app_with_flag(db).await;
    app.put(PLAN, ramp()).await.expect(201);
    let mut tokens = Vec::new();
    for role in ["viewer", "editor"] {
        let token = app.post("/api/v1/tokens", json!({ "name": role, "role": role })).await.expect(201);
        tokens.push(format!("Bearer {}", token.body["token"].as_str().unwrap()));
    }
    let (viewer, editor) = (&tokens[0], &tokens[1]);
    app.call(Method::GET, PLAN, None, &[("authorization", viewer)]).await.expect(200);
    app.call(Method::PUT, PLAN, Some(ramp()), &[("authorization", viewer)]).await.expect(403);
    app.call(Method::POST, &format!("{PLAN}/start"), None, &[("authorization", viewer)]).await.expect(403);
    app.call(Method::DELETE, PLAN, None, &[("authorization", viewer)]).await.expect(403);
    app.call(Method::GET, PLAN, None, &[("authorization", "")]).await.expect(401);
    let started = app.call(Method::POST, &format!("{PLAN}/start"), None, &[("authorization", editor)]).await;
    let actor = started.expect(200).body["history"][1]["actor"].as_str().unwrap().to_owned();
    assert!(actor.starts_with("token:editor"), "the editor's token started it: {actor}");
}

async fn start_pause_resume_abort(db: Db) {
    let app = app_with_flag(db).await;
    app.put(PLAN, ramp()).await.expect(201);
    let config_version = app.get(CONFIG).await.expect(200).body["version"].as_u64().unwrap();
    for action in ["pause", "resume", "abort"] {
        app.post(&format!("{PLAN}/{action}"), json!({})).await.expect(409);
    }

    let started = app.post(&format!("{PLAN}/start"), json!({})).await.expect(200);
    let plan = &started.body;
    assert_eq!(
        (plan["state"].clone(), plan["current_step"].clone(), plan["current_percent"].clone()),
        (json!("running"), json!(0), json!(1.0))
    );
    assert!(plan["next_step_at"].as_str().unwrap() > plan["step_started_at"].as_str().unwrap());
    assert_eq!(events(plan), ["created", "started"]);
    assert_eq!(plan["history"][1]["percent"], 1.0);
    assert_eq!(default_weights(&app).await, [("on".to_owned(), 1_000), ("off".to_owned(), 99_000)]);
    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!(config["version"].as_u64().unwrap(), config_version + 1);
    assert_eq!(config["updated_by"], "system:plan");
    let history = app.get(&format!("{CONFIG}/history")).await.expect(200).body;
    assert_eq!(history["items"][0]["action"], "config.plan.start");
    app.post(&format!("{PLAN}/start"), json!({})).await.expect(409);
    app.post(&format!("{PLAN}/resume"), json!({})).await.expect(409);

    let paused = app.call(Method::POST, &format!("{PLAN}/pause"), None, &[("if-match", "2")]).await.expect(200);
    assert_eq!(paused.body["state"], "paused");
    assert_eq!(paused.body["current_percent"], 1.0, "a pause keeps the percentage");
    assert!(paused.body["next_step_at"].is_null());
    let left = paused.body["remaining_hold"].as_str().unwrap();
    assert!(left.starts_with("9m") || left.starts_with("10m"), "about ten minutes left: {left}");
    assert_eq!(app.get(CONFIG).await.expect(200).body["version"].as_u64().unwrap(), config_version + 1);
    app.call(Method::POST, &format!("{PLAN}/resume"), None, &[("if-match", "2")]).await.expect(409);

    let resumed = app.post(&format!("{PLAN}/resume"), json!({})).await.expect(200);
    assert_eq!(resumed.body["state"], "running");
    assert!(resumed.body["remaining_hold"].is_null());
    assert!(resumed.body["next_step_at"].is_string());

    let aborted = app.post(&format!("{PLAN}/abort"), json!({})).await.expect(200);
    assert_eq!(
        (aborted.body["state"].clone(), aborted.body["current_percent"].clone()),
        (json!("aborted"), json!(0.0))
    );
    assert_eq!(events(&aborted.body), ["created", "started", "paused", "resumed", "aborted"]);
    assert_eq!(
        default_weights(&app).await,
        [("on".to_owned(), 0), ("off".to_owned(), 100_000)],
        "back to 0%, ramped variant first"
    );
    let audit = app.get("/api/v1/audit?flag=checkout").await.expect(200).body;
    let newest = &audit["items"].as_array().unwrap()[..2];
    let mut pair: Vec<&str> = newest.iter().map(|e| e["action"].as_str().unwrap()).collect();
    pair.sort_unstable();
    assert_eq!(pair, ["config.plan.abort", "plan.abort"], "abort audits the plan and the config together");

    // An ended plan starts again from its first step.
    let again = app.post(&format!("{PLAN}/start"), json!({})).await.expect(200);
    assert_eq!((again.body["state"].clone(), again.body["current_percent"].clone()), (json!("running"), json!(1.0)));

    // A one-step plan is complete as soon as it starts.
    app.post(&format!("{PLAN}/abort"), json!({})).await.expect(200);
    app.put(PLAN, json!({ "variant": "on", "steps": [{ "percent": 100 }] })).await.expect(200);
    let whole = app.post(&format!("{PLAN}/start"), json!({})).await.expect(200);
    assert_eq!(whole.body["state"], "completed");
    assert_eq!(default_weights(&app).await, [("on".to_owned(), 100_000), ("off".to_owned(), 0)]);
}

/// Where config changes need approval, an editor can define a plan, pause it and abort it, but neither start
/// nor resume it, nor hand out a trigger URL: each would change the config past the change requests (403,
/// nothing changed). An admin can.
async fn approvals_gate_what_raises_exposure(db: Db) {
    let app = app_with_flag(db).await;
    app.patch("/api/v1/environments/production", json!({ "approvals_required": 1 })).await.expect(200);
    let editor = app.post("/api/v1/tokens", json!({ "name": "ed", "role": "editor" })).await.expect(201);
    let editor = format!("Bearer {}", editor.body["token"].as_str().unwrap());
    let auth = [("authorization", editor.as_str())];
    app.call(Method::PUT, PLAN, Some(ramp()), &auth).await.expect(201);
    let before = default_weights(&app).await;

    let refused = app.call(Method::POST, &format!("{PLAN}/start"), None, &auth).await.expect(403);
    assert!(refused.body["detail"].as_str().unwrap().contains("change request"), "{}", refused.body);
    assert_eq!(default_weights(&app).await, before, "nothing served differently");
    assert_eq!(app.get(PLAN).await.expect(200).body["state"], "pending");
    let triggers = format!("{CONFIG}/triggers");
    app.call(Method::POST, &triggers, Some(json!({ "action": "on" })), &auth).await.expect(403);
    assert_eq!(app.get(&triggers).await.expect(200).body["items"].as_array().map_or(0, Vec::len), 0);

    app.post(&format!("{PLAN}/start"), json!({})).await.expect(200);
    app.call(Method::POST, &format!("{PLAN}/pause"), None, &auth).await.expect(200);
    app.call(Method::POST, &format!("{PLAN}/resume"), None, &auth).await.expect(403);
    assert_eq!(app.get(PLAN).await.expect(200).body["state"], "paused");
    app.call(Method::POST, &format!("{PLAN}/abort"), None, &auth).await.expect(200);
    app.post(&triggers, json!({ "action": "off" })).await.expect(201);
}
