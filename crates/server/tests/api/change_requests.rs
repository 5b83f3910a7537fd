//! Change requests: in an environment that requires approvals, an editor's config change waits for others'
//! approvals; the last one applies it as an ordinary versioned, audited change that SDKs receive.

use pennon_server::app::config::ServeConfig;
use pennon_server::store::AuditFilter;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, Reply, TestApp, TestDatabase};
use crate::sse::{bearer, sdk_key};

both!(
    an_editors_change_waits_for_another_to_approve_it,
    two_approvals_rejection_and_cancellation,
    a_stale_request_is_rebased_before_it_is_approved,
    admins_bypass_with_a_reason,
    bypass_refused_when_the_server_forbids_it,
);

const CONFIG: &str = "/api/v1/flags/checkout/environments/production";
const REQUESTS: &str = "/api/v1/change-requests";
const PASSWORD: &str = "change-request-password";

/// A signed-in user with a role, as an `Authorization` value.
async fn user(app: &TestApp, name: &str, role: &str) -> String {
    let email = format!("{name}@pennon.test");
    app.post("/api/v1/users", json!({ "email": email, "password": PASSWORD, "role": role })).await.expect(201);
    bearer(&app.login(&email, PASSWORD).await)
}

/// A server with `production` requiring `approvals` approvals, the flag `checkout`, and an unprotected
/// `staging`.
async fn protected(app: &TestApp, approvals: u32) {
    app.environment("production").await;
    app.environment("staging").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    let env = app.patch("/api/v1/environments/production", json!({ "approvals_required": approvals })).await;
    assert_eq!(env.expect(200).body["approvals_required"], approvals);
}

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
    app.call(method, path, body, headers).await
}

async fn config(app: &TestApp) -> Value {
    app.get(CONFIG).await.expect(200).body
}

/// `checkout`'s config as an SDK with a server key of production receives it.
async fn sdk_config(app: &TestApp, key: &str) -> Value {
    let auth = bearer(key);
    let snapshot = send(app, Method::GET, "/api/v1/sdk/snapshot", None, &[("authorization", &auth)]).await.expect(200);
    let flags = snapshot.body["flags"].as_array().unwrap().clone();
    flags.into_iter().find(|f| f["definition"]["key"] == "checkout").expect("checkout is delivered")["config"].clone()
}

async fn audit(app: &TestApp) -> Vec<pennon_server::store::AuditEntry> {
    let filter = AuditFilter { flag: Some("checkout".into()), limit: 500, ..AuditFilter::default() };
    app.state().store.list_audit(&filter).await.unwrap()
}

fn assert_problem(reply: &Reply, status: u16) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
}

