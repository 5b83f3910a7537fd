//! `POST /api/v1/import/unleash` over real HTTP on both databases: Pennon answers as Unleash's own evaluator
//! after the import; dry runs and refused imports write nothing; errors name the document's path.

use reqwest::Method;
use serde_json::{Value, json};
use unleash_yggdrasil::EngineState;

use crate::both;
use crate::helpers::{Db, TestApp};
use crate::unleash_oracle::{contexts, fixture, pennon_context, random_without, unleash_answer};

both!(
    imported_flags_answer_as_unleash_does,
    dry_runs_and_strict_refusals_write_nothing,
    bad_documents_name_the_path_and_change_nothing,
    callers_are_checked_first
);

const IMPORT: &str = "/api/v1/import/unleash?environment=production";

fn doc() -> Value {
    serde_json::from_str(&fixture()).unwrap()
}

async fn audit_count(app: &TestApp) -> usize {
    app.get("/api/v1/audit?limit=500").await.expect(200).body["items"].as_array().unwrap().len()
}

async fn imported_flags_answer_as_unleash_does(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let reply = app.post(IMPORT, doc()).await.expect(200);
    let body = reply.body;
    assert_eq!(body["dry_run"], false);
    let changes = body["changes"].as_array().unwrap();
    assert!(changes.iter().all(|c| c["action"] != "unchanged"), "{changes:?}");
    assert!(changes.iter().any(|c| c["resource"] == "segment" && c["key"] == "beta-users"));
    let toggles = body["report"]["toggles"].as_array().unwrap();
    assert_eq!(toggles.len(), doc()["features"].as_array().unwrap().len());
    // Every change has its audit row, plus the import's own.
    let audit = app.get("/api/v1/audit?limit=500").await.expect(200).body;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "import.unleash").count(), 1);
    assert_eq!(actions.iter().filter(|a| **a == "config.import").count(), toggles.len());
    assert_eq!(actions.iter().filter(|a| **a == "flag.create").count(), toggles.len());

    let engine = EngineState::default();
    engine.apply_client_features(serde_json::from_str(&fixture()).unwrap());
    let notes: Vec<String> = serde_json::from_value(body["report"]["notes"].clone()).unwrap();
    let mapped: Vec<&Value> = toggles.iter().filter(|t| t["status"] == "mapped").collect();
    let mut compared = 0;
    for ctx in contexts(150, 11) {
        let pctx = pennon_context(&ctx);
        let all = json!({"environment": "production", "context": serde_json::to_value(&pctx).unwrap()});
        let answers = app.post("/api/v1/evaluate", all).await.expect(200).body;
        let answers = answers["evaluations"].as_array().expect("every flag's evaluation").clone();
        for t in &mapped {
            let (toggle, flag) = (t["toggle"].as_str().unwrap(), t["flag"].as_str().unwrap());
            let skip = random_without(&notes, t["path"].as_str().unwrap());
            if skip.iter().any(|a| pctx.attributes.get(a).is_none()) {
                continue;
            }
            let got = answers.iter().find(|a| a["flag"] == flag).unwrap_or_else(|| panic!("{flag} evaluated"));
            let boolean = got["value"].is_boolean();
            assert_eq!(got["value"], unleash_answer(&engine, toggle, &ctx, boolean), "{toggle} for {ctx:?}: {got}");
            compared += 1;
        }
    }
    assert!(compared > 5_000, "{compared}");

    // The same document again changes nothing.
    let again = app.post(IMPORT, doc()).await.expect(200).body;
    assert!(again["changes"].as_array().unwrap().iter().all(|c| c["action"] == "unchanged"), "{again}");
}

