//! Outgoing webhooks against a real receiver on 127.0.0.1: signed deliveries of the audited changes a hook's
//! filters select, in order per hook, retried with the same delivery id until the receiver takes them, kept
//! across a restart; hooks failing for good are disabled.

use std::time::Duration;

use pennon_server::app::config::ServeConfig;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{ADMIN_EMAIL, Db, TestApp, TestDatabase};
use crate::webhook_receiver::{Log, Received, Receiver, verifies};

both!(
    deliveries_are_signed_and_describe_the_change,
    filters_select_what_each_hook_receives,
    a_receiver_that_fails_gets_every_delivery_in_order_when_it_returns,
    a_receiver_not_listening_gets_the_delivery_once_it_listens,
    queued_deliveries_survive_a_restart,
    a_hook_failing_at_the_maximum_age_is_disabled,
    a_hook_failing_again_and_again_is_disabled,
);

/// Settings that make retries quick.
pub(crate) fn quick(config: &mut ServeConfig) {
    config.webhook_tick = Duration::from_millis(20);
    config.webhook_backoff_base = Duration::from_millis(10);
    config.webhook_backoff_cap = Duration::from_millis(40);
    config.webhook_timeout = Duration::from_secs(2);
}

pub(crate) async fn app_with(db: Db, settings: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    quick(&mut config);
    settings(&mut config);
    TestApp::spawn_with(database, config).await
}

pub(crate) async fn hook(app: &TestApp, body: Value) -> Value {
    app.post("/api/v1/webhooks", body).await.expect(201).body
}

pub(crate) async fn flag(app: &TestApp, key: &str, tags: &[&str]) {
    app.post("/api/v1/flags", json!({ "key": key, "kind": "boolean", "tags": tags })).await.expect(201);
}

pub(crate) async fn toggle(app: &TestApp, flag: &str, env: &str, enabled: bool) {
    let path = format!("/api/v1/flags/{flag}/environments/{env}/toggle");
    app.post(&path, json!({ "enabled": enabled })).await.expect(200);
}

pub(crate) async fn deliveries(app: &TestApp, hook: &Value) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/webhooks/{}/deliveries", hook["id"])).await.expect(200);
    reply.body["items"].as_array().unwrap().clone()
}

/// Waits until the hook's delivery log satisfies `done`.
pub(crate) async fn wait_log(app: &TestApp, hook: &Value, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..1500 {
        let log = deliveries(app, hook).await;
        if done(&log) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the delivery log never got there: {:#?}", deliveries(app, hook).await);
}

async fn deliveries_are_signed_and_describe_the_change(db: Db) {
    let receiver = Receiver::start().await;
    let app = app_with(db, |_| {}).await;
    app.environment("production").await;
    flag(&app, "checkout-v2", &[]).await;
    let created = hook(&app, json!({ "url": receiver.url("/pennon"), "actions": ["config.toggle"] })).await;
    let secret = created["secret"].as_str().expect("a generated secret").to_owned();
    assert!(secret.len() >= 32, "{created}");
    let slack = hook(
        &app,
        json!({ "url": receiver.url("/slack"), "format": "slack", "actions": ["config.*"],
        "secret": "a-secret-of-our-own" }),
    )
    .await;
    assert_eq!(slack["secret"], "a-secret-of-our-own");

    toggle(&app, "checkout-v2", "production", true).await;
    toggle(&app, "checkout-v2", "production", false).await;
    let got = receiver.wait_for("four deliveries", |r| r.len() >= 4).await;

    let pennon: Vec<_> = got.iter().filter(|r| r.path == "/pennon").collect();
    assert_eq!(pennon.len(), 2, "{got:#?}");
    for r in &pennon {
        assert!(verifies(&secret, r), "signature does not verify: {r:#?}");
        assert!(!verifies("another-secret", r));
        assert_eq!(r.json()["delivery"], r.delivery.as_str());
    }
    let off = pennon[1].json();
    assert_eq!(off["summary"], format!("{ADMIN_EMAIL} turned checkout-v2 off in production"));
    assert_eq!(pennon[0].json()["summary"], format!("{ADMIN_EMAIL} turned checkout-v2 on in production"));
    let audit = &off["audit"];
    assert_eq!(audit["action"], "config.toggle");
    assert_eq!(audit["actor"], format!("user:{ADMIN_EMAIL}"));
    assert_eq!(audit["flag"], "checkout-v2");
    assert_eq!(audit["environment"], "production");
    assert_eq!(audit["before"]["enabled"], true);
    assert_eq!(audit["after"]["enabled"], false);
    // The row as the audit API shows it.
    let listed = app.get("/api/v1/audit?flag=checkout-v2").await.expect(200).body;
    let shown = listed["items"].as_array().unwrap().iter().find(|e| e["id"] == audit["id"]).expect("in the log");
    assert_eq!(shown, audit);

    let slack: Vec<_> = got.iter().filter(|r| r.path == "/slack").collect();
    assert_eq!(slack.len(), 2);
    assert!(verifies("a-secret-of-our-own", slack[1]));
    assert_eq!(slack[1].json(), json!({ "text": format!("{ADMIN_EMAIL} turned checkout-v2 off in production") }));

    // The log shows them delivered; the secret is never shown again, nor audited.
    let log = wait_log(&app, &created, |l| l.len() == 2 && l.iter().all(|d| d["status"] == "delivered")).await;
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["last_status"], 200);
    let one = app.get(&format!("/api/v1/webhooks/{}", created["id"])).await.expect(200).body;
    let all = app.get("/api/v1/webhooks").await.expect(200).body;
    let trail = app.get("/api/v1/audit").await.expect(200).body;
    for shown in [one, all, trail] {
        assert!(!shown.to_string().contains(&secret), "secret shown: {shown}");
        assert!(!shown.to_string().contains("a-secret-of-our-own"), "secret shown: {shown}");
    }
    let created_rows = app.state().store.count_audit("webhook.create").await.unwrap();
    assert_eq!(created_rows, 2);

    // Pruning the log takes what was delivered and leaves what waits.
    receiver.answer(500);
    app.post(&format!("/api/v1/webhooks/{}/test", created["id"]), json!({})).await.expect(202);
    let store = &app.state().store;
    let pruned = store.prune_deliveries(pennon_server::store::now_millis() + 1000, 100).await.unwrap();
    assert_eq!(pruned, 4);
    let left = deliveries(&app, &created).await;
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0]["action"], "webhook.test");
}