async fn an_editors_change_waits_for_another_to_approve_it(db: Db) {
    let app = TestApp::spawn(db).await;
    protected(&app, 1).await;
    let (ann, bob, vic) =
        (user(&app, "ann", "editor").await, user(&app, "bob", "editor").await, user(&app, "vic", "viewer").await);
    let key = sdk_key(&app, "production", "server").await;
    assert_eq!(sdk_config(&app, &key).await["enabled"], false);

    let toggle = format!("{CONFIG}/toggle");
    let on = Some(json!({ "enabled": true }));
    let headers = [("authorization", ann.as_str()), ("x-pennon-comment", "launch day")];
    let asked = send(&app, Method::POST, &toggle, on.clone(), &headers).await.expect(202);
    let id = asked.body["id"].as_i64().unwrap();
    assert_eq!(asked.header("location"), Some(format!("{REQUESTS}/{id}").as_str()));
    assert_eq!(asked.body["state"], "pending");
    assert_eq!(asked.body["action"], "config.toggle");
    assert_eq!(asked.body["author"], "user:ann@pennon.test");
    assert_eq!(asked.body["comment"], "launch day");
    assert_eq!(asked.body["base_version"], 1);
    assert_eq!(asked.body["proposed"]["enabled"], true);
    assert_eq!(asked.body["diff"], json!([{ "field": "enabled", "before": false, "after": true }]));

    // Nothing changed: not the config, not what SDKs receive.
    let unchanged = config(&app).await;
    assert_eq!((unchanged["version"].as_u64(), unchanged["enabled"].as_bool()), (Some(1), Some(false)));
    assert_eq!(sdk_config(&app, &key).await["enabled"], false);
    let listed = app.get(&format!("{REQUESTS}?environment=production&state=pending")).await.expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["id"], id);
    let got = send(&app, Method::GET, &format!("{REQUESTS}/{id}"), None, &[("authorization", &vic)]).await;
    assert_eq!(got.expect(200).body["diff"][0]["field"], "enabled");

    // The author cannot approve their own request; a viewer can neither change nor approve.
    let approve = format!("{REQUESTS}/{id}/approve");
    assert_problem(&send(&app, Method::POST, &approve, None, &[("authorization", &ann)]).await, 403);
    assert_problem(&send(&app, Method::POST, &approve, None, &[("authorization", &vic)]).await, 403);
    assert_problem(&send(&app, Method::POST, &toggle, on, &[("authorization", &vic)]).await, 403);
    assert_eq!(config(&app).await["version"], 1);

    // Another editor's approval applies it: version + 1, audited with both, delivered to SDKs.
    let approved = send(&app, Method::POST, &approve, None, &[("authorization", &bob)]).await.expect(200);
    assert_eq!(approved.body["state"], "applied");
    assert_eq!(approved.body["applied_version"], 2);
    assert_eq!(approved.body["approvals"][0]["actor"], "user:bob@pennon.test");
    let applied = config(&app).await;
    assert_eq!((applied["version"].as_u64(), applied["enabled"].as_bool()), (Some(2), Some(true)));
    assert_eq!(sdk_config(&app, &key).await["enabled"], true);
    let rows = audit(&app).await;
    let row = rows.iter().find(|r| r.action == "config.toggle").expect("the change is audited");
    assert_eq!(row.actor, "user:bob@pennon.test");
    assert_eq!(row.version, Some(2));
    let detail = &row.detail.as_ref().unwrap()["change_request"];
    assert_eq!(detail["author"], "user:ann@pennon.test");
    assert_eq!(detail["approvers"], json!(["user:bob@pennon.test"]));
    assert!(rows.iter().any(|r| r.action == "change_request.create" && r.actor == "user:ann@pennon.test"));
    let history = app.get(&format!("{CONFIG}/history")).await.expect(200);
    assert_eq!(history.body["items"][0]["action"], "config.toggle");

    // Once applied, it stays so.
    assert_problem(&send(&app, Method::POST, &approve, None, &[("authorization", &bob)]).await, 409);
    assert_eq!(config(&app).await["version"], 2);

    // Unprotected environments are as before: the change applies at once.
    let staging = "/api/v1/flags/checkout/environments/staging/toggle";
    let direct = send(&app, Method::POST, staging, None, &[("authorization", &ann)]).await.expect(200);
    assert_eq!((direct.body["version"].as_u64(), direct.body["enabled"].as_bool()), (Some(2), Some(true)));
}

