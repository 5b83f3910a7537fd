//! A database made for one test and removed afterwards.
//!
//! PostgreSQL databases are created on the server named by `PENNON_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and dropped when the [`TestDatabase`] is dropped, even when the
//! test fails. Tests fail loudly when that server cannot be reached. SQLite databases live in a temporary
//! directory.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on: `PENNON_TEST_DATABASE_URL`, or the local default.
pub fn admin_url() -> String {
    std::env::var("PENNON_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database made for one test, removed when dropped.
pub struct TestDatabase {
    /// Its URL, for `DATABASE_URL`.
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(db: Db) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("pennon.db").display());
                TestDatabase { url, postgres_name: None, _dir: Some(dir) }
            }
            Db::Postgres => {
                let name = format!(
                    "pennon_t_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    rand::random::<u32>()
                );
                let admin = admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL tests need a server at {admin} (set PENNON_TEST_DATABASE_URL): {e}")
                });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_owned();
                TestDatabase { url: format!("{base}/{name}"), postgres_name: Some(name), _dir: None }
            }
        }
    }

    /// The PostgreSQL database's name (`None` for SQLite).
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres_name.as_deref()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        let admin = admin_url();
        // Drop runs outside async context (possibly while unwinding): use a runtime of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}
