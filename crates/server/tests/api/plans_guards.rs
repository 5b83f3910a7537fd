//! A breached guard halts the flag's rollout plan, in the breach's own transaction: metrics posted through
//! `/api/v1/sdk/metrics` that show the ramped variant hurting stop the plan halfway, and it stays stopped.

use std::time::Duration;

use pennon_server::app::config::ServeConfig;
use serde_json::{Value, json};

use crate::both;
use crate::guards::{GUARDS, error_guard};
use crate::helpers::{Db, TestApp, TestDatabase, until_next_metric_bucket};
use crate::plans::{CONFIG, PLAN, events};
use crate::plans_rollout::plan_when;
use crate::sse::sdk_key;

both!(a_breach_halts_the_plan_halfway, a_breach_that_disables_the_flag_halts_the_plan_too);

/// Guards checked every 200 ms, plans every 100 ms; `checkout` on in production, guarded by `guard`, and a plan
/// 1% → 5% (held long) → 25% → 100% started and at 5%. Returns the app, a server key and the guard's id.
async fn ramping_with_guard(db: Db, guard: Value) -> (TestApp, String, i64) {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.guard_interval = Duration::from_millis(200);
    config.plan_tick = Duration::from_millis(100);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.post("/api/v1/flags", json!({ "key": "checkout", "kind": "boolean" })).await.expect(201);
    app.post(&format!("{CONFIG}/toggle"), json!({ "enabled": true })).await.expect(200);
    let key = sdk_key(&app, "production", "server").await;
    app.metric("checkout_error", "rate").await;
    let id = app.post(GUARDS, guard).await.expect(201).body["id"].as_i64().unwrap();
    let plan = json!({ "variant": "on", "steps": [
        { "percent": 1, "hold": "300ms" }, { "percent": 5, "hold": "1h" }, { "percent": 25, "hold": "1s" }, { "percent": 100 }
    ] });
    app.put(PLAN, plan).await.expect(201);
    app.post(&format!("{PLAN}/start"), json!({})).await.expect(200);
    plan_when(&app, |p| p["current_step"] == 1).await;
    until_next_metric_bucket().await;
    (app, key, id)
}

/// 2% errors on the ramped variant against 0.5% on control, as an SDK reports them.
async fn send_breaching_metrics(app: &TestApp, key: &str) {
    let metric = |variant: &str, n: u64| json!({ "flag": "checkout", "variant": variant, "metric": "checkout_error", "count": n, "sum": n as f64, "sum_squares": n as f64 });
    let batch = json!({
        "exposures": [{ "flag": "checkout", "variant": "on", "count": 20_000 }, { "flag": "checkout", "variant": "off", "count": 20_000 }],
        "metrics": [metric("on", 400), metric("off", 100)]
    });
    let sent = app.client.post(format!("{}/api/v1/sdk/metrics", app.base)).bearer_auth(key).json(&batch).send().await;
    assert_eq!(sent.expect("sent").status().as_u16(), 202);
}

/// The audit rows of `checkout` with `action`.
async fn audit_rows(app: &TestApp, action: &str) -> Vec<Value> {
    let audit = app.get("/api/v1/audit?flag=checkout").await.expect(200).body;
    audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == action).cloned().collect()
}

/// What every breach test checks: the plan halted by the guard, named in its history, audited with the breach
/// in one transaction, and staying halted.
async fn halted_by(app: &TestApp, guard: i64) -> Value {
    let plan = plan_when(app, |p| p["state"] == "halted").await;
    assert_eq!(events(&plan), ["created", "started", "advanced", "halted"], "halted at 5%, never past it");
    let halted = plan["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((halted["actor"].as_str(), halted["step"].as_u64()), (Some("system:guard"), Some(1)));
    assert_eq!(halted["detail"]["guard"], guard);
    assert_eq!(halted["detail"]["metric"], "checkout_error");
    assert!(halted["detail"]["evidence"]["p_value"].as_f64().unwrap() <= 0.05, "{halted}");
    assert_eq!((plan["current_percent"].as_f64(), plan["next_step_at"].clone()), (Some(0.0), Value::Null));

    let (breach, halt) = (audit_rows(app, "guard.breach").await, audit_rows(app, "plan.halt").await);
    assert_eq!((breach.len(), halt.len()), (1, 1), "one breach, one halt");
    assert_eq!(breach[0]["at"], halt[0]["at"], "the breach and the halt are one transaction");
    assert_eq!(halt[0]["detail"]["guard"], guard);

    // The scheduler leaves it alone, and it cannot be started again while the guard is breached.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.get(PLAN).await.expect(200).body["version"], plan["version"]);
    let refused = app.post(&format!("{PLAN}/start"), json!({})).await.expect(409);
    assert!(refused.body["detail"].as_str().unwrap().contains("breached"), "{}", refused.body);
    plan
}

async fn a_breach_halts_the_plan_halfway(db: Db) {
    let mut guard = error_guard();
    guard["action"] = json!("halt_rollout");
    guard["control"] = json!("off");
    let (app, key, id) = ramping_with_guard(db, guard).await;
    let at_five = app.get(CONFIG).await.expect(200).body;
    assert_eq!(at_five["default"]["split"]["weights"][0], json!({ "variant": "on", "weight": 5_000 }));

    send_breaching_metrics(&app, &key).await;
    halted_by(&app, id).await;
    let config = app.get(CONFIG).await.expect(200).body;
    assert_eq!(config["enabled"], true, "the flag stays on");
    assert_eq!(
        config["default"]["split"]["weights"],
        json!([{ "variant": "on", "weight": 0 }, { "variant": "off", "weight": 100_000 }]),
        "back to 0%"
    );
    assert_eq!(config["version"].as_u64().unwrap(), at_five["version"].as_u64().unwrap() + 1, "one config change");
}

async fn a_breach_that_disables_the_flag_halts_the_plan_too(db: Db) {
    let (app, key, id) = ramping_with_guard(db, error_guard()).await;
    send_breaching_metrics(&app, &key).await;
    halted_by(&app, id).await;
    assert_eq!(app.get(CONFIG).await.expect(200).body["enabled"], false);
}