async fn two_approvals_rejection_and_cancellation(db: Db) {
    let app = TestApp::spawn(db).await;
    protected(&app, 2).await;
    let (ann, bob) = (user(&app, "ann", "editor").await, user(&app, "bob", "editor").await);
    let default = format!("{CONFIG}/default");
    let body = Some(json!({ "variant": "on" }));
    let asked = send(&app, Method::PUT, &default, body.clone(), &[("authorization", &ann)]).await.expect(202);
    let approve = format!("{REQUESTS}/{}/approve", asked.body["id"]);

    let one = send(&app, Method::POST, &approve, None, &[("authorization", &bob)]).await.expect(200);
    assert_eq!((one.body["state"].as_str(), one.body["approvals_required"].as_u64()), (Some("pending"), Some(2)));
    assert_eq!(config(&app).await["version"], 1, "one approval of two applies nothing");
    assert_problem(&send(&app, Method::POST, &approve, None, &[("authorization", &bob)]).await, 409);
    let two = app.call(Method::POST, &approve, None, &[]).await;
    assert_eq!(two.expect(200).body["state"], "applied");
    let applied = config(&app).await;
    assert_eq!((applied["version"].as_u64(), applied["default"].clone()), (Some(2), json!({ "variant": "on" })));

    // A rejected request is never applied.
    let off = Some(json!({ "variant": "off" }));
    let asked = send(&app, Method::PUT, &default, off.clone(), &[("authorization", &ann)]).await.expect(202);
    let id = asked.body["id"].as_i64().unwrap();
    let reject = format!("{REQUESTS}/{id}/reject");
    let as_bob = [("authorization", bob.as_str())];
    let no_reason = send(&app, Method::POST, &reject, Some(json!({ "comment": " " })), &as_bob).await;
    assert_problem(&no_reason, 400);
    assert_eq!(no_reason.body["field"], "comment");
    let rejected =
        send(&app, Method::POST, &reject, Some(json!({ "comment": "not today" })), &[("authorization", &bob)]).await;
    let rejected = rejected.expect(200);
    assert_eq!(
        (rejected.body["state"].as_str(), rejected.body["reason"].as_str()),
        (Some("rejected"), Some("not today"))
    );
    for who in [&bob, &ann] {
        let path = format!("{REQUESTS}/{id}/approve");
        let reply = send(&app, Method::POST, &path, None, &[("authorization", who)]).await;
        assert!(matches!(reply.status.as_u16(), 403 | 409), "{}", reply.body);
    }
    app.call(Method::POST, &format!("{REQUESTS}/{id}/approve"), None, &[]).await.expect(409);
    assert_eq!(config(&app).await["version"], 2);
    let listed = app.get(&format!("{REQUESTS}?flag=checkout&state=rejected")).await.expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    // Cancelling is for the author (or an admin).
    let asked = send(&app, Method::PUT, &default, off, &[("authorization", &ann)]).await.expect(202);
    let request = format!("{REQUESTS}/{}", asked.body["id"]);
    assert_problem(&send(&app, Method::DELETE, &request, None, &[("authorization", &bob)]).await, 403);
    let cancelled = send(&app, Method::DELETE, &request, None, &[("authorization", &ann)]).await.expect(200);
    assert_eq!(cancelled.body["state"], "cancelled");
    assert_eq!(config(&app).await["version"], 2);
    assert_eq!(app.get(&format!("{REQUESTS}?state=whatever")).await.expect(400).body["field"], "state");
}

async fn a_stale_request_is_rebased_before_it_is_approved(db: Db) {
    let app = TestApp::spawn(db).await;
    protected(&app, 1).await;
    let (ann, bob) = (user(&app, "ann", "editor").await, user(&app, "bob", "editor").await);
    let rule = json!({ "id": "pro", "conditions": [{ "attribute": "plan", "operator": "eq", "values": ["pro"] }],
        "serve": { "variant": "on" } });
    let asked =
        send(&app, Method::POST, &format!("{CONFIG}/rules"), Some(rule), &[("authorization", &ann)]).await.expect(202);
    let id = asked.body["id"].as_i64().unwrap();
    // Meanwhile the config changes (an admin's bypass).
    let reason = [("x-pennon-bypass-reason", "incident 42")];
    app.call(Method::PUT, &format!("{CONFIG}/default"), Some(json!({ "variant": "on" })), &reason).await.expect(200);

    let request = format!("{REQUESTS}/{id}");
    assert_eq!(app.get(&request).await.expect(200).body["state"], "stale");
    let stale = app.get(&format!("{REQUESTS}?state=stale")).await.expect(200);
    assert_eq!(stale.body["items"][0]["id"], id);
    let approve = format!("{request}/approve");
    assert_problem(&send(&app, Method::POST, &approve, None, &[("authorization", &bob)]).await, 409);
    assert_eq!(config(&app).await["version"], 2);
    assert_eq!(config(&app).await["rules"], json!([]));

    // Only the author rebases; then it can be approved, and carries both changes.
    let rebase = format!("{request}/rebase");
    assert_problem(&send(&app, Method::POST, &rebase, None, &[("authorization", &bob)]).await, 403);
    let rebased = send(&app, Method::POST, &rebase, None, &[("authorization", &ann)]).await.expect(200);
    assert_eq!((rebased.body["state"].as_str(), rebased.body["base_version"].as_u64()), (Some("pending"), Some(2)));
    assert_eq!(rebased.body["diff"][0]["field"], "rules");
    assert_problem(&send(&app, Method::POST, &rebase, None, &[("authorization", &ann)]).await, 409);
    send(&app, Method::POST, &approve, None, &[("authorization", &bob)]).await.expect(200);
    let applied = config(&app).await;
    assert_eq!(applied["version"], 3);
    assert_eq!(applied["rules"][0]["id"], "pro");
    assert_eq!(applied["default"], json!({ "variant": "on" }));

    // A change whose field was changed differently meanwhile cannot be rebased.
    let targets = format!("{CONFIG}/targets");
    let mine = json!({ "targets": [{ "variant": "on", "keys": ["u1"] }] });
    let asked = send(&app, Method::PUT, &targets, Some(mine), &[("authorization", &ann)]).await.expect(202);
    let theirs = json!({ "targets": [{ "variant": "off", "keys": ["u2"] }] });
    app.call(Method::PUT, &targets, Some(theirs), &reason).await.expect(200);
    let rebase = format!("{REQUESTS}/{}/rebase", asked.body["id"]);
    assert_problem(&send(&app, Method::POST, &rebase, None, &[("authorization", &ann)]).await, 409);
    assert_eq!(config(&app).await["targets"][0]["variant"], "off");
}

