//! Flags as code with rollout plans, guards and metrics: planned and applied as objects of their own, one
//! audit row each; a plan in progress is left as it is.

use reqwest::Method;
use serde_json::{Value, json};

use crate::apply::{apply, audit_count, export, parse, populate};
use crate::both;
use crate::helpers::{Db, TestApp};

both!(
    plans_guards_and_metrics_are_planned_and_applied_as_objects,
    prune_removes_the_plans_guards_and_metrics_left_out,
    an_apply_leaves_a_running_plan_as_it_is,
    invalid_plans_and_guards_name_their_path
);

const CHECKOUT: &str = "/api/v1/flags/new-checkout/environments/production";

/// Two metrics, a rollout plan on `new-checkout` in production and a guard on each of two flags (on top of
/// [`populate`]).
pub async fn populate_rollouts(app: &TestApp) {
    let errors = json!({ "key": "checkout-errors", "kind": "rate", "direction": "lower_is_better",
        "description": "failed checkouts" });
    app.post("/api/v1/metrics", errors).await.expect(201);
    let latency = json!({ "key": "latency", "kind": "mean", "unit": "ms", "direction": "lower_is_better" });
    app.post("/api/v1/metrics", latency).await.expect(201);
    let ramp = json!({ "variant": "on", "steps": [{ "percent": 1, "hold": "10m" }, { "percent": 25, "hold": "1h 30m" },
        { "percent": 100 }] });
    app.put(&format!("{CHECKOUT}/rollout-plan"), ramp).await.expect(201);
    let guard = json!({ "metric": "checkout-errors", "statistic": "rate", "direction": "higher_is_worse",
        "threshold": { "relative": 0.1 }, "variant": "on", "action": "halt_rollout" });
    app.post(&format!("{CHECKOUT}/guards"), guard).await.expect(201);
    let slow = json!({ "metric": "latency", "statistic": "mean", "direction": "higher_is_worse",
        "threshold": { "absolute": 250 }, "variant": "red", "window": "30m", "min_samples": 50 });
    app.post("/api/v1/flags/button-color/environments/production/guards", slow).await.expect(201);
}

async fn populated(db: Db) -> TestApp {
    let app = TestApp::spawn(db).await;
    populate(&app).await;
    populate_rollouts(&app).await;
    app
}

/// The production config of `flag` in a document.
fn production<'a>(doc: &'a mut Value, flag: &str) -> &'a mut Value {
    let flags = doc["flags"].as_array_mut().unwrap();
    &mut flags.iter_mut().find(|f| f["key"] == flag).unwrap()["environments"]["production"]
}

/// `(kind, key, op)` of every entry that changes something, sorted.
fn changed(plan: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["op"] != "unchanged")
        .map(|e| {
            (e["kind"].as_str().unwrap().into(), e["key"].as_str().unwrap().into(), e["op"].as_str().unwrap().into())
        })
        .collect();
    out.sort();
    out
}

fn triples(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> =
        list.iter().map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into())).collect();
    out.sort();
    out
}

