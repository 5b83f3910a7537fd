//! `GET /environments/{env}/flag-states`: every flag of an environment with its switch, config version, rollout
//! plan step and guard states, in one answer.

use serde_json::{Value, json};

use crate::both;
use crate::guards::{GUARDS, error_guard};
use crate::helpers::Db;
use crate::plans::{PLAN, app_with_flag, ramp};

both!(one_answer_for_every_flag, unknown_environment_and_viewers);

const STATES: &str = "/api/v1/environments/production/flag-states";

/// The item of `flag` in a flag-states answer.
fn item<'a>(answer: &'a Value, flag: &str) -> &'a Value {
    answer["items"].as_array().unwrap().iter().find(|i| i["flag"] == flag).unwrap_or_else(|| panic!("{flag}: {answer}"))
}

async fn one_answer_for_every_flag(db: Db) {
    let app = app_with_flag(db).await;
    app.environment("staging").await;
    app.post("/api/v1/flags", json!({ "key": "plain", "kind": "boolean" })).await.expect(201);
    app.put(PLAN, ramp()).await.expect(201);
    app.metric("checkout_error", "rate").await;
    app.metric("latency", "mean").await;
    app.post(GUARDS, error_guard()).await.expect(201);
    app.post(
        GUARDS,
        json!({ "metric": "latency", "statistic": "mean", "direction": "higher_is_worse",
        "threshold": { "absolute": 800 }, "variant": "on" }),
    )
    .await
    .expect(201);

    let answer = app.get(STATES).await.expect(200).body;
    assert_eq!(answer["environment"], "production");
    let flags: Vec<&str> = answer["items"].as_array().unwrap().iter().map(|i| i["flag"].as_str().unwrap()).collect();
    assert_eq!(flags, ["checkout", "plain"]);
    let checkout = item(&answer, "checkout");
    let config = app.get("/api/v1/flags/checkout/environments/production").await.expect(200).body;
    assert_eq!((checkout["enabled"].clone(), checkout["version"].clone()), (json!(true), config["version"].clone()));
    assert_eq!(checkout["plan"]["state"], "pending");
    assert_eq!(
        (checkout["plan"]["step_count"].as_u64(), checkout["plan"]["current_percent"].as_f64()),
        (Some(5), Some(0.0))
    );
    assert_eq!(checkout["guards"], json!({ "healthy": 0, "insufficient_data": 2, "breached": 0 }));
    let untouched = item(&answer, "plain");
    assert_eq!((untouched["enabled"].clone(), untouched["plan"].clone()), (json!(false), Value::Null));
    assert_eq!(untouched["guards"], json!({ "healthy": 0, "insufficient_data": 0, "breached": 0 }));

    // A started plan says where it stands and when the next step is due.
    app.post(&format!("{PLAN}/start"), json!({})).await.expect(200);
    let answer = app.get(STATES).await.expect(200).body;
    let plan = &item(&answer, "checkout")["plan"];
    assert_eq!((plan["state"].as_str(), plan["current_step"].as_u64()), (Some("running"), Some(0)));
    assert_eq!((plan["current_percent"].as_f64(), plan["variant"].as_str()), (Some(1.0), Some("on")));
    assert!(plan["next_step_at"].is_string(), "{plan}");
    assert!(item(&answer, "checkout")["version"].as_u64() > config["version"].as_u64(), "the step is a new version");

    // Another environment has the same flags, its own state.
    let staging = app.get("/api/v1/environments/staging/flag-states").await.expect(200).body;
    let checkout = item(&staging, "checkout");
    assert_eq!((checkout["enabled"].clone(), checkout["plan"].clone()), (json!(false), Value::Null));
    assert_eq!(checkout["guards"]["insufficient_data"], 0);
}

async fn unknown_environment_and_viewers(db: Db) {
    let app = app_with_flag(db).await;
    app.get("/api/v1/environments/nowhere/flag-states").await.expect(404);
    app.post(
        "/api/v1/users",
        json!({ "email": "v@pennon.test", "password": "a long viewer password", "role": "viewer" }),
    )
    .await
    .expect(201);
    let token = app.login("v@pennon.test", "a long viewer password").await;
    let auth = format!("Bearer {token}");
    let seen = app.call(reqwest::Method::GET, STATES, None, &[("authorization", &auth)]).await.expect(200);
    assert_eq!(seen.body["items"][0]["flag"], "checkout");
    let anonymous = app.client.get(format!("{}{STATES}", app.base)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}
