//! Scheduled changes: applied on time by the leader as ordinary changes SDKs see, never when cancelled, still
//! after a restart, once with two replicas; a conflicting edit in between makes a replacing change fail
//! visibly while a toggle still applies; bad input and viewers are refused.

use std::time::Duration;

use pennon_server::app::config::ServeConfig;
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::both;
use crate::helpers::{Db, TestApp, TestDatabase};
use crate::sse::{SseReader, bearer, sdk_key};

both!(
    applies_on_time_and_reaches_sdks,
    cancelled_never_applies,
    restart_before_its_time_still_applies,
    conflicting_rules_edit_fails_and_toggle_still_applies,
    pending_changes_are_edited_with_their_version,
    bad_input_names_the_field_and_viewers_only_read,
    pending_changes_per_config_are_bounded,
);

const CONFIG: &str = "/api/v1/flags/checkout/environments/production";
const SCHEDULED: &str = "/api/v1/flags/checkout/environments/production/scheduled-changes";

/// A server whose scheduler ticks every 100 ms, with `production` and the boolean flag `checkout` (off).
async fn quick_app(db: Db) -> TestApp {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.plan_tick = Duration::from_millis(100);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app
}

/// RFC 3339 time `millis` from now.
fn in_ms(millis: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::milliseconds(millis)).format(&Rfc3339).unwrap()
}

/// Schedules `change` at `millis` from now and returns the scheduled change.
async fn schedule(app: &TestApp, millis: i64, change: Value) -> Value {
    app.post(SCHEDULED, json!({ "at": in_ms(millis), "change": change, "comment": "planned" })).await.expect(201).body
}

/// Polls a scheduled change until it is no longer pending (at most 20 s).
async fn resolved(app: &TestApp, id: &Value) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = app.get(&format!("{SCHEDULED}/{id}")).await.expect(200).body;
        if found["state"] != "pending" {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "the change stayed pending: {found}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The config's history entries made by scheduled changes: (action, actor).
async fn scheduled_history(app: &TestApp) -> Vec<(String, String)> {
    let history = app.get(&format!("{CONFIG}/history?limit=500")).await.expect(200).body;
    history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].as_str().unwrap().starts_with("schedule:"))
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["actor"].as_str().unwrap().to_owned()))
        .collect()
}

/// Audit rows of the flag in production whose actor is a schedule: (action, actor).
async fn scheduled_audit(app: &TestApp) -> Vec<(String, String)> {
    let audit = app.get("/api/v1/audit?flag=checkout&environment=production&limit=500").await.expect(200).body;
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].as_str().unwrap().starts_with("schedule:"))
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["actor"].as_str().unwrap().to_owned()))
        .collect()
}

async fn applies_on_time_and_reaches_sdks(db: Db) {
    let app = quick_app(db).await;
    let key = sdk_key(&app, "production", "server").await;
    let mut stream = SseReader::open(&app, "/api/v1/sdk/stream", &[("authorization", &bearer(&key))]).await;
    while stream.next_event().await.event.as_deref() != Some("put") {}

    let created = schedule(&app, 2000, json!({ "kind": "toggle", "enabled": true })).await;
    assert_eq!(created["state"], "pending");
    assert_eq!(created["based_on_version"], 1);
    assert_eq!(created["change"], json!({ "kind": "toggle", "enabled": true }));
    assert_eq!(created["author"], "user:admin@pennon.test");
    let listed = app.get(SCHEDULED).await.expect(200).body;
    assert_eq!(listed["items"][0]["id"], created["id"]);

    let patch = stream.next_event().await;
    assert_eq!(patch.event.as_deref(), Some("patch"));
    let data = patch.json();
    assert_eq!(data["object"]["config"]["enabled"], true, "the stream carries the change");
    assert_eq!(data["object"]["config"]["version"], 2);

    let applied = resolved(&app, &created["id"]).await;
    assert_eq!(applied["state"], "applied", "{applied}");
    assert_eq!(applied["applied_version"], 2);
    let actor = format!("schedule:{} by user:admin@pennon.test", created["id"]);
    assert_eq!(scheduled_history(&app).await, [("config.toggle".to_owned(), actor.clone())]);
    assert_eq!(scheduled_audit(&app).await, [("config.toggle".to_owned(), actor)]);
    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!((config["enabled"].clone(), config["version"].clone()), (json!(true), json!(2)));
    let snapshot =
        app.call(Method::GET, "/api/v1/sdk/snapshot", None, &[("authorization", &bearer(&key))]).await.expect(200);
    let flags = snapshot.body["flags"].as_array().unwrap();
    let flag = flags.iter().find(|f| f["definition"]["key"] == "checkout" || f["key"] == "checkout").unwrap();
    assert_eq!(flag["config"]["enabled"], true, "the snapshot serves it: {flag}");
    // Applied is final.
    app.delete(&format!("{SCHEDULED}/{}", created["id"])).await.expect(409);
}

