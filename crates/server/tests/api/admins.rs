//! The last enabled admin stays, even under concurrent demotions.

use serde_json::json;

use crate::both;
use crate::helpers::{Db, TestApp};

both!(concurrent_demotions_leave_an_admin);

async fn concurrent_demotions_leave_an_admin(db: Db) {
    let mut app = TestApp::spawn(db).await;
    app.post(
        "/api/v1/users",
        json!({ "email": "second@pennon.test", "password": "another Adm1n pass", "role": "admin" }),
    )
    .await
    .expect(201);
    // An API token, which demotions do not end.
    let token = app.post("/api/v1/tokens", json!({ "name": "ops", "role": "admin" })).await.expect(201);
    app.admin_token = token.body["token"].as_str().unwrap().to_owned();
    let mut demotions = tokio::task::JoinSet::new();
    for i in 0..20 {
        let id = 1 + i % 2;
        let change = if i % 4 < 2 { json!({ "role": "viewer" }) } else { json!({ "disabled": true }) };
        let request = app.client.patch(format!("{}/api/v1/users/{id}", app.base)).bearer_auth(&app.admin_token);
        demotions.spawn(async move { request.json(&change).send().await.unwrap().status().as_u16() });
    }
    let statuses = demotions.join_all().await;
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    assert!(statuses.contains(&409), "{statuses:?}");
    let users = app.get("/api/v1/users").await.expect(200).body;
    let admins =
        users["items"].as_array().unwrap().iter().filter(|u| u["role"] == "admin" && u["disabled"] == false).count();
    assert_eq!(admins, 1, "{users}");
}