async fn filters_select_what_each_hook_receives(db: Db) {
    let receiver = Receiver::start().await;
    let app = app_with(db, |_| {}).await;
    app.environment("production").await;
    app.environment("staging").await;
    flag(&app, "web-flag", &["web"]).await;
    flag(&app, "api-flag", &["api"]).await;
    let hooks = [
        ("staging", json!({ "environments": ["staging"] })),
        ("api-flag", json!({ "flags": ["api-flag"] })),
        ("web-tag", json!({ "tags": ["web"], "actions": ["config.toggle"] })),
        ("created", json!({ "actions": ["flag.create"] })),
    ];
    let mut ids = Vec::new();
    for (name, mut filter) in hooks {
        filter["url"] = json!(receiver.url(&format!("/{name}")));
        ids.push((name, hook(&app, filter).await));
    }
    flag(&app, "new-flag", &[]).await;
    toggle(&app, "web-flag", "production", true).await;
    toggle(&app, "api-flag", "production", true).await;
    toggle(&app, "web-flag", "staging", true).await;
    // A test event closes each hook's stream: deliveries arrive in order, so what came before it is all.
    for (_, h) in &ids {
        app.post(&format!("/api/v1/webhooks/{}/test", h["id"]), json!({})).await.expect(202);
    }
    let got = receiver.wait_for("a test event on every hook", |r| {
        r.iter().filter(|r| r.json()["action"] == "webhook.test").count() == 4
    });
    let got = got.await;
    let seen = |path: &str| -> Vec<(String, Option<String>, Option<String>)> {
        got.iter()
            .filter(|r| r.path == path && r.json()["action"] != "webhook.test")
            .map(|r| {
                let a = r.json()["audit"].clone();
                (
                    a["action"].as_str().unwrap().to_owned(),
                    a["flag"].as_str().map(str::to_owned),
                    a["environment"].as_str().map(str::to_owned),
                )
            })
            .collect()
    };
    let t = |a: &str, f: &str, e: &str| (a.to_owned(), Some(f.to_owned()), Some(e.to_owned()));
    assert_eq!(seen("/staging"), vec![t("config.toggle", "web-flag", "staging")]);
    assert_eq!(seen("/api-flag"), vec![t("config.toggle", "api-flag", "production")]);
    assert_eq!(
        seen("/web-tag"),
        vec![t("config.toggle", "web-flag", "production"), t("config.toggle", "web-flag", "staging")]
    );
    assert_eq!(seen("/created"), vec![("flag.create".to_owned(), Some("new-flag".to_owned()), None)]);
    // The test event is last on each hook and says what it is.
    let test = got.iter().find(|r| r.path == "/created" && r.json()["action"] == "webhook.test").unwrap();
    assert!(test.json()["audit"].is_null());
    assert!(test.json()["summary"].as_str().unwrap().contains("Test event"));
}