async fn cancelled_never_applies(db: Db) {
    let app = quick_app(db).await;
    let cancelled = schedule(&app, 1000, json!({ "kind": "toggle", "enabled": true })).await;
    let later = schedule(&app, 1500, json!({ "kind": "default", "variant": "on" })).await;
    let gone = app.delete(&format!("{SCHEDULED}/{}", cancelled["id"])).await.expect(200).body;
    assert_eq!(gone["state"], "cancelled");
    app.delete(&format!("{SCHEDULED}/{}", cancelled["id"])).await.expect(409);

    // Once the later change has applied, the cancelled one's time has long passed.
    assert_eq!(resolved(&app, &later["id"]).await["state"], "applied");
    let still = app.get(&format!("{SCHEDULED}/{}", cancelled["id"])).await.expect(200).body;
    assert_eq!(still["state"], "cancelled");
    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!(config["enabled"], false, "the cancelled toggle never applied");
    assert_eq!(config["default"], json!({ "variant": "on" }));
    let history = scheduled_history(&app).await;
    assert_eq!(history.len(), 1, "{history:?}");
    let audit = app.get("/api/v1/audit?flag=checkout&environment=production&limit=500").await.expect(200).body;
    assert!(audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "scheduled_change.cancel"));
}

async fn restart_before_its_time_still_applies(db: Db) {
    let mut app = quick_app(db).await;
    let created = schedule(&app, 2000, json!({ "kind": "toggle", "enabled": true })).await;
    app.restart().await;
    let applied = resolved(&app, &created["id"]).await;
    assert_eq!(applied["state"], "applied", "{applied}");
    assert_eq!(app.get(CONFIG).await.expect(200).body["enabled"], true);
    assert_eq!(scheduled_history(&app).await.len(), 1);
}

async fn conflicting_rules_edit_fails_and_toggle_still_applies(db: Db) {
    let app = quick_app(db).await;
    let rule = |id: &str| {
        json!({ "id": id, "conditions": [{ "attribute": "plan", "operator": "in", "values": ["pro"] }],
        "serve": { "variant": "on" } })
    };
    let rules = schedule(&app, 1500, json!({ "kind": "rules", "rules": [rule("scheduled")] })).await;
    let toggle = schedule(&app, 1500, json!({ "kind": "toggle", "enabled": true })).await;
    // Someone edits the rules in between.
    app.post(&format!("{CONFIG}/rules"), rule("by-hand")).await.expect(200);

    let failed = resolved(&app, &rules["id"]).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(failed["failure"].as_str().unwrap().contains("changed since"), "{failed}");
    assert!(failed.get("applied_version").is_none());
    let applied = resolved(&app, &toggle["id"]).await;
    assert_eq!(applied["state"], "applied", "a toggle follows the edit: {applied}");

    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!(config["rules"].as_array().unwrap().len(), 1);
    assert_eq!(config["rules"][0]["id"], "by-hand", "the edit made in between is kept");
    assert_eq!((config["enabled"].clone(), config["version"].clone()), (json!(true), json!(3)));
    let audit: Vec<String> = scheduled_audit(&app).await.into_iter().map(|(action, _)| action).collect();
    assert!(audit.contains(&"scheduled_change.fail".to_owned()), "{audit:?}");
    assert!(audit.contains(&"config.toggle".to_owned()), "{audit:?}");
}