async fn dry_runs_and_strict_refusals_write_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let before = audit_count(&app).await;
    let dry = app.post(&format!("{IMPORT}&dry_run=true"), doc()).await.expect(200).body;
    assert_eq!(dry["dry_run"], true);
    assert!(dry["changes"].as_array().unwrap().iter().all(|c| c["action"] != "unchanged"));
    let unmapped = dry["report"]["unmapped"].as_array().unwrap();
    assert!(unmapped.iter().any(|u| u["reason"].as_str().unwrap().contains("custom strategy")), "{unmapped:?}");
    app.get("/api/v1/flags/plain.default").await.expect(404);
    app.get("/api/v1/segments/beta-users").await.expect(404);
    assert_eq!(audit_count(&app).await, before);

    let refused = app.post(&format!("{IMPORT}&strict=true"), doc()).await.expect(422).body;
    let paths: Vec<&str> = refused["errors"].as_array().unwrap().iter().filter_map(|e| e["path"].as_str()).collect();
    assert_eq!(paths.len(), unmapped.len(), "{refused}");
    assert!(paths.iter().any(|p| p.ends_with(".strategies[0]")), "{paths:?}");
    app.get("/api/v1/flags/plain.default").await.expect(404);
    assert_eq!(audit_count(&app).await, before);

    // Strict takes a document whose every part maps.
    let mut clean = doc();
    clean["features"] = json!([clean["features"][0].clone()]);
    clean["segments"] = json!([]);
    app.post(&format!("{IMPORT}&strict=true"), clean).await.expect(200);
    app.get("/api/v1/flags/plain.default").await.expect(200);
}

async fn bad_documents_name_the_path_and_change_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let before = audit_count(&app).await;
    let mut unknown_segment = doc();
    unknown_segment["features"][2]["strategies"] = json!([{"name": "default", "segments": [99]}]);
    let reply = app.post(IMPORT, unknown_segment).await.expect(422).body;
    assert_eq!(reply["field"], "features[2].strategies[0].segments[0]", "{reply}");

    let mut twice = doc();
    twice["features"][1]["name"] = json!("Plain.Default");
    let reply = app.post(IMPORT, twice).await.expect(422).body;
    assert_eq!(reply["field"], "features[1].name", "{reply}");

    let mut wrong_type = doc();
    wrong_type["features"][4]["strategies"][0]["constraints"] = json!("not a list");
    let reply = app.post(IMPORT, wrong_type).await;
    assert!(reply.status.is_client_error(), "{:?}", reply.status);
    assert!(
        reply.body["field"].as_str().unwrap_or_default().starts_with("features[4].strategies[0]"),
        "{}",
        reply.body
    );

    app.post("/api/v1/import/unleash?environment=nowhere", doc()).await.expect(404);
    app.post("/api/v1/import/unleash", doc()).await.expect(400);

    // A flag that exists with another kind is refused whole, naming the toggle.
    app.post("/api/v1/flags", json!({"key": "var-toggle", "kind": "boolean"})).await.expect(201);
    let reply = app.post(IMPORT, doc()).await.expect(422).body;
    let index = doc()["features"].as_array().unwrap().iter().position(|f| f["name"] == "var-toggle").unwrap();
    assert_eq!(reply["field"], format!("features[{index}].kind"), "{reply}");
    app.get("/api/v1/flags/plain.default").await.expect(404);
    assert_eq!(audit_count(&app).await, before + 1, "only the flag created above");
}

async fn callers_are_checked_first(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    let anonymous = app.call(Method::POST, IMPORT, Some(doc()), &[("authorization", "")]).await;
    assert_eq!(anonymous.status.as_u16(), 401);
    app.post("/api/v1/users", json!({"email": "v@x.test", "password": "viewer-password", "role": "viewer"}))
        .await
        .expect(201);
    let viewer = app.login("v@x.test", "viewer-password").await;
    let bearer = format!("Bearer {viewer}");
    let refused = app.call(Method::POST, IMPORT, Some(doc()), &[("authorization", &bearer)]).await;
    assert_eq!(refused.status.as_u16(), 403);
    app.get("/api/v1/flags/plain.default").await.expect(404);

    // Where config changes need approval, only an admin imports; an editor may still look at the dry run.
    app.patch("/api/v1/environments/production", json!({ "approvals_required": 1 })).await.expect(200);
    let editor = app.post("/api/v1/tokens", json!({ "name": "ed", "role": "editor" })).await.expect(201);
    let editor = format!("Bearer {}", editor.body["token"].as_str().unwrap());
    let refused = app.call(Method::POST, IMPORT, Some(doc()), &[("authorization", &editor)]).await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.body);
    app.get("/api/v1/flags/plain.default").await.expect(404);
    let dry = format!("{IMPORT}&dry_run=true");
    assert_eq!(app.call(Method::POST, &dry, Some(doc()), &[("authorization", &editor)]).await.status.as_u16(), 200);
    app.post(IMPORT, doc()).await.expect(200);
}
