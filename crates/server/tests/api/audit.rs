use serde_json::{Value, json};

use crate::both;
use crate::flag_setup::{boolean_flag, configure};
use crate::helpers::{ADMIN_EMAIL, Db, TestApp};

both!(filters_and_newest_first, pages_cover_everything_once, time_windows, bad_queries_name_the_field);

/// The `actor` query for the test admin, who makes every change of [`history`].
fn by_admin() -> String {
    format!("actor=user%3A{}", ADMIN_EMAIL.replace('@', "%40"))
}

/// Two environments, a flag configured in one, a segment: eight audit rows by the admin, after the one of the
/// admin's sign-in (`session.create`; the server wrote one before that, creating the admin).
async fn history(app: &TestApp) {
    app.environment("production").await;
    app.environment("staging").await;
    boolean_flag(app, "new-checkout").await;
    let on = json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } });
    configure(app, "new-checkout", "production", on).await;
    app.post("/api/v1/segments", json!({ "key": "staff" })).await.expect(201);
    app.put("/api/v1/segments/staff", json!({ "included": ["user-1"] })).await.expect(200);
    boolean_flag(app, "other").await;
    app.delete("/api/v1/segments/staff").await.expect(204);
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("items")
}

fn actions(body: &Value) -> Vec<&str> {
    items(body).iter().map(|e| e["action"].as_str().unwrap()).collect()
}

async fn filters_and_newest_first(db: Db) {
    let app = TestApp::spawn(db).await;
    history(&app).await;
    let all = app.get(&format!("/api/v1/audit?{}", by_admin())).await.expect(200);
    let ids: Vec<i64> = items(&all.body).iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 9);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(actions(&all.body)[8], "session.create");
    assert_eq!(actions(&all.body)[0], "segment.delete");
    assert!(all.body.get("next_cursor").is_none());

    let update = items(&all.body).iter().find(|e| e["action"] == "segment.update").unwrap();
    assert_eq!(update["actor"], format!("user:{ADMIN_EMAIL}"));
    assert_eq!(update["resource"], "segment");
    assert_eq!(update["resource_key"], "staff");
    assert_eq!(update["version"], 2);
    assert_eq!(update["before"]["included"], json!([]));
    assert_eq!(update["after"]["included"], json!(["user-1"]));
    assert!(update["at"].as_str().unwrap().ends_with('Z'));

    let flag = app.get("/api/v1/audit?flag=new-checkout").await.expect(200);
    assert_eq!(actions(&flag.body).len(), 2, "{}", flag.body);
    assert_eq!(actions(&flag.body)[1], "flag.create");
    assert!(items(&flag.body).iter().all(|e| e["flag"] == "new-checkout"));

    let production = app.get("/api/v1/audit?environment=production").await.expect(200);
    assert_eq!(actions(&production.body).len(), 2, "{}", production.body);
    assert_eq!(actions(&production.body)[1], "environment.create");
    let both = app.get("/api/v1/audit?flag=new-checkout&environment=production").await.expect(200);
    assert_eq!(items(&both.body).len(), 1);
    assert_eq!(items(&both.body)[0]["resource_key"], "new-checkout/production");

    let unfiltered = app.get("/api/v1/audit").await.expect(200);
    assert!(items(&unfiltered.body).len() > 8);
    assert!(items(&unfiltered.body).iter().any(|e| e["actor"] != update["actor"]));
    assert_eq!(items(&app.get("/api/v1/audit?actor=user:nobody@example.com").await.expect(200).body).len(), 0);
    assert_eq!(items(&app.get("/api/v1/audit?flag=missing").await.expect(200).body).len(), 0);
}

async fn pages_cover_everything_once(db: Db) {
    let app = TestApp::spawn(db).await;
    history(&app).await;
    let everything: Vec<Value> =
        items(&app.get(&format!("/api/v1/audit?{}", by_admin())).await.expect(200).body).clone();
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/audit?limit=3&{}", by_admin());
    let mut pages = 0;
    loop {
        let page = app.get(&path).await.expect(200);
        pages += 1;
        assert!(items(&page.body).len() <= 3);
        seen.extend(items(&page.body).iter().cloned());
        match page.body.get("next_cursor").and_then(Value::as_str) {
            Some(cursor) => path = format!("/api/v1/audit?limit=3&{}&cursor={cursor}", by_admin()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, everything);

    let first = app.get("/api/v1/audit?limit=1&flag=new-checkout").await.expect(200);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let next = app.get(&format!("/api/v1/audit?limit=1&flag=new-checkout&cursor={cursor}")).await.expect(200);
    assert_eq!(items(&next.body)[0]["action"], "flag.create", "filters hold across pages");
    assert!(next.body.get("next_cursor").is_none());
}

async fn time_windows(db: Db) {
    let app = TestApp::spawn(db).await;
    history(&app).await;
    let everything = app.get(&format!("/api/v1/audit?{}", by_admin())).await.expect(200).body;
    let newest = items(&everything)[0]["at"].as_str().unwrap().to_owned();
    let oldest = items(&everything)[8]["at"].as_str().unwrap().to_owned();
    let query = |q: String| {
        let app = &app;
        async move { app.get(&format!("/api/v1/audit?{}&{q}", by_admin())).await.expect(200).body }
    };
    let encode = |t: &str| t.replace(':', "%3A").replace('+', "%2B");

    let since_newest = query(format!("since={}", encode(&newest))).await;
    assert!(!items(&since_newest).is_empty());
    assert!(items(&since_newest).iter().all(|e| e["at"] == newest.as_str()));
    let until_oldest = query(format!("until={}", encode(&oldest))).await;
    assert!(items(&until_oldest).is_empty(), "until is exclusive");
    let all = query(format!("since={}&until=2999-01-01T00%3A00%3A00Z", encode(&oldest))).await;
    assert_eq!(items(&all).len(), 9);
    assert!(items(&query("since=2999-01-01T00%3A00%3A00%2B02%3A00".into()).await).is_empty());
    assert!(items(&query("until=2000-01-01T00%3A00%3A00Z".into()).await).is_empty());
}

async fn bad_queries_name_the_field(db: Db) {
    let app = TestApp::spawn(db).await;
    // A cursor of hex pairs follows the document, so one this server did not give out is 422, not 400.
    for (query, field, status) in [
        ("since=yesterday", "since", 400),
        ("until=2026-13-01T00:00:00Z", "until", 400),
        ("since=2026-02-01T00%3A00%3A00Z&until=2026-01-01T00%3A00%3A00Z", "until", 400),
        ("cursor=xyz", "cursor", 400),
        ("cursor=6162", "cursor", 422),
        ("limit=501", "limit", 400),
    ] {
        let refused = app.get(&format!("/api/v1/audit?{query}")).await.expect(status);
        assert_eq!(refused.body["field"], field, "{query}: {}", refused.body);
        assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    }
    let not_a_number = app.get("/api/v1/audit?limit=many").await.expect(400);
    assert_eq!(not_a_number.body["status"], 400);
}