async fn pending_changes_are_edited_with_their_version(db: Db) {
    let app = quick_app(db).await;
    let created = schedule(&app, 600_000, json!({ "kind": "toggle", "enabled": true })).await;
    let path = format!("{SCHEDULED}/{}", created["id"]);
    let edited = app
        .patch(&path, json!({ "version": 1, "comment": "later", "change": { "kind": "default", "variant": "on" } }))
        .await
        .expect(200)
        .body;
    assert_eq!((edited["version"].clone(), edited["comment"].clone()), (json!(2), json!("later")));
    assert_eq!(edited["change"], json!({ "kind": "default", "default": { "variant": "on" } }));
    let stale = app.patch(&path, json!({ "version": 1, "comment": "again" })).await.expect(409);
    assert_eq!(stale.body["current_version"], 2, "{}", stale.body);
    let bad = app
        .patch(&path, json!({ "version": 2, "change": { "kind": "default", "variant": "maybe" } }))
        .await
        .expect(422);
    assert!(bad.body["field"].as_str().unwrap().starts_with("change."), "{}", bad.body);
    assert_eq!(app.get(&path).await.expect(200).body["version"], 2, "a refused edit changes nothing");
    let pending = app.get(&format!("{SCHEDULED}?state=pending")).await.expect(200).body;
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    let applied = app.get(&format!("{SCHEDULED}?state=applied")).await.expect(200).body;
    assert!(applied["items"].as_array().unwrap().is_empty());
}

async fn bad_input_names_the_field_and_viewers_only_read(db: Db) {
    let app = quick_app(db).await;
    let toggle = json!({ "kind": "toggle", "enabled": true });
    let refused = |at: &str, change: Value| json!({ "at": at, "change": change });
    let past = app.post(SCHEDULED, refused(&in_ms(-60_000), toggle.clone())).await.expect(422);
    assert_eq!(past.body["field"], "at");
    let far = app.post(SCHEDULED, refused("2999-01-01T00:00:00Z", toggle.clone())).await.expect(422);
    assert_eq!(far.body["field"], "at");
    let garbled = app.post(SCHEDULED, refused("tomorrow", toggle.clone())).await.expect(422);
    assert_eq!(garbled.body["field"], "at");
    let soon = in_ms(600_000);
    let bad_rule = json!({ "kind": "rules", "rules": [{ "id": "r", "serve": { "variant": "nope" } }] });
    let invalid = app.post(SCHEDULED, refused(&soon, bad_rule)).await.expect(422);
    assert!(invalid.body["field"].as_str().unwrap().starts_with("change.rules[0]"), "{}", invalid.body);
    let two = json!({ "kind": "default", "variant": "on", "rollout": { "variant": "on", "percent": 5 } });
    assert_eq!(app.post(SCHEDULED, refused(&soon, two)).await.expect(422).body["field"], "change.default");
    let whole = json!({ "kind": "config", "config": { "enabled": true, "off_variant": "gone", "default": { "variant": "on" } } });
    let invalid = app.post(SCHEDULED, refused(&soon, whole)).await.expect(422);
    assert!(invalid.body["field"].as_str().unwrap().starts_with("change.config."), "{}", invalid.body);
    app.post(SCHEDULED, refused(&soon, json!({ "kind": "everything" }))).await.expect(400);
    app.post(SCHEDULED, refused(&soon, json!({ "kind": "toggle", "enabld": true }))).await.expect(400);
    app.post(SCHEDULED, json!({ "change": toggle.clone() })).await.expect(400);
    let stale = json!({ "kind": "toggle", "enabled": true, "version": 7 });
    app.post(SCHEDULED, refused(&soon, stale)).await.expect(409);
    app.post("/api/v1/flags/nothing/environments/production/scheduled-changes", refused(&soon, toggle.clone()))
        .await
        .expect(404);
    let long = json!({ "at": soon, "change": toggle, "comment": "x".repeat(1001) });
    assert_eq!(app.post(SCHEDULED, long).await.expect(422).body["field"], "comment");

    app.post("/api/v1/users", json!({ "email": "v@pennon.test", "password": "viewer-Pa55word", "role": "viewer" }))
        .await
        .expect(201);
    let viewer = bearer(&app.login("v@pennon.test", "viewer-Pa55word").await);
    let auth = [("authorization", viewer.as_str())];
    let body = json!({ "at": soon, "change": { "kind": "toggle", "enabled": true } });
    app.call(Method::POST, SCHEDULED, Some(body.clone()), &auth).await.expect(403);
    assert!(app.get(SCHEDULED).await.expect(200).body["items"].as_array().unwrap().is_empty(), "nothing was kept");
    let created = app.post(SCHEDULED, body).await.expect(201).body;
    let path = format!("{SCHEDULED}/{}", created["id"]);
    app.call(Method::DELETE, &path, None, &auth).await.expect(403);
    app.call(Method::PATCH, &path, Some(json!({ "comment": "mine" })), &auth).await.expect(403);
    let seen = app.call(Method::GET, SCHEDULED, None, &auth).await.expect(200).body;
    assert_eq!(seen["items"].as_array().unwrap().len(), 1, "viewers read");
    app.call(Method::GET, &path, None, &auth).await.expect(200);

    // Where config changes need approval, an editor cannot schedule one past the change requests; an admin can.
    let env = SCHEDULED.split('/').nth(6).unwrap();
    app.patch(&format!("/api/v1/environments/{env}"), json!({ "approvals_required": 1 })).await.expect(200);
    let editor = app.post("/api/v1/tokens", json!({ "name": "ed", "role": "editor" })).await.expect(201);
    let editor = bearer(editor.body["token"].as_str().unwrap());
    let editor_auth = [("authorization", editor.as_str())];
    let body = json!({ "at": soon, "change": { "kind": "toggle", "enabled": true } });
    let refused = app.call(Method::POST, SCHEDULED, Some(body.clone()), &editor_auth).await.expect(403);
    assert!(refused.body["detail"].as_str().unwrap().contains("change request"), "{}", refused.body);
    assert_eq!(app.get(SCHEDULED).await.expect(200).body["items"].as_array().unwrap().len(), 1, "nothing kept");
    app.post(SCHEDULED, body).await.expect(201);
}

