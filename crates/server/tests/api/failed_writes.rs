//! A write that fails half-way changes nothing: the database refuses one of its statements (a trigger
//! injected by the test), and every statement before it is rolled back with it — the object, the other
//! environments' configs, their revisions, the change log and the audit log.

use serde_json::json;
use sqlx::{AnyConnection, Connection, Row};

use crate::both;
use crate::helpers::{Db, TestApp};

both!(failed_environment_creation_changes_nothing, failed_flag_creation_changes_nothing);

/// Makes every insertion of a flag config in `environment` fail.
async fn fail_config_inserts(app: &TestApp, db: Db, environment: &str) {
    let statements = match db {
        Db::Sqlite => vec![format!(
            "CREATE TRIGGER fail_configs BEFORE INSERT ON flag_configs WHEN NEW.environment = '{environment}' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        Db::Postgres => vec![
            "CREATE FUNCTION fail_configs() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER fail_configs BEFORE INSERT ON flag_configs FOR EACH ROW \
                 WHEN (NEW.environment = '{environment}') EXECUTE FUNCTION fail_configs()"
            ),
        ],
    };
    let mut conn = connect(app).await;
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await.expect("trigger created");
    }
}

async fn stop_failing(app: &TestApp) {
    let mut conn = connect(app).await;
    sqlx::raw_sql("DROP TRIGGER fail_configs ON flag_configs").execute(&mut conn).await.ok();
    sqlx::raw_sql("DROP TRIGGER fail_configs").execute(&mut conn).await.ok();
}

async fn connect(app: &TestApp) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(&app.database.url).await.expect("direct connection to the test database")
}

/// Rows in a table, straight from the database.
async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&mut connect(app).await).await.unwrap();
    row.try_get("n").unwrap()
}

/// Creates a boolean flag through the API; returns the status.
async fn create_flag(app: &TestApp, key: &str) -> u16 {
    app.post("/api/v1/flags", json!({ "key": key, "kind": "boolean" })).await.status.as_u16()
}

/// Everything a write could have touched, to compare before and after.
async fn footprint(app: &TestApp) -> Vec<i64> {
    let mut all = Vec::new();
    for table in ["environments", "flags", "flag_configs", "flag_config_versions", "change_log", "audit_log"] {
        all.push(count(app, table).await);
    }
    let environments = app.get("/api/v1/environments").await.expect(200).body;
    for env in environments["items"].as_array().unwrap() {
        all.push(env["revision"].as_i64().unwrap());
        all.push(env["version"].as_i64().unwrap());
    }
    all
}

/// Creating an environment gives every flag its initial config there; when that fails, the environment is
/// not created either.
async fn failed_environment_creation_changes_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    assert_eq!(create_flag(&app, "checkout").await, 201);
    fail_config_inserts(&app, db, "staging").await;
    let before = footprint(&app).await;

    let failed = app.post("/api/v1/environments", json!({ "key": "staging" })).await.expect(500);
    assert_eq!(failed.body["detail"], "internal error", "the cause is logged, not shown");
    assert_eq!(footprint(&app).await, before);
    app.get("/api/v1/environments/staging").await.expect(404);
    assert!(app.state().snapshots.get("staging").is_none());

    stop_failing(&app).await;
    app.environment("staging").await;
    let staging = app.state().snapshots.get("staging").expect("staging is in the snapshots");
    assert_eq!(staging.compiled.flag_keys().collect::<Vec<_>>(), ["checkout"]);
}

/// Creating a flag writes its config in every environment; when the second fails, the first is undone.
async fn failed_flag_creation_changes_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    fail_config_inserts(&app, db, "staging").await;
    let before = footprint(&app).await;
    let revision = app.state().snapshots.get("production").unwrap().revision();

    assert_eq!(create_flag(&app, "checkout").await, 500);
    assert_eq!(footprint(&app).await, before);
    assert_eq!(app.state().store.count_audit("flag.").await.unwrap(), 0);
    app.state().snapshots.refresh_all().await.unwrap();
    let production = app.state().snapshots.get("production").unwrap();
    assert_eq!(production.revision(), revision);
    assert!(production.compiled.is_empty());

    stop_failing(&app).await;
    assert_eq!(create_flag(&app, "checkout").await, 201);
    for env in ["production", "staging"] {
        assert_eq!(app.state().snapshots.get(env).unwrap().compiled.len(), 1, "{env}");
    }
}
