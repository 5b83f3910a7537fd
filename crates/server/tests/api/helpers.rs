//! The test harness: a real server on 127.0.0.1 over a fresh database per test, driven over real HTTP.
//!
//! Every behaviour test is written once as `async fn name(db: Db)` and run against both databases with
//! `both!(name);`. The databases come from `pennon-tests`: PostgreSQL tests create their own database on the
//! server named by `PENNON_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and drop it
//! afterwards, even when the test fails. They fail loudly when that server cannot be reached.

use pennon_server::app::config::ServeConfig;
use pennon_server::app::startup::{RunningServer, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use pennon_tests::database::{Db, TestDatabase};
pub use pennon_tests::until_next_metric_bucket;

/// Runs a test body once per database, as `mod name { fn sqlite(); fn postgres(); }`.
#[macro_export]
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Db::Postgres).await
            }
        }
    )+};
}

/// A server on a fresh database, and an HTTP client for it.
pub struct TestApp {
    pub server: Option<RunningServer>,
    pub base: String,
    pub client: reqwest::Client,
    pub config: ServeConfig,
    /// A session token of the first admin; sent with every request that does not bring its own
    /// `authorization` header.
    pub admin_token: String,
    // Declared last: dropped after the server.
    pub database: TestDatabase,
}

/// The first admin every test server starts with.
pub const ADMIN_EMAIL: &str = "admin@pennon.test";
/// Their password.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A response: status, headers and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub async fn spawn(db: Db) -> Self {
        let database = TestDatabase::new(db).await;
        let config = ServeConfig::for_database(&database.url);
        Self::spawn_with(database, config).await
    }

    pub async fn spawn_with(database: TestDatabase, mut config: ServeConfig) -> Self {
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(ADMIN_PASSWORD.into());
        let server = spawn(config.clone()).await.expect("server starts");
        let base = server.url();
        let mut app = TestApp {
            server: Some(server),
            base,
            client: reqwest::Client::new(),
            config,
            admin_token: String::new(),
            database,
        };
        app.admin_token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app
    }

    /// Signs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let reply = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({ "email": email, "password": password })),
                &[("authorization", "")],
            )
            .await
            .expect(200);
        reply.body["token"].as_str().expect("a token").to_owned()
    }

    /// Stops the server and starts a new one on the same database (and, when free, the same port).
    pub async fn restart(&mut self) {
        let server = self.server.take().expect("running");
        let addr = server.addr;
        server.shutdown().await;
        let mut config = self.config.clone();
        config.listen = addr;
        let server = if let Ok(server) = spawn(config.clone()).await {
            server
        } else {
            config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            spawn(config).await.expect("server restarts")
        };
        self.base = server.url();
        self.server = Some(server);
    }

    pub fn state(&self) -> &pennon_server::app::state::AppState {
        &self.server.as_ref().expect("running").state
    }

    /// Sends a request with an optional JSON body and extra headers.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        let own_credential = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if !own_credential {
            req = req.bearer_auth(&self.admin_token);
        }
        // An empty `authorization` value means: send no credential at all.
        for (name, value) in headers.iter().filter(|(_, value)| !value.is_empty()) {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body read");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None, &[]).await
    }

    /// Creates an environment.
    pub async fn environment(&self, key: &str) -> Value {
        self.post("/api/v1/environments", json!({ "key": key })).await.expect(201).body
    }

    /// Creates a metric (`rate` or `mean`) that guards may name; one that exists already is left as it is.
    pub async fn metric(&self, key: &str, kind: &str) {
        let reply =
            self.post("/api/v1/metrics", json!({ "key": key, "kind": kind, "direction": "lower_is_better" })).await;
        assert!(matches!(reply.status.as_u16(), 201 | 409), "metric {key}: {}", reply.body);
    }
}
