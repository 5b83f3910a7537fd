//! `/flags/{flag}/environments/{env}/guards`: create, read, update, delete, validation and audit.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Db, TestApp};

both!(
    guards_round_trip_with_versions_and_audit,
    bad_guards_are_refused_naming_each_field,
    guards_need_a_flag_config,
    viewers_read_editors_write
);

pub const GUARDS: &str = "/api/v1/flags/checkout/environments/production/guards";

/// An error-rate guard: the `on` variant must not be more than 10% worse than `off`.
pub fn error_guard() -> Value {
    json!({ "metric": "checkout_error", "statistic": "rate", "direction": "higher_is_worse",
        "threshold": { "relative": 0.1 }, "variant": "on" })
}

async fn app_with_flag(db: Db) -> TestApp {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for (metric, kind) in [("checkout_error", "rate"), ("clicks", "rate"), ("latency_ms", "mean")] {
        app.metric(metric, kind).await;
    }
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app.post(
        "/api/v1/flags",
        json!({ "key": "banner", "kind": "string",
        "variants": [{ "key": "blue", "value": "blue" }, { "key": "green", "value": "green" }] }),
    )
    .await
    .expect(201);
    app
}

async fn actions(app: &TestApp) -> Vec<String> {
    let audit = app.get("/api/v1/audit?flag=checkout").await.expect(200).body;
    let mut out: Vec<String> =
        audit["items"].as_array().expect("items").iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect();
    out.reverse();
    out
}

async fn guards_round_trip_with_versions_and_audit(db: Db) {
    let app = app_with_flag(db).await;
    let created = app.post(GUARDS, error_guard()).await.expect(201);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let guard = created.body;
    let id = guard["id"].as_i64().expect("an id");
    assert_eq!(guard["state"], "insufficient_data");
    assert_eq!(guard["control"], "off", "a boolean flag's control defaults to the other variant");
    assert_eq!((guard["window"].as_str(), guard["action"].as_str()), (Some("1h"), Some("disable_flag")));
    assert_eq!((guard["min_samples"].as_u64(), guard["alpha"].as_f64()), (Some(100), Some(0.05)));
    assert_eq!(guard["threshold"], json!({ "relative": 0.1 }));
    assert!(guard["evidence"].is_null() && guard["checked_at"].is_null());

    let one = format!("{GUARDS}/{id}");
    assert_eq!(app.get(&one).await.expect(200).body, guard);
    let list = app.get(GUARDS).await.expect(200).body;
    assert_eq!(list["items"], json!([guard]));

    let mut changed = error_guard();
    changed["window"] = json!("30m");
    changed["threshold"] = json!({ "absolute": 0.02 });
    changed["action"] = json!("halt_rollout");
    let stale = app.call(reqwest::Method::PUT, &one, Some(changed.clone()), &[("if-match", "\"7\"")]).await.expect(409);
    assert_eq!(stale.body["current_version"], 1, "{}", stale.body);
    let updated = app.call(reqwest::Method::PUT, &one, Some(changed), &[("if-match", "\"1\"")]).await.expect(200);
    assert_eq!(updated.header("etag"), Some("\"2\""));
    assert_eq!((updated.body["window"].as_str(), updated.body["version"].as_u64()), (Some("30m"), Some(2)));
    assert_eq!(updated.body["threshold"], json!({ "absolute": 0.02 }));
    assert_eq!(updated.body["action"], "halt_rollout");
    assert_eq!(updated.body["control"], "off", "halt_rollout gives the treatment's share to the control");

    app.delete(&one).await.expect(204);
    app.get(&one).await.expect(404);
    assert_eq!(app.get(GUARDS).await.expect(200).body["items"], json!([]));
    let audited = actions(&app).await;
    let guard_actions: Vec<&str> = audited.iter().map(String::as_str).filter(|a| a.starts_with("guard.")).collect();
    assert_eq!(guard_actions, ["guard.create", "guard.update", "guard.delete"]);
    let audit = app.get("/api/v1/audit?flag=checkout").await.expect(200).body;
    let update = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "guard.update").unwrap().clone();
    assert_eq!(update["before"]["window_ms"], 3_600_000);
    assert_eq!(update["after"]["window_ms"], 1_800_000);
    assert_eq!(update["resource"], "guard");
}

