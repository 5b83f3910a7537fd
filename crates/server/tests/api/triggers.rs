//! Trigger URLs: a POST turns the flag off (or on) as a toggle would, Alertmanager notifications fire and
//! resolve, revoked and unknown URLs answer 404, and the secret is shown once and nowhere else.

use pennon_server::app::config::ServeConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, Reply, TestApp, TestDatabase};
use crate::sse::{SseReader, bearer, sdk_key};

both!(
    a_trigger_turns_the_flag_off_and_sdks_see_it,
    revoked_and_unknown_triggers_answer_404,
    alertmanager_firing_acts_and_resolved_follows_on_resolved,
    the_secret_is_shown_once_and_nowhere_else,
    bad_input_is_refused_naming_the_field,
    viewers_list_but_may_not_create_or_revoke,
    a_trigger_used_too_often_answers_429,
    triggers_work_after_a_restart
);

const TRIGGERS: &str = "/api/v1/flags/checkout/environments/production/triggers";
const CONFIG: &str = "/api/v1/flags/checkout/environments/production";

/// `production` with the flag `checkout` turned on.
async fn setup(app: &TestApp) {
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app.post(&format!("{CONFIG}/toggle"), json!({ "enabled": true })).await.expect(200);
}

async fn create(app: &TestApp, body: Value) -> Value {
    app.post(TRIGGERS, body).await.expect(201).body
}

/// POSTs `body` (raw, as JSON when given) to a trigger's path, with no credential.
async fn fire(app: &TestApp, path: &str, body: Option<&str>) -> Reply {
    let mut request = app.client.post(format!("{}{path}", app.base));
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let res = request.send().await.expect("request sent");
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.expect("body read");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON answer") };
    Reply { status, headers, body }
}

fn path_of(trigger: &Value) -> String {
    trigger["path"].as_str().expect("a path").to_owned()
}

async fn enabled(app: &TestApp) -> bool {
    app.get(CONFIG).await.expect(200).body["enabled"].as_bool().unwrap()
}