async fn admins_bypass_with_a_reason(db: Db) {
    let app = TestApp::spawn(db).await;
    protected(&app, 1).await;
    let ann = user(&app, "ann", "editor").await;
    let toggle = format!("{CONFIG}/toggle");

    // With a reason: at once, and the audit row keeps the reason.
    let reason = [("x-pennon-bypass-reason", "incident 42")];
    let applied = app.call(Method::POST, &toggle, Some(json!({ "enabled": true })), &reason).await.expect(200);
    assert_eq!(applied.body["version"], 2);
    let rows = audit(&app).await;
    let row = rows.iter().find(|r| r.action == "config.toggle").expect("audited");
    assert_eq!(row.detail.as_ref().unwrap()["approval_bypass"]["reason"], "incident 42");
    assert_eq!(row.actor, "user:admin@pennon.test");

    // Without one, an admin's change waits too; an editor may not bypass.
    app.call(Method::POST, &toggle, None, &[]).await.expect(202);
    let editor = [("authorization", ann.as_str()), ("x-pennon-bypass-reason", "me too")];
    assert_problem(&send(&app, Method::POST, &toggle, None, &editor).await, 403);
    let empty = [("x-pennon-bypass-reason", " ")];
    assert_eq!(app.call(Method::POST, &toggle, None, &empty).await.expect(400).body["field"], "x-pennon-bypass-reason");
    assert_eq!(config(&app).await["version"], 2);

    // An invalid change is refused as it would be, and no request is kept.
    let path = format!("{CONFIG}/default");
    let bad = send(&app, Method::PUT, &path, Some(json!({ "variant": "nope" })), &editor[..1]).await;
    assert_problem(&bad, 422);
    assert_eq!(bad.body["field"], "default.variant");
    let open = app.get(&format!("{REQUESTS}?environment=production&state=pending")).await.expect(200);
    assert_eq!(open.body["items"].as_array().unwrap().len(), 1, "the admin's request only");

    // Approvals required: admins only, within the server's bound.
    let off = Some(json!({ "approvals_required": 0 }));
    let env = "/api/v1/environments/production";
    assert_problem(&send(&app, Method::PATCH, env, off, &editor[..1]).await, 403);
    let too_many = app.patch(env, json!({ "approvals_required": 11 })).await.expect(422);
    assert_eq!(too_many.body["field"], "approvals_required");
    app.patch(env, json!({ "approvals_required": 0 })).await.expect(200);
    assert!(audit_env(&app).await.iter().any(|r| r.after.as_ref().unwrap()["approvals_required"] == 0));
    send(&app, Method::POST, &toggle, None, &editor[..1]).await.expect(200);
}

async fn audit_env(app: &TestApp) -> Vec<pennon_server::store::AuditEntry> {
    let filter = AuditFilter { environment: Some("production".into()), limit: 500, ..AuditFilter::default() };
    let rows = app.state().store.list_audit(&filter).await.unwrap();
    rows.into_iter().filter(|r| r.action == "environment.update").collect()
}

async fn bypass_refused_when_the_server_forbids_it(db: Db) {
    let database = TestDatabase::new(db).await;
    let mut settings = ServeConfig::for_database(&database.url);
    settings.approvals.allow_bypass = false;
    let app = TestApp::spawn_with(database, settings).await;
    protected(&app, 1).await;
    let reason = [("x-pennon-bypass-reason", "incident 42")];
    let refused = app.call(Method::POST, &format!("{CONFIG}/toggle"), None, &reason).await;
    assert_problem(&refused, 403);
    assert_eq!(config(&app).await["version"], 1);
    assert_eq!(app.get(REQUESTS).await.expect(200).body["items"], json!([]));
}