async fn bad_guards_are_refused_naming_each_field(db: Db) {
    let app = app_with_flag(db).await;
    let paths = |body: &Value| -> Vec<String> {
        body["errors"].as_array().expect("errors").iter().map(|p| p["path"].as_str().unwrap().to_owned()).collect()
    };
    let mut bad = error_guard();
    bad["variant"] = json!("maybe");
    bad["alpha"] = json!(0);
    bad["min_samples"] = json!(0);
    bad["window"] = json!("a while");
    let refused = app.post(GUARDS, bad).await.expect(422);
    let found = paths(&refused.body);
    for field in ["variant", "alpha", "min_samples", "window"] {
        assert!(found.iter().any(|p| p == field), "{field} is named: {}", refused.body);
    }

    let mut same = error_guard();
    same["control"] = json!("on");
    assert_eq!(paths(&app.post(GUARDS, same).await.expect(422).body), ["control"]);
    let mut short = error_guard();
    short["window"] = json!("2s");
    assert_eq!(paths(&app.post(GUARDS, short).await.expect(422).body), ["window"]);

    // A relative threshold on a flag that is not boolean needs its control named.
    let banner = "/api/v1/flags/banner/environments/production/guards";
    let relative = json!({ "metric": "clicks", "statistic": "rate", "direction": "lower_is_worse",
        "threshold": { "relative": 0.05 }, "variant": "green" });
    assert_eq!(paths(&app.post(banner, relative.clone()).await.expect(422).body), ["control"]);
    let mut named = relative.clone();
    named["control"] = json!("blue");
    assert_eq!(app.post(banner, named).await.expect(201).body["control"], "blue");
    // An absolute threshold compares the treatment alone.
    let absolute = json!({ "metric": "latency_ms", "statistic": "mean", "direction": "higher_is_worse",
        "threshold": { "absolute": 250 }, "variant": "green", "window": "15m" });
    assert!(app.post(banner, absolute).await.expect(201).body["control"].is_null());

    let mut typo = error_guard();
    typo["statistic"] = json!("median");
    let malformed = app.post(GUARDS, typo).await.expect(400);
    assert_eq!(malformed.body["field"], "statistic", "{}", malformed.body);
    let mut extra = error_guard();
    extra["colour"] = json!("red");
    app.post(GUARDS, extra).await.expect(400);
    assert_eq!(app.get(GUARDS).await.expect(200).body["items"], json!([]), "nothing was created");
    assert!(!actions(&app).await.iter().any(|a| a.starts_with("guard.")), "nothing was audited");
}

async fn guards_need_a_flag_config(db: Db) {
    let app = app_with_flag(db).await;
    app.post("/api/v1/flags/nothing/environments/production/guards", error_guard()).await.expect(404);
    app.post("/api/v1/flags/checkout/environments/nowhere/guards", error_guard()).await.expect(404);
    app.get("/api/v1/flags/checkout/environments/nowhere/guards").await.expect(404);
    app.get(&format!("{GUARDS}/12345")).await.expect(404);
    app.put(&format!("{GUARDS}/12345"), error_guard()).await.expect(404);
    app.delete(&format!("{GUARDS}/12345")).await.expect(404);
    app.get(&format!("{GUARDS}/abc")).await.expect(400);
    // A guard of another environment is not reachable through this one.
    app.environment("staging").await;
    let id = app.post(GUARDS, error_guard()).await.expect(201).body["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/flags/checkout/environments/staging/guards/{id}")).await.expect(404);
}

async fn viewers_read_editors_write(db: Db) {
    let app = app_with_flag(db).await;
    let id = app.post(GUARDS, error_guard()).await.expect(201).body["id"].as_i64().unwrap();
    for (email, role) in [("viewer@pennon.test", "viewer"), ("editor@pennon.test", "editor")] {
        app.post("/api/v1/users", json!({ "email": email, "password": "a long enough password", "role": role }))
            .await
            .expect(201);
    }
    let viewer = format!("Bearer {}", app.login("viewer@pennon.test", "a long enough password").await);
    let editor = format!("Bearer {}", app.login("editor@pennon.test", "a long enough password").await);
    let as_viewer = [("authorization", viewer.as_str())];
    let one = format!("{GUARDS}/{id}");
    app.call(reqwest::Method::GET, GUARDS, None, &as_viewer).await.expect(200);
    app.call(reqwest::Method::GET, &one, None, &as_viewer).await.expect(200);
    app.call(reqwest::Method::GET, &format!("{one}/series"), None, &as_viewer).await.expect(200);
    app.call(reqwest::Method::POST, GUARDS, Some(error_guard()), &as_viewer).await.expect(403);
    app.call(reqwest::Method::DELETE, &one, None, &as_viewer).await.expect(403);
    app.call(reqwest::Method::DELETE, &one, None, &[("authorization", editor.as_str())]).await.expect(204);
    app.call(reqwest::Method::GET, GUARDS, None, &[("authorization", "")]).await.expect(401);
}
