//! Every statement the server runs for a config write reads what the write needs through an index, never a
//! whole table that grows with the flags: the statements are taken from the server itself (sqlx's query
//! events) while it serves real writes on SQLite, then SQLite is asked how it runs each one
//! (`EXPLAIN QUERY PLAN`) on the same database.
//!
//! A test binary of its own: it installs the process's tracing subscriber.

#[path = "api/helpers.rs"]
#[allow(dead_code, unused_imports, unused_macros)]
mod helpers;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::Method;
use serde_json::json;
use sqlx::{Connection as _, Row as _};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt as _;

use helpers::{Db, TestApp};

/// Tables a write may read whole: they grow with what an admin configures, never with the flags.
const SMALL_TABLES: &[&str] = &["environments", "webhooks", "settings"];

static RECORDING: AtomicBool = AtomicBool::new(false);
static STATEMENTS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Keeps the text of every statement sqlx runs while [`RECORDING`] is set.
struct Statements;

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" && RECORDING.load(Ordering::SeqCst) {
            event.record(&mut StatementField);
        }
    }
}

struct StatementField;

impl Visit for StatementField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "db.statement" {
            STATEMENTS.lock().unwrap().insert(value.trim().to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "db.statement" {
            let text = format!("{value:?}");
            STATEMENTS.lock().unwrap().insert(text.trim().to_owned());
        }
    }
}

/// Whether a line of a query plan reads a whole table that grows with the flags, or all of one environment's
/// rows of it (an index searched by the environment alone).
fn reads_whole(detail: &str) -> bool {
    let (table, searched) = match detail.split_once(' ') {
        Some(("SCAN", rest)) => (rest.split_whitespace().next().unwrap_or_default(), None),
        Some(("SEARCH", rest)) => (rest.split_whitespace().next().unwrap_or_default(), detail.rsplit_once('(')),
        _ => return false,
    };
    if SMALL_TABLES.contains(&table) || table == "CONSTANT" {
        return false;
    }
    match searched {
        None => true,
        Some((_, constraints)) => constraints.trim_end_matches(')') == "environment=?",
    }
}

/// What `EXPLAIN QUERY PLAN` says of each statement that reads a table whole.
async fn full_scans(url: &str, statements: &BTreeSet<String>) -> Vec<String> {
    let mut conn = sqlx::SqliteConnection::connect(url).await.expect("the test database");
    let mut scans = Vec::new();
    for sql in statements {
        let upper = sql.to_ascii_uppercase();
        if !["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].iter().any(|verb| upper.starts_with(verb)) {
            continue;
        }
        let plan = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("explaining {sql}: {e}"));
        for row in plan {
            let detail: String = row.get("detail");
            if reads_whole(&detail) {
                scans.push(format!("{detail}\n    in: {sql}"));
            }
        }
    }
    scans
}

#[test]
fn plan_lines_that_read_everything() {
    assert!(reads_whole("SCAN segment_uses"));
    assert!(reads_whole(
        "SEARCH prerequisite_edges USING COVERING INDEX sqlite_autoindex_prerequisite_edges_1 (environment=?)"
    ));
    assert!(!reads_whole(
        "SEARCH prerequisite_edges USING COVERING INDEX by_prerequisite (prerequisite=? AND environment=?)"
    ));
    assert!(!reads_whole("SEARCH flag_configs USING INDEX sqlite_autoindex_flag_configs_1 (flag=? AND environment=?)"));
    assert!(!reads_whole("SCAN webhooks"));
    assert!(!reads_whole("USE TEMP B-TREE FOR ORDER BY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_writes_read_through_indexes() {
    let capture = tracing_subscriber::registry().with(
        Statements
            .with_filter(tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::TRACE)),
    );
    tracing::subscriber::set_global_default(capture).expect("the only subscriber of this binary");

    let app = TestApp::spawn(Db::Sqlite).await;
    app.environment("production").await;
    app.post("/api/v1/segments", json!({ "key": "staff", "included": ["u1"] })).await.expect(201);
    for i in 0..40 {
        app.post("/api/v1/flags", json!({ "key": format!("flag-{i:02}"), "kind": "boolean" })).await.expect(201);
    }
    let config = |flag: &str| format!("/api/v1/flags/{flag}/environments/production");
    let rule = json!({ "id": "r1", "conditions": [], "segments": ["staff"], "serve": { "variant": "on" } });
    for i in 0..10 {
        app.post(&format!("{}/rules", config(&format!("flag-{i:02}"))), rule.clone()).await.expect(200);
        let prerequisites = json!({ "prerequisites": [{ "flag": format!("flag-{:02}", i + 10), "variant": "on" }],
            "version": 2 });
        app.put(&format!("{}/prerequisites", config(&format!("flag-{i:02}"))), prerequisites).await.expect(200);
    }

    RECORDING.store(true, Ordering::SeqCst);
    app.call(Method::POST, &format!("{}/toggle", config("flag-30")), None, &[]).await.expect(200);
    app.call(Method::POST, &format!("{}/toggle", config("flag-15")), None, &[]).await.expect(200);
    app.post(&format!("{}/rules", config("flag-31")), rule.clone()).await.expect(200);
    let prerequisites = json!({ "prerequisites": [{ "flag": "flag-32", "variant": "on" }], "version": 2 });
    app.put(&format!("{}/prerequisites", config("flag-31")), prerequisites).await.expect(200);
    app.put("/api/v1/segments/staff", json!({ "included": ["u1", "u2"], "version": 1 })).await.expect(200);
    app.post("/api/v1/flags", json!({ "key": "flag-40", "kind": "boolean" })).await.expect(201);
    RECORDING.store(false, Ordering::SeqCst);

    let statements = std::mem::take(&mut *STATEMENTS.lock().unwrap());
    assert!(
        statements.iter().any(|s| s.starts_with("UPDATE flag_configs")),
        "the writes' statements were captured: {statements:#?}"
    );
    let scans = full_scans(&app.database.url, &statements).await;
    assert!(scans.is_empty(), "statements of a config write that read a whole table:\n{}", scans.join("\n"));
}
