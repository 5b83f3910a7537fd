//! The harness: server replicas (the real server, in this process, each on its own port) sharing one fresh
//! PostgreSQL database, the admin API over HTTP, and SDK clients.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pennon_sdk::{Client, ClientBuilder, FlagChange};
use pennon_server::app::config::ServeConfig;
use pennon_server::app::startup::{RunningServer, spawn};
use pennon_tests::database::{Db, TestDatabase};
use reqwest::Method;
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "admin@pennon.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// How long any awaited condition may take before the test fails. Generous: the machine may be busy.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Anything serving the API: a replica in this process, or a server process.
pub trait Server {
    /// Its base URL, `http://127.0.0.1:port`.
    fn url(&self) -> String;
}

/// One server replica. It keeps its port across [`stop`](Self::stop) and [`start`](Self::start).
pub struct Replica {
    server: Option<RunningServer>,
    config: ServeConfig,
    addr: SocketAddr,
}

impl Replica {
    /// Starts a replica on `database_url`. Its periodic refresh (the safety net) is set out of reach, so that
    /// changes can only arrive the way under test: LISTEN/NOTIFY and catching up by revision.
    pub async fn start_on(database_url: &str) -> Self {
        Self::start_with(database_url, |_| {}).await
    }

    /// [`start_on`](Self::start_on), with settings changed by `adjust`.
    pub async fn start_with(database_url: &str, adjust: impl FnOnce(&mut ServeConfig)) -> Self {
        let mut config = ServeConfig::for_database(database_url);
        config.database.db_max_connections = 4;
        config.refresh_interval = Duration::from_hours(1);
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(ADMIN_PASSWORD.into());
        adjust(&mut config);
        let server = spawn(config.clone()).await.expect("a replica starts");
        let addr = server.addr;
        config.listen = addr;
        Replica { server: Some(server), config, addr }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The revision of `environment` this replica serves.
    pub fn revision(&self, environment: &str) -> Option<u64> {
        let server = self.server.as_ref().expect("the replica runs");
        server.state.snapshots.get(environment).map(|s| s.revision())
    }

    /// Stops the replica: it stops listening and its streams end; clients see the connection go away and
    /// then be refused.
    pub async fn stop(&mut self) {
        self.server.take().expect("the replica runs").shutdown().await;
    }

    /// Starts the replica again on the same port (retrying briefly while the port is still held).
    pub async fn start(&mut self) {
        assert!(self.server.is_none(), "the replica already runs");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match spawn(self.config.clone()).await {
                Ok(server) => {
                    self.server = Some(server);
                    return;
                }
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "the replica cannot start again on {}: {e:#}",
                        self.addr
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

impl Server for Replica {
    fn url(&self) -> String {
        Replica::url(self)
    }
}

/// The admin API, signed in as the first admin.
pub struct Admin {
    http: reqwest::Client,
    token: String,
}

impl Admin {
    pub async fn sign_in(replica: &impl Server) -> Self {
        let http = reqwest::Client::new();
        let login = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
        let reply = http.post(format!("{}/api/v1/auth/login", replica.url())).json(&login).send().await.unwrap();
        assert_eq!(reply.status(), 200, "signing in");
        let body: Value = reply.json().await.unwrap();
        Admin { http, token: body["token"].as_str().expect("a session token").to_owned() }
    }

    /// Calls the admin API of `replica` and asserts the status.
    pub async fn call(
        &self,
        replica: &impl Server,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", replica.url())).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the request is sent");
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{path} on {}: {text}", replica.url());
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The environment `production`, a boolean flag `checkout` serving `off` to everyone there, and a server
    /// SDK key of `production`, which is returned.
    pub async fn set_up(&self, replica: &impl Server) -> String {
        self.call(replica, Method::POST, "/api/v1/environments", Some(json!({ "key": "production" })), 201).await;
        let flag = json!({ "key": "checkout", "kind": "boolean" });
        self.call(replica, Method::POST, "/api/v1/flags", Some(flag), 201).await;
        self.serve(replica, "checkout", "off").await;
        let key = json!({ "kind": "server", "name": "end-to-end" });
        let key = self.call(replica, Method::POST, "/api/v1/environments/production/keys", Some(key), 201).await;
        key["key"].as_str().expect("the new key").to_owned()
    }

    /// Through `replica`: `flag` (boolean) serves `variant` (`on` or `off`) to everyone in production.
    /// Returns the config's new version.
    pub async fn serve(&self, replica: &impl Server, flag: &str, variant: &str) -> u64 {
        let path = format!("/api/v1/flags/{flag}/environments/production");
        let config = json!({ "enabled": true, "off_variant": "off", "default": { "variant": variant } });
        let saved = self.call(replica, Method::PUT, &path, Some(config), 200).await;
        saved["version"].as_u64().unwrap_or_else(|| panic!("a config version in {saved}"))
    }

    /// Through `replica`: a new boolean flag serving `on` in production. Returns its config's version.
    pub async fn new_flag(&self, replica: &impl Server, flag: &str) -> u64 {
        let body = json!({ "key": flag, "kind": "boolean" });
        self.call(replica, Method::POST, "/api/v1/flags", Some(body), 201).await;
        self.serve(replica, flag, "on").await
    }
}

/// A fresh PostgreSQL database with the first replica on it, the admin signed in and [`Admin::set_up`] done.
/// Further replicas start after the set-up, so they load the SDK key when they start.
pub struct Cluster {
    pub admin: Admin,
    pub key: String,
    pub first: Replica,
    // Declared last: dropped after the replicas that use it.
    pub database: TestDatabase,
}

impl Cluster {
    pub async fn start() -> Self {
        let database = TestDatabase::new(Db::Postgres).await;
        Self::start_with(database, None).await
    }

    /// The first replica reaches the database at `first_url` (e.g. through a proxy) instead of directly.
    pub async fn start_with(database: TestDatabase, first_url: Option<&str>) -> Self {
        let first = Replica::start_on(first_url.unwrap_or(&database.url)).await;
        let admin = Admin::sign_in(&first).await;
        let key = admin.set_up(&first).await;
        Cluster { admin, key, first, database }
    }

    /// Another replica on the same database.
    pub async fn replica(&self) -> Replica {
        Replica::start_on(&self.database.url).await
    }
}

/// An SDK client of `replica` with short reconnection delays and polling intervals, sending no events.
pub fn client(replica: &impl Server, key: &str) -> ClientBuilder {
    Client::builder(replica.url(), key)
        .reconnect_delays(Duration::from_millis(20), Duration::from_millis(200))
        .poll_interval(Duration::from_millis(200))
        .request_timeout(Duration::from_secs(5))
        .events(false)
}

/// Builds the client and waits until it holds the server's flags.
pub async fn ready(builder: ClientBuilder) -> Client {
    let client = builder.build().await.expect("the client builds");
    client.wait_until_ready(PATIENCE).await.expect("the client gets the flags");
    client
}

/// A change a listener heard: the flag and its new config version (`None`: gone).
pub type Change = (String, Option<u64>);

/// What a client's change listener heard, in order.
#[derive(Clone, Default)]
pub struct Heard(Arc<Mutex<Vec<Change>>>);

impl Heard {
    pub fn listen(client: &Client) -> Self {
        let heard = Heard::default();
        let sink = heard.0.clone();
        client.on_change(move |change: &FlagChange| {
            sink.lock().unwrap().push((change.key.clone(), change.new_version));
        });
        heard
    }

    pub fn all(&self) -> Vec<Change> {
        self.0.lock().unwrap().clone()
    }

    /// Whether the listener heard `flag` change to config `version`.
    pub fn has(&self, flag: &str, version: u64) -> bool {
        self.0.lock().unwrap().iter().any(|(key, v)| key == flag && *v == Some(version))
    }

    /// Waits until the listener has heard `flag` change to config `version`, failing with what it heard after
    /// [`PATIENCE`]. The SDK calls listeners just after it swaps the new flags in, so a client can already serve
    /// a change its listeners have not been told of yet.
    pub async fn hears(&self, flag: &str, version: u64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.has(flag, version) {
            assert!(tokio::time::Instant::now() < deadline, "never heard {flag} v{version}: {:?}", self.all());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
