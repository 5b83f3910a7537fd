//! An SDK key revoked through one replica: the streams opened with it on another replica end when that one
//! next reloads its keys (its refresh interval, one second here), not when they happen to reconnect.

use std::time::Duration;

use reqwest::Method;

use crate::cluster::{Cluster, PATIENCE, Replica};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_replica_ends_its_streams_on_another() {
    let cluster = Cluster::start().await;
    let other =
        Replica::start_with(&cluster.database.url, |config| config.refresh_interval = Duration::from_secs(1)).await;
    let keys = cluster.admin.call(&cluster.first, Method::GET, "/api/v1/environments/production/keys", None, 200).await;
    let id = keys["items"][0]["id"].as_i64().expect("the key's id");

    let mut stream = reqwest::Client::new()
        .get(format!("{}/api/v1/sdk/stream", other.url()))
        .bearer_auth(&cluster.key)
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.expect("the stream reads");
    assert!(first.is_some(), "the stream sends its opening");

    let path = format!("/api/v1/environments/production/keys/{id}");
    cluster.admin.call(&cluster.first, Method::DELETE, &path, None, 204).await;
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream on the other replica is still open");
}