async fn plans_guards_and_metrics_are_planned_and_applied_as_objects(db: Db) {
    let app = populated(db).await;
    let (text, _, _) = export(&app, "").await;
    let mut doc = parse(&text);
    let checkout = production(&mut doc, "new-checkout");
    assert_eq!(
        checkout["plan"],
        json!({ "variant": "on", "control": "off", "bucket_by": "key",
        "steps": [{ "percent": 1.0, "hold": "10m" }, { "percent": 25.0, "hold": "1h 30m" }, { "percent": 100.0 }] })
    );
    assert_eq!(checkout["guards"][0]["min_samples"], 100, "defaults are written out: {}", checkout["guards"]);
    assert_eq!(checkout["guards"][0]["control"], "off");
    assert!(checkout["guards"][0].get("id").is_none() && checkout["guards"][0].get("state").is_none());
    assert!(checkout["plan"].get("state").is_none() && checkout["plan"].get("version").is_none());
    let guard_id = app.get(&format!("{CHECKOUT}/guards")).await.expect(200).body["items"][0]["id"].clone();

    checkout["guards"][0]["threshold"] = json!({ "relative": 0.2 });
    checkout["guards"].as_array_mut().unwrap().push(json!({ "metric": "latency", "statistic": "mean",
        "direction": "higher_is_worse", "threshold": { "relative": 0.5 }, "variant": "on" }));
    checkout["plan"]["steps"][1]["percent"] = json!(50);
    doc["metrics"][1]["unit"] = json!("s");
    doc["metrics"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "key": "signups", "kind": "rate", "direction": "higher_is_better" }));

    let before_audit = audit_count(&app).await;
    let plan = apply(&app, "?dry_run=true", &doc).await.expect(200);
    assert_eq!(
        changed(&plan.body),
        triples(&[
            ("metric", "latency", "update"),
            ("metric", "signups", "create"),
            ("plan", "new-checkout/production", "update"),
            ("guard", "new-checkout/production/checkout-errors:on", "update"),
            ("guard", "new-checkout/production/latency:on", "create"),
        ])
    );
    let entry = |kind: &str, key: &str| {
        let entries = plan.body["entries"].as_array().unwrap();
        entries.iter().find(|e| e["kind"] == kind && e["key"] == key).unwrap().clone()
    };
    assert_eq!(
        entry("guard", "new-checkout/production/checkout-errors:on")["changes"],
        json!([{ "path": "threshold.relative", "before": 0.1, "after": 0.2 }])
    );
    assert_eq!(
        entry("plan", "new-checkout/production")["changes"],
        json!([{ "path": "steps[1].percent", "before": 25.0, "after": 50.0 }])
    );
    assert_eq!(entry("config", "new-checkout/production")["op"], "unchanged", "the config itself is unchanged");
    assert_eq!(entry("metric", "latency")["changes"], json!([{ "path": "unit", "before": "ms", "after": "s" }]));
    assert_eq!(audit_count(&app).await, before_audit, "a dry run writes nothing");

    let revision = plan.body["revision"].as_str().unwrap();
    let applied = apply(&app, &format!("?expected_revision={revision}"), &doc).await.expect(200);
    assert_eq!(applied.body["entries"], plan.body["entries"]);
    assert_eq!(audit_count(&app).await, before_audit + 5, "one audit row per changed object");
    let guards = app.get(&format!("{CHECKOUT}/guards")).await.expect(200).body;
    assert_eq!(guards["items"].as_array().unwrap().len(), 2);
    assert_eq!(guards["items"][0]["id"], guard_id, "a changed guard keeps its id");
    assert_eq!(guards["items"][0]["threshold"], json!({ "relative": 0.2 }));
    let rollout = app.get(&format!("{CHECKOUT}/rollout-plan")).await.expect(200).body;
    assert_eq!(rollout["steps"][1]["percent"], 50.0);
    assert_eq!(rollout["state"], "pending");
    assert_eq!(app.get("/api/v1/metrics/latency").await.expect(200).body["unit"], "s");

    let again = apply(&app, "?dry_run=true", &doc).await.expect(200);
    assert_eq!(again.body["summary"]["update"], 0, "{}", again.body);
    assert_eq!(again.body["summary"]["create"], 0);
}

async fn prune_removes_the_plans_guards_and_metrics_left_out(db: Db) {
    let app = populated(db).await;
    let mut doc = parse(&export(&app, "").await.0);
    let checkout = production(&mut doc, "new-checkout").as_object_mut().unwrap();
    checkout.remove("plan");
    checkout.remove("guards");
    doc["metrics"].as_array_mut().unwrap().retain(|m| m["key"] != "checkout-errors");

    let kept = apply(&app, "?dry_run=true", &doc).await.expect(200);
    assert_eq!(changed(&kept.body), triples(&[]), "without prune, what is left out stays");
    let before_audit = audit_count(&app).await;
    let pruned = apply(&app, "?prune=true", &doc).await.expect(200);
    assert_eq!(
        changed(&pruned.body),
        triples(&[
            ("plan", "new-checkout/production", "delete"),
            ("guard", "new-checkout/production/checkout-errors:on", "delete"),
            ("metric", "checkout-errors", "delete"),
        ])
    );
    assert_eq!(audit_count(&app).await, before_audit + 3);
    app.get(&format!("{CHECKOUT}/rollout-plan")).await.expect(404);
    assert_eq!(app.get(&format!("{CHECKOUT}/guards")).await.expect(200).body["items"], json!([]));
    app.get("/api/v1/metrics/checkout-errors").await.expect(404);
    let colour = app.get("/api/v1/flags/button-color/environments/production/guards").await.expect(200);
    assert_eq!(colour.body["items"].as_array().unwrap().len(), 1, "guards the document names stay");
}