async fn a_trigger_turns_the_flag_off_and_sdks_see_it(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    let key = sdk_key(&app, "production", "server").await;
    let auth = bearer(&key);
    let mut stream = SseReader::open(&app, "/api/v1/sdk/stream", &[("authorization", &auth)]).await;
    assert_eq!(stream.next().await.retry, Some(3000), "the stream opens with retry");
    assert_eq!(stream.next_event().await.event.as_deref(), Some("put"));

    let trigger = create(&app, json!({ "action": "off", "name": "checkout-errors" })).await;
    let path = path_of(&trigger);
    assert!(path.starts_with("/api/v1/triggers/pnn_trg_"), "{trigger}");
    assert_eq!(trigger["url"], format!("{}{path}", app.base), "the URL is the server's address and the path");
    let before = app.get(CONFIG).await.expect(200).body["version"].as_u64().unwrap();

    let fired = fire(&app, &path, None).await.expect(200);
    assert_eq!(fired.body["result"], "turned_off");
    assert_eq!(fired.body["enabled"], false);
    assert_eq!(fired.body["version"], before + 1);
    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!((config["enabled"].clone(), config["version"].clone()), (json!(false), json!(before + 1)));
    assert_eq!(config["updated_by"], "trigger:checkout-errors");

    let change = stream.next_event().await;
    assert_eq!(change.event.as_deref(), Some("patch"));
    assert_eq!(change.json()["object"]["config"]["enabled"], false, "the stream carries the change");
    let snapshot = app.call(Method::GET, "/api/v1/sdk/snapshot", None, &[("authorization", &auth)]).await;
    assert_eq!(snapshot.expect(200).body["flags"][0]["config"]["enabled"], false);

    // Already off: nothing is written, and the answer says so.
    let again = fire(&app, &path, Some("{}")).await.expect(200);
    assert_eq!((again.body["result"].clone(), again.body["version"].clone()), (json!("unchanged"), json!(before + 1)));
    assert_eq!(app.get(CONFIG).await.expect(200).body["version"], before + 1);

    let audit = app.get("/api/v1/audit?flag=checkout&actor=trigger%3Acheckout-errors").await.expect(200).body;
    let rows = audit["items"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "one change, one audit row: {audit}");
    assert_eq!(rows[0]["action"], "trigger.fire");
    assert_eq!(rows[0]["after"]["enabled"], false);
    assert_eq!(rows[0]["detail"]["trigger"], trigger["id"]);

    // An `on` trigger without a name acts as `trigger:<id>`.
    let on = create(&app, json!({ "action": "on" })).await;
    fire(&app, &path_of(&on), Some(r#"{"anything": [1, 2]}"#)).await.expect(200);
    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!(config["enabled"], true);
    assert_eq!(config["updated_by"], format!("trigger:{}", on["id"]));
}

async fn revoked_and_unknown_triggers_answer_404(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    let trigger = create(&app, json!({ "action": "off" })).await;
    let path = path_of(&trigger);
    app.delete(&format!("{TRIGGERS}/{}", trigger["id"])).await.expect(204);
    let gone = fire(&app, &path, None).await.expect(404);
    assert_eq!(gone.header("content-type"), Some("application/problem+json"));
    assert!(enabled(&app).await, "a revoked trigger changes nothing");
    app.delete(&format!("{TRIGGERS}/{}", trigger["id"])).await.expect(404);
    assert_eq!(app.get(TRIGGERS).await.expect(200).body["items"], json!([]), "revoked triggers are not listed");

    let unknown = format!("/api/v1/triggers/pnn_trg_{}", "0".repeat(64));
    fire(&app, &unknown, None).await.expect(404);
    fire(&app, "/api/v1/triggers/short", None).await.expect(404);
    fire(&app, &format!("{path}x"), None).await.expect(404);
    assert!(enabled(&app).await);
}

async fn alertmanager_firing_acts_and_resolved_follows_on_resolved(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    let notification = |status: &str| {
        json!({
            "version": "4", "status": status, "receiver": "pennon", "groupKey": "{}:{alertname=\"HighErrorRate\"}",
            "alerts": [{ "status": status, "labels": { "alertname": "HighErrorRate" }, "annotations": {},
                "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z" }]
        })
        .to_string()
    };
    let back_on = create(&app, json!({ "action": "off", "on_resolved": "on", "name": "errors" })).await;
    assert_eq!(back_on["on_resolved"], "on");
    let path = path_of(&back_on);
    let fired = fire(&app, &path, Some(&notification("firing"))).await.expect(200);
    assert_eq!(
        (fired.body["notification"].as_str(), fired.body["result"].as_str()),
        (Some("firing"), Some("turned_off"))
    );
    assert!(!enabled(&app).await);
    let resolved = fire(&app, &path, Some(&notification("resolved"))).await.expect(200);
    assert_eq!(resolved.body["result"], "turned_on");
    assert!(enabled(&app).await);

    // `on_resolved` defaults to `none`: the flag stays off until a person turns it on.
    let stays_off = create(&app, json!({ "action": "off" })).await;
    assert_eq!(stays_off["on_resolved"], "none");
    let path = path_of(&stays_off);
    fire(&app, &path, Some(&notification("firing"))).await.expect(200);
    let version = app.get(CONFIG).await.expect(200).body["version"].clone();
    let ignored = fire(&app, &path, Some(&notification("resolved"))).await.expect(200);
    assert_eq!((ignored.body["result"].as_str(), ignored.body["enabled"].as_bool()), (Some("ignored"), Some(false)));
    assert_eq!(app.get(CONFIG).await.expect(200).body["version"], version, "nothing written");
}

async fn the_secret_is_shown_once_and_nowhere_else(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    let trigger = create(&app, json!({ "action": "off", "name": "pager" })).await;
    let path = path_of(&trigger);
    let secret = path.rsplit('/').next().unwrap().to_owned();
    assert_eq!(secret.len(), "pnn_trg_".len() + 64);
    fire(&app, &path, None).await.expect(200);
    app.delete(&format!("{TRIGGERS}/{}", trigger["id"])).await.expect(204);

    let listed = app.get(TRIGGERS).await.expect(200).body.to_string();
    let created = create(&app, json!({ "action": "off" })).await;
    let listed_again = app.get(TRIGGERS).await.expect(200).body;
    assert_eq!(listed_again["items"][0]["id"], created["id"]);
    assert!(listed_again["items"][0].get("url").is_none() && listed_again["items"][0].get("path").is_none());
    let audit = app.get("/api/v1/audit?limit=500").await.expect(200).body.to_string();
    for (what, text) in [("list", &listed), ("list", &listed_again.to_string()), ("audit log", &audit)] {
        assert!(!text.contains(&secret), "the secret is in the {what}: {text}");
        assert!(!text.contains(&secret[8..]), "the secret is in the {what}: {text}");
    }
    for action in ["trigger.create", "trigger.fire", "trigger.revoke"] {
        assert!(audit.contains(action), "{action} is audited: {audit}");
    }
}

async fn bad_input_is_refused_naming_the_field(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    for (body, field) in [
        (json!({ "action": "sideways" }), "action"),
        (json!({ "action": "off", "on_resolved": "maybe" }), "on_resolved"),
        (json!({ "action": "off", "name": "   " }), "name"),
        (json!({ "action": "off", "name": "a\u{7}b" }), "name"),
    ] {
        let reply = app.post(TRIGGERS, body.clone()).await;
        assert!(matches!(reply.status.as_u16(), 400 | 422), "{body}: {}", reply.status);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
        let named = reply.body["field"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| reply.body["errors"][0]["path"].as_str().map(str::to_owned));
        assert_eq!(named.as_deref(), Some(field), "{body}: {}", reply.body);
    }
    app.post(TRIGGERS, json!({})).await.expect(400);
    app.post("/api/v1/flags/missing/environments/production/triggers", json!({ "action": "off" })).await.expect(404);
    app.post("/api/v1/flags/checkout/environments/missing/triggers", json!({ "action": "off" })).await.expect(404);
    assert_eq!(app.get(TRIGGERS).await.expect(200).body["items"], json!([]), "nothing was created");

    let path = path_of(&create(&app, json!({ "action": "off" })).await);
    for (body, field) in [
        ("not json", None),
        (r#"{"version": "4", "status": "pending", "alerts": []}"#, Some("status")),
        (r#"{"version": "3", "status": "firing", "alerts": []}"#, Some("version")),
        (r#"{"version": "4", "status": "firing", "alerts": "many"}"#, Some("alerts")),
    ] {
        let reply = fire(&app, &path, Some(body)).await.expect(400);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
        assert_eq!(reply.body["field"].as_str(), field, "{body}: {}", reply.body);
    }
    let too_large = format!(r#"{{"padding": "{}"}}"#, "x".repeat(app.config.trigger_max_body_bytes));
    fire(&app, &path, Some(&too_large)).await.expect(413);
    assert!(enabled(&app).await, "no bad request changed the flag");
}

async fn viewers_list_but_may_not_create_or_revoke(db: Db) {
    let app = TestApp::spawn(db).await;
    setup(&app).await;
    let trigger = create(&app, json!({ "action": "off" })).await;
    let user = json!({ "email": "viewer@pennon.test", "password": "reads-only-flags-42", "role": "viewer" });
    app.post("/api/v1/users", user).await.expect(201);
    let viewer = bearer(&app.login("viewer@pennon.test", "reads-only-flags-42").await);
    let as_viewer = [("authorization", viewer.as_str())];
    let listed = app.call(Method::GET, TRIGGERS, None, &as_viewer).await.expect(200);
    assert_eq!(listed.body["items"][0]["id"], trigger["id"]);
    let created = app.call(Method::POST, TRIGGERS, Some(json!({ "action": "off" })), &as_viewer).await.expect(403);
    assert_eq!(created.header("content-type"), Some("application/problem+json"));
    let revoke = format!("{TRIGGERS}/{}", trigger["id"]);
    app.call(Method::DELETE, &revoke, None, &as_viewer).await.expect(403);
    app.call(Method::POST, TRIGGERS, Some(json!({ "action": "off" })), &[("authorization", "")]).await.expect(401);
    assert_eq!(app.get(TRIGGERS).await.expect(200).body["items"].as_array().unwrap().len(), 1, "nothing changed");
}

async fn a_trigger_used_too_often_answers_429(db: Db) {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.trigger_rate_limit = 2;
    let app = TestApp::spawn_with(database, config).await;
    setup(&app).await;
    let (off, on) = (create(&app, json!({ "action": "off" })).await, create(&app, json!({ "action": "on" })).await);
    let (off, on) = (path_of(&off), path_of(&on));
    assert_eq!(fire(&app, &off, None).await.expect(200).body["result"], "turned_off");
    assert_eq!(fire(&app, &off, None).await.expect(200).body["result"], "unchanged");
    let refused = fire(&app, &off, None).await.expect(429);
    assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    let wait: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // Another trigger has its own count.
    assert_eq!(fire(&app, &on, None).await.expect(200).body["result"], "turned_on");
    fire(&app, &on, None).await.expect(200);
    fire(&app, &on, None).await.expect(429);
    assert!(enabled(&app).await, "a refused POST changes nothing");
}

async fn triggers_work_after_a_restart(db: Db) {
    let mut app = TestApp::spawn(db).await;
    setup(&app).await;
    let (kept, revoked) =
        (create(&app, json!({ "action": "off" })).await, create(&app, json!({ "action": "off" })).await);
    app.delete(&format!("{TRIGGERS}/{}", revoked["id"])).await.expect(204);
    app.restart().await;
    fire(&app, &path_of(&revoked), None).await.expect(404);
    assert_eq!(fire(&app, &path_of(&kept), None).await.expect(200).body["result"], "turned_off");
}