async fn a_receiver_that_fails_gets_every_delivery_in_order_when_it_returns(db: Db) {
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let app = app_with(db, |_| {}).await;
    app.environment("production").await;
    flag(&app, "checkout", &[]).await;
    let h = hook(&app, json!({ "url": receiver.url("/"), "actions": ["config.toggle"] })).await;
    for enabled in [true, false, true] {
        toggle(&app, "checkout", "production", enabled).await;
    }
    // The first delivery is retried, and the others wait behind it.
    let failing = receiver.wait_for("three attempts", |r| r.len() >= 3).await;
    let first = failing[0].delivery.clone();
    assert!(failing.iter().all(|r| r.delivery == first), "a later delivery jumped the queue: {failing:#?}");
    let log = deliveries(&app, &h).await;
    let head = log.iter().find(|d| d["delivery_id"] == first.as_str()).expect("in the log");
    assert_eq!(head["status"], "pending");
    assert_eq!(head["last_status"], 500);
    assert!(head["next_attempt_at"].is_string());
    let pending = app.get(&format!("/api/v1/webhooks/{}/deliveries?status=pending", h["id"])).await.expect(200);
    assert_eq!(pending.body["items"].as_array().unwrap().len(), 3);

    receiver.answer(204);
    let log = wait_log(&app, &h, |l| l.len() == 3 && l.iter().all(|d| d["status"] == "delivered")).await;
    let got = receiver.received();
    // Each delivery once accepted, in the order of the changes.
    let mut accepted: Vec<&Received> = Vec::new();
    for r in &got {
        if accepted.last().is_none_or(|last| last.delivery != r.delivery) {
            accepted.push(r);
        }
    }
    let order: Vec<_> = accepted.iter().map(|r| r.json()["audit"]["after"]["enabled"].as_bool().unwrap()).collect();
    assert_eq!(order, vec![true, false, true], "{got:#?}");
    let ids: Vec<_> = accepted.iter().map(|r| r.delivery.clone()).collect();
    let mut logged: Vec<_> = log.iter().map(|d| d["delivery_id"].as_str().unwrap().to_owned()).collect();
    logged.reverse();
    assert_eq!(ids, logged);
    assert!(log.iter().any(|d| d["attempts"].as_i64().unwrap() >= 3));
    let hook_now = app.get(&format!("/api/v1/webhooks/{}", h["id"])).await.expect(200).body;
    assert_eq!(hook_now["enabled"], true);
    assert_eq!(hook_now["failures"], 0);
}