async fn an_apply_leaves_a_running_plan_as_it_is(db: Db) {
    let app = populated(db).await;
    let mut doc = parse(&export(&app, "").await.0);
    app.call(Method::POST, &format!("{CHECKOUT}/rollout-plan/start"), Some(json!({})), &[]).await.expect(200);
    // The plan moved the config's default: take the document from now, as a person would.
    let mut now = parse(&export(&app, "").await.0);
    let same = apply(&app, "?dry_run=true", &now).await.expect(200);
    assert_eq!(same.body["summary"]["update"], 0, "a running plan the document states unchanged: {}", same.body);

    production(&mut now, "new-checkout")["plan"]["steps"][0]["percent"] = json!(2);
    let before_audit = audit_count(&app).await;
    for query in ["?dry_run=true", ""] {
        let refused = apply(&app, query, &now).await.expect(409);
        let detail = refused.body["detail"].as_str().unwrap();
        assert!(detail.contains("flags[3].environments.production.plan") && detail.contains("running"), "{detail}");
    }
    production(&mut doc, "new-checkout").as_object_mut().unwrap().remove("plan");
    apply(&app, "?prune=true", &doc).await.expect(409);
    assert_eq!(audit_count(&app).await, before_audit, "nothing applied");
    let rollout = app.get(&format!("{CHECKOUT}/rollout-plan")).await.expect(200).body;
    assert_eq!((rollout["state"].as_str(), rollout["steps"][0]["percent"].as_f64()), (Some("running"), Some(1.0)));
}

async fn invalid_plans_and_guards_name_their_path(db: Db) {
    let app = populated(db).await;
    let original = export(&app, "").await.0;
    let before_audit = audit_count(&app).await;
    let doc = parse(&original);
    let at = "flags[3].environments.production";

    let mut unknown = doc.clone();
    production(&mut unknown, "new-checkout")["guards"][0]["metric"] = json!("nowhere");
    let refused = apply(&app, "", &unknown).await.expect(422);
    assert_eq!(refused.body["errors"][0]["path"], format!("{at}.guards[0].metric"));

    let mut kind = doc.clone();
    production(&mut kind, "new-checkout")["guards"][0]["statistic"] = json!("mean");
    let refused = apply(&app, "", &kind).await.expect(422);
    assert_eq!(refused.body["errors"][0]["path"], format!("{at}.guards[0].statistic"));

    let mut variant = doc.clone();
    production(&mut variant, "new-checkout")["plan"]["variant"] = json!("maybe");
    let refused = apply(&app, "", &variant).await.expect(422);
    assert_eq!(refused.body["errors"][0]["path"], format!("{at}.plan.variant"));

    let mut version = doc.clone();
    production(&mut version, "new-checkout")["guards"][0]["version"] = json!(3);
    let refused = apply(&app, "", &version).await.expect(422);
    assert_eq!(refused.body["errors"][0]["path"], format!("{at}.guards[0].version"));

    let mut field = doc.clone();
    production(&mut field, "new-checkout")["plan"]["state"] = json!("running");
    let refused = apply(&app, "", &field).await.expect(400);
    assert_eq!(refused.body["field"], format!("{at}.plan.state"));

    let mut metric = doc.clone();
    metric["metrics"][0]["key"] = json!("");
    apply(&app, "", &metric).await.expect(422);

    assert_eq!(export(&app, "").await.0, original);
    assert_eq!(audit_count(&app).await, before_audit);
}
