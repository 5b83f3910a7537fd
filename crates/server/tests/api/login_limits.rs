//! Login throttling that slows guessing down but cannot lock the owner out: failures from one address slow
//! that address down, and the right password from an address that has not been failing still signs in.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Db, TestApp};

both!(guessing_from_one_address_does_not_lock_the_owner_out);

/// A client whose connections come from `127.0.0.<last>` (every loopback address reaches the server).
fn client_from(last: u8) -> reqwest::Client {
    let address = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
    reqwest::Client::builder().local_address(address).build().unwrap()
}

async fn login(app: &TestApp, client: &reqwest::Client, password: &str) -> (u16, Option<String>, Value) {
    let url = format!("{}/api/v1/auth/login", app.base);
    let res = client.post(url).json(&json!({ "email": ADMIN_EMAIL, "password": password })).send().await.unwrap();
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

async fn guessing_from_one_address_does_not_lock_the_owner_out(db: Db) {
    let app = TestApp::spawn(db).await;
    let attacker = client_from(2);
    let mut slowed = 0;
    for _ in 0..10 {
        let (status, retry, body) = login(&app, &attacker, "guess-guess-guess").await;
        assert!(status == 401 || status == 429, "{status} {body}");
        if status == 429 {
            slowed += 1;
            assert!(retry.is_some_and(|s| s.parse::<u64>().unwrap() > 0));
            assert_eq!(body["type"], "/problems/too-many-requests");
        }
    }
    assert!(slowed > 0, "guessing from one address is slowed down");

    let owner = client_from(3);
    let (status, _, body) = login(&app, &owner, ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "the owner signs in from another address: {body}");
    assert!(body["token"].is_string());

    // The guessing address is still slowed down, even with the right password.
    let (status, retry, _) = login(&app, &attacker, ADMIN_PASSWORD).await;
    assert_eq!(status, 429);
    assert!(retry.is_some());
}