/// Two replicas on one PostgreSQL database, both running rounds as fast as they can: the change applies once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_apply_it_once() {
    let app = quick_app(Db::Postgres).await;
    let mut second = app.config.clone();
    second.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let other = pennon_server::app::startup::spawn(second).await.expect("a second replica starts");
    let created = schedule(&app, 1000, json!({ "kind": "toggle", "enabled": true })).await;

    let states = [app.state().clone(), other.state.clone()];
    let racers = states.map(|state| {
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while tokio::time::Instant::now() < deadline {
                pennon_server::jobs::scheduled_changes::round(&state).await.ok();
                tokio::time::sleep(Duration::from_millis(5)).await;
                if state.store.next_scheduled().await.ok().flatten().is_none() {
                    break;
                }
            }
        })
    });
    for racer in racers {
        racer.await.unwrap();
    }
    let applied = resolved(&app, &created["id"]).await;
    assert_eq!(applied["state"], "applied");
    assert_eq!(applied["applied_version"], 2);
    assert_eq!(app.get(CONFIG).await.expect(200).body["version"], 2, "one version");
    assert_eq!(scheduled_history(&app).await.len(), 1);
    assert_eq!(scheduled_audit(&app).await.len(), 1, "one audit row");
    other.shutdown().await;
}

async fn pending_changes_per_config_are_bounded(db: Db) {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.schedule_max_pending = 1;
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let first = schedule(&app, 600_000, json!({ "kind": "toggle", "enabled": true })).await;
    let body = json!({ "at": in_ms(700_000), "change": { "kind": "toggle", "enabled": false } });
    app.post(SCHEDULED, body.clone()).await.expect(409);
    app.delete(&format!("{SCHEDULED}/{}", first["id"])).await.expect(200);
    app.post(SCHEDULED, body).await.expect(201);
}
