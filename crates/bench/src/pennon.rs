//! A real Pennon server for the benchmark: started in-process on 127.0.0.1 over a fresh SQLite database,
//! with one environment of fifty flags, each with three rules and a percentage split (the shape of the
//! engine's `evaluate_all/50_flags` benchmark), written through the store like any change, and a server SDK
//! key to evaluate with.

use bytes::Bytes;
use pennon_engine::{Flag, FlagConfig};
use pennon_server::app::config::ServeConfig;
use pennon_server::app::startup::RunningServer;
use pennon_server::auth::secrets;
use pennon_server::store::{Actor, KeyKind, NewEnvironment, StoreError};
use serde_json::{Value, json};

/// The environment the benchmark evaluates in.
pub const ENVIRONMENT: &str = "bench";

/// How many flags it holds.
pub const FLAGS: usize = 50;

/// The evaluation endpoint.
pub const PATH: &str = "/api/v1/evaluate";

/// The web origin the environment allows: browser requests come from it.
pub const ORIGIN: &str = "https://app.example.com";

/// A running server and the database it owns.
pub struct Pennon {
    /// The server.
    pub server: RunningServer,
    /// A server SDK key of the environment, as `Bearer ...`.
    pub authorization: String,
    /// A client SDK key of the environment (the browser's), as `Bearer ...`.
    pub client_authorization: String,
    _dir: tempfile::TempDir,
}

/// Starts the server on the current runtime and fills the environment.
pub async fn start() -> anyhow::Result<Pennon> {
    start_with(|_| {}).await
}

/// Like [`start`], with settings adjusted first.
pub async fn start_with(adjust: impl FnOnce(&mut ServeConfig)) -> anyhow::Result<Pennon> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("pennon.db").display());
    let mut settings = ServeConfig::for_database(&url);
    adjust(&mut settings);
    let server = pennon_server::app::startup::spawn(settings).await?;
    let (store, actor) = (&server.state.store, Actor::system("bench"));
    let env = NewEnvironment {
        key: ENVIRONMENT.into(),
        name: "Benchmark".into(),
        production: false,
        allowed_origins: vec![ORIGIN.into()],
        position: None,
    };
    store.create_environment(&env, &actor).await?;
    for i in 0..FLAGS {
        let flag: Flag = serde_json::from_value(json!({
            "key": flag_key(i), "kind": "boolean", "salt": format!("a7f3c9e1b5d20846{i:02}"),
            "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }]
        }))?;
        store.create_flag(&flag, &actor).await?;
        store
            .update_config(&flag.key, ENVIRONMENT, None, "config.replace", &actor, |_, current| {
                serde_json::from_value::<FlagConfig>(config(&flag.key, current.version))
                    .map_err(|e| StoreError::Conflict(e.to_string()))
            })
            .await?;
    }
    let authorization = format!("Bearer {}", create_key(&server, ENVIRONMENT, KeyKind::Server).await?);
    let client_authorization = format!("Bearer {}", create_key(&server, ENVIRONMENT, KeyKind::Client).await?);
    server.state.auth.keys.reload(store).await?;
    server.state.snapshots.refresh_all().await?;
    Ok(Pennon { server, authorization, client_authorization, _dir: dir })
}

/// Creates an SDK key of `kind` in `environment` and returns it. The server knows it once its keys are
/// reloaded (`state.auth.keys.reload`).
pub async fn create_key(server: &RunningServer, environment: &str, kind: KeyKind) -> anyhow::Result<String> {
    let prefix = if kind == KeyKind::Client { secrets::CLIENT_KEY_PREFIX } else { secrets::SERVER_KEY_PREFIX };
    let secret = secrets::generate(prefix);
    let (hash, shown) = (secrets::hash(&secret), secrets::display_prefix(&secret));
    server.state.store.create_sdk_key(environment, kind, "bench", &hash, &shown, &Actor::system("bench")).await?;
    Ok(secret)
}

/// The key of the `i`th flag.
pub fn flag_key(i: usize) -> String {
    format!("flag-{i:02}")
}

/// The benchmark flag's config ([`crate::fixture`]) for `flag` in the benchmark's environment.
fn config(flag: &str, version: u64) -> Value {
    crate::fixture::config(flag, ENVIRONMENT, version)
}

/// `n` request bodies, each for another user (UUID-like keys) with the same five attributes, which fail
/// every rule on its last condition so that every condition is tried before the split buckets the user.
/// With `flag`, the request asks for that flag; without, for every flag.
pub fn bodies(n: usize, flag: Option<&str>) -> Vec<Bytes> {
    let attributes = crate::fixture::attributes();
    (0..n)
        .map(|i| {
            let mut body = json!({
                "environment": ENVIRONMENT,
                "context": { "key": format!("3f2b8c1e-9d4a-4e7b-a5c6-{i:012x}"), "attributes": attributes }
            });
            if let Some(flag) = flag {
                body["flag"] = json!(flag);
            }
            Bytes::from(body.to_string())
        })
        .collect()
}
