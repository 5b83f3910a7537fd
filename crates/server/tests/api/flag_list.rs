//! `GET /flags?environments=true`: a page of flags, each with its state in every environment, in one answer;
//! the search reaching descriptions and tags, and `archived=include`.

use serde_json::{Value, json};

use crate::both;
use crate::guards::{GUARDS, error_guard};
use crate::helpers::Db;
use crate::plans::{PLAN, app_with_flag, ramp};

both!(flags_with_their_state_everywhere, search_and_archived_filters);

/// The keys of a list answer's items.
fn keys(answer: &Value) -> Vec<&str> {
    answer["items"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap()).collect()
}

async fn flags_with_their_state_everywhere(db: Db) {
    let app = app_with_flag(db).await;
    app.environment("staging").await;
    for key in ["alpha", "beta", "gamma"] {
        app.post("/api/v1/flags", json!({ "key": key, "kind": "boolean" })).await.expect(201);
    }
    app.put(PLAN, ramp()).await.expect(201);
    app.metric("checkout_error", "rate").await;
    app.post(GUARDS, error_guard()).await.expect(201);

    // Without the parameter the list is definitions only, as before.
    let plain = app.get("/api/v1/flags?limit=2").await.expect(200).body;
    assert!(plain["items"][0].get("environments").is_none(), "{plain}");

    let page = app.get("/api/v1/flags?environments=true&limit=2").await.expect(200).body;
    assert_eq!(keys(&page), ["alpha", "beta"]);
    let alpha = &page["items"][0];
    assert_eq!(alpha["kind"], "boolean");
    let envs = alpha["environments"].as_object().unwrap();
    assert_eq!(envs.keys().collect::<Vec<_>>(), ["production", "staging"]);
    let cell = &envs["production"];
    assert_eq!((cell["enabled"].clone(), cell["version"].clone()), (json!(false), json!(1)));
    assert_eq!((cell["off_variant"].clone(), cell["default"].clone()), (json!("off"), json!({ "variant": "on" })));
    assert_eq!((cell["rules"].as_u64(), cell["targets"].as_u64()), (Some(0), Some(0)));
    assert!(cell["plan"].is_null() && cell["updated_at"].is_string(), "{cell}");
    assert!(alpha["changed_at"].is_string(), "{alpha}");

    let rest = format!("/api/v1/flags?environments=true&limit=2&cursor={}", page["next_cursor"].as_str().unwrap());
    let rest = app.get(&rest).await.expect(200).body;
    assert_eq!(keys(&rest), ["checkout", "gamma"]);
    assert!(rest.get("next_cursor").is_none(), "{rest}");
    let checkout = &rest["items"][0]["environments"]["production"];
    assert_eq!((checkout["enabled"].clone(), checkout["plan"]["state"].clone()), (json!(true), json!("pending")));
    assert_eq!(checkout["guards"], json!({ "healthy": 0, "insufficient_data": 1, "breached": 0 }));
    assert!(rest["items"][0]["environments"]["staging"]["plan"].is_null(), "plans belong to one environment");

    // A change to a config is the flag's latest change.
    app.post("/api/v1/flags/gamma/environments/staging/toggle", json!({ "enabled": true })).await.expect(200);
    let after = app.get("/api/v1/flags?environments=true&q=gamma").await.expect(200).body;
    let gamma = &after["items"][0];
    assert_eq!(gamma["changed_at"], gamma["environments"]["staging"]["updated_at"]);
}

async fn search_and_archived_filters(db: Db) {
    let app = app_with_flag(db).await;
    let described = json!({ "key": "dark", "kind": "boolean", "description": "Night theme for the app" });
    app.post("/api/v1/flags", described).await.expect(201);
    app.post("/api/v1/flags", json!({ "key": "tagged", "kind": "boolean", "tags": ["Payments"] })).await.expect(201);
    app.post("/api/v1/flags", json!({ "key": "old", "kind": "boolean" })).await.expect(201);
    app.post("/api/v1/flags/old/archive", json!({})).await.expect(200);

    assert_eq!(keys(&app.get("/api/v1/flags?q=night").await.expect(200).body), ["dark"]);
    assert_eq!(keys(&app.get("/api/v1/flags?q=paym").await.expect(200).body), ["tagged"]);
    assert_eq!(keys(&app.get("/api/v1/flags").await.expect(200).body), ["checkout", "dark", "tagged"]);
    assert_eq!(keys(&app.get("/api/v1/flags?archived=true").await.expect(200).body), ["old"]);
    let all = app.get("/api/v1/flags?archived=include").await.expect(200).body;
    assert_eq!(keys(&all), ["checkout", "dark", "old", "tagged"]);
    app.get("/api/v1/flags?archived=sometimes").await.expect(400);
}
