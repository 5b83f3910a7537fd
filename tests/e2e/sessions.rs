//! A session ended or an API token revoked through one replica is refused by the others (they hear of it by
//! `NOTIFY pennon_credentials`; their periodic refresh is set out of reach here), and a session is checked
//! without the database.

use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::{ADMIN_EMAIL, ADMIN_PASSWORD, Cluster, PATIENCE, Replica};

async fn sign_in(replica: &Replica) -> String {
    let login = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
    let reply =
        reqwest::Client::new().post(format!("{}/api/v1/auth/login", replica.url())).json(&login).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    reply.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

async fn me(replica: &Replica, credential: &str) -> u16 {
    let request = reqwest::Client::new().get(format!("{}/api/v1/auth/me", replica.url())).bearer_auth(credential);
    request.send().await.unwrap().status().as_u16()
}

/// Waits until `replica` answers `status` for `credential`.
async fn until_status(replica: &Replica, credential: &str, status: u16, what: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while me(replica, credential).await != status {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_session_is_refused_by_every_replica() {
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.first, cluster.replica().await);
    let session = sign_in(a).await;
    assert_eq!(me(&b, &session).await, 200, "a session made on one replica works on the other");
    let http = reqwest::Client::new();
    let out = http.post(format!("{}/api/v1/auth/logout", a.url())).bearer_auth(&session).send().await.unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(me(a, &session).await, 401, "refused at once where it ended");
    until_status(&b, &session, 401, "the other replica refuses the ended session").await;

    let token =
        cluster.admin.call(a, Method::POST, "/api/v1/tokens", Some(json!({ "name": "ci", "role": "viewer" })), 201);
    let token = token.await;
    let (id, secret) = (token["id"].as_i64().unwrap(), token["token"].as_str().unwrap().to_owned());
    assert_eq!(me(&b, &secret).await, 200);
    cluster.admin.call(&b, Method::DELETE, &format!("/api/v1/tokens/{id}"), None, 204).await;
    until_status(a, &secret, 401, "the first replica refuses the revoked token").await;
}