async fn a_receiver_not_listening_gets_the_delivery_once_it_listens(db: Db) {
    let placeholder = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = placeholder.local_addr().unwrap();
    drop(placeholder);
    let app = app_with(db, |_| {}).await;
    let h = hook(&app, json!({ "url": format!("http://{addr}/hook"), "actions": ["webhook.test"] })).await;
    app.post(&format!("/api/v1/webhooks/{}/test", h["id"]), json!({})).await.expect(202);
    let log = wait_log(&app, &h, |l| l.iter().any(|d| d["attempts"].as_i64().unwrap() >= 2)).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let test = &log[0];
    assert_eq!(test["action"], "webhook.test");
    assert_eq!(test["status"], "pending");
    assert!(test["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{test}");

    let receiver = Receiver::start_on(addr, Log::default()).await;
    let got = receiver.wait_for("the test event", |r| r.iter().any(|r| r.json()["action"] == "webhook.test")).await;
    let delivered = got.iter().find(|r| r.json()["action"] == "webhook.test").unwrap();
    assert_eq!(delivered.delivery, test["delivery_id"].as_str().unwrap());
    wait_log(&app, &h, |l| l.iter().all(|d| d["status"] == "delivered")).await;
}

async fn queued_deliveries_survive_a_restart(db: Db) {
    let receiver = Receiver::start().await;
    receiver.answer(503);
    let mut app = app_with(db, |_| {}).await;
    app.environment("production").await;
    flag(&app, "checkout", &[]).await;
    let h = hook(&app, json!({ "url": receiver.url("/"), "flags": ["checkout"] })).await;
    toggle(&app, "checkout", "production", true).await;
    let refused = receiver.wait_for("an attempt", |r| !r.is_empty()).await;
    let id = refused[0].delivery.clone();

    app.restart().await;
    receiver.answer(200);
    wait_log(&app, &h, |l| l.len() == 1 && l[0]["status"] == "delivered").await;
    let got = receiver.received();
    assert!(got.iter().all(|r| r.delivery == id), "{got:#?}");
    assert_eq!(got.last().unwrap().json()["audit"]["action"], "config.toggle");
}

async fn a_hook_failing_at_the_maximum_age_is_disabled(db: Db) {
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let app = app_with(db, |c| c.webhook_max_age = Duration::from_millis(300)).await;
    let h = hook(&app, json!({ "url": receiver.url("/") })).await;
    app.post(&format!("/api/v1/webhooks/{}/test", h["id"]), json!({})).await.expect(202);
    let log = wait_log(&app, &h, |l| l.iter().any(|d| d["status"] == "failed")).await;
    let failed = log.iter().find(|d| d["status"] == "failed").unwrap();
    assert!(failed["next_attempt_at"].is_null());
    assert!(failed["attempts"].as_i64().unwrap() >= 1);
    // The hook is disabled just after the delivery is marked failed.
    let mut disabled = false;
    for _ in 0..1500 {
        let hook_now = app.get(&format!("/api/v1/webhooks/{}", h["id"])).await.expect(200).body;
        disabled = hook_now["enabled"] == false;
        if disabled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(disabled, "the hook stays enabled");
    let trail = app.get("/api/v1/audit?actor=system:webhooks").await.expect(200).body;
    let rows = trail["items"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{trail}");
    assert_eq!(rows[0]["action"], "webhook.disable");
    assert_eq!(rows[0]["after"]["enabled"], false);
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("webhook_deliveries_failed_total 1"), "{metrics}");
    assert!(metrics.contains("webhook_attempts_total{outcome=\"gave_up\"} 1"), "{metrics}");

    // Enabled again, it starts from no failures.
    let again = app.patch(&format!("/api/v1/webhooks/{}", h["id"]), json!({ "enabled": true })).await.expect(200);
    assert_eq!(again.body["enabled"], true);
    assert_eq!(again.body["failures"], 0);
}

async fn a_hook_failing_again_and_again_is_disabled(db: Db) {
    let receiver = Receiver::start().await;
    receiver.answer(502);
    let app = app_with(db, |c| c.webhook_disable_after = 3).await;
    let h = hook(&app, json!({ "url": receiver.url("/") })).await;
    let mut trail = Value::Null;
    for _ in 0..1500 {
        trail = app.get("/api/v1/audit?actor=system:webhooks").await.expect(200).body;
        if !trail["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = trail["items"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{trail}");
    assert_eq!(rows[0]["action"], "webhook.disable");
    assert_eq!(rows[0]["detail"]["reason"], "3 failed attempts in a row");
    let hook_now = app.get(&format!("/api/v1/webhooks/{}", h["id"])).await.expect(200).body;
    assert_eq!(hook_now["enabled"], false);
    assert_eq!(hook_now["failures"], 3);
    // Nothing more is sent to a disabled hook, and what it had waits, pending.
    let attempts = receiver.received().len();
    assert_eq!(attempts, 3);
    let log = deliveries(&app, &h).await;
    assert!(log.iter().all(|d| d["status"] == "pending"), "{log:#?}");
}

/// Two replicas on one PostgreSQL database, changes made through both: the replica holding the webhook lock
/// sends, and each change reaches the receiver once, in the order of the changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_change_once() {
    let receiver = Receiver::start().await;
    let app = app_with(Db::Postgres, |_| {}).await;
    let mut second = app.config.clone();
    second.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let other = pennon_server::app::startup::spawn(second).await.expect("a second replica starts");
    app.environment("production").await;
    flag(&app, "checkout", &[]).await;
    let _hook = hook(&app, json!({ "url": receiver.url("/"), "flags": ["checkout"] })).await;
    for i in 0..10 {
        let base = if i % 2 == 0 { app.base.clone() } else { format!("http://{}", other.addr) };
        let url = format!("{base}/api/v1/flags/checkout/environments/production/toggle");
        let res = app.client.post(url).bearer_auth(&app.admin_token).json(&json!({ "enabled": i % 2 == 0 })).send();
        assert_eq!(res.await.expect("sent").status(), 200, "toggle {i}");
    }
    let got = receiver.wait_for("ten deliveries", |r| r.len() >= 10).await;
    // Time for a second sender, if there were one, to send again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if receiver.received().len() > got.len() { receiver.received() } else { got };
    assert_eq!(got.len(), 10, "each change delivered once: {got:#?}");
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.delivery.as_str()).collect();
    assert_eq!(ids.len(), 10, "ten distinct deliveries");
    let audit_ids: Vec<i64> = got.iter().map(|r| r.json()["audit"]["id"].as_i64().expect("an audit id")).collect();
    assert!(audit_ids.windows(2).all(|w| w[0] < w[1]), "in the order of the changes: {audit_ids:?}");
    other.shutdown().await;
}
