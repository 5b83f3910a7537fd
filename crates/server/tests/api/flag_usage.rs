//! Last seen and staleness: evaluations through the server (`/api/v1/evaluate`, OFREP) and exposures
//! reported by SDKs move a flag's `last_seen` in the environment they happened in, after the periodic flush
//! and never per evaluation; flags unused or rolled out for `--stale-after-days` are listed as cleanup
//! candidates (`GET /flags?status=`) and counted in a gauge per environment.

use std::time::Duration;

use pennon_server::app::config::ServeConfig;
use pennon_server::store::{UsageRow, now_millis};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::both;
use crate::flag_setup::{boolean_flag, configure};
use crate::helpers::{Db, Reply, TestApp, TestDatabase};
use crate::sse::{bearer, sdk_key};

both!(
    evaluations_and_exposures_move_last_seen,
    cleanup_candidates_are_listed,
    evaluations_write_nothing_until_the_flush
);

const DAY: i64 = 86_400_000;

/// A server whose own flusher stays out of the way: the tests flush when they mean to.
async fn app(db: Db) -> TestApp {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.metrics_flush_interval = Duration::from_hours(1);
    TestApp::spawn_with(database, config).await
}

async fn flush(app: &TestApp) -> usize {
    let state = app.state();
    pennon_server::ingest::usage::flush(&state.metrics.usage, &state.store, now_millis()).await.expect("written")
}

async fn sql(app: &TestApp, statement: &'static str, bind: i64) {
    let mut conn = sqlx::AnyConnection::connect(&app.database.url).await.expect("connect");
    sqlx::query(statement).bind(bind).execute(&mut conn).await.expect("statement");
    conn.close().await.expect("close");
}

async fn count_rows(app: &TestApp, table: &str) -> i64 {
    let mut conn = sqlx::AnyConnection::connect(&app.database.url).await.expect("connect");
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&mut conn)
        .await
        .expect("count");
    conn.close().await.expect("close");
    n
}

async fn evaluate(app: &TestApp, flag: &str) -> Reply {
    let body = json!({ "flag": flag, "context": { "key": "user-1" } });
    app.call(Method::POST, "/api/v1/evaluate", Some(body), &[("x-pennon-environment", "production")]).await.expect(200)
}

async fn usage(app: &TestApp, flag: &str) -> Value {
    app.get(&format!("/api/v1/flags/{flag}")).await.expect(200).body["usage"].clone()
}

async fn evaluations_and_exposures_move_last_seen(db: Db) {
    let app = app(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    for key in ["served", "by-ofrep", "by-sdk", "never"] {
        boolean_flag(&app, key).await;
    }
    for _ in 0..3 {
        evaluate(&app, "served").await;
    }
    let context = json!({ "context": { "targetingKey": "user-1" } });
    for _ in 0..2 {
        let headers = [("x-pennon-environment", "production")];
        app.call(Method::POST, "/ofrep/v1/evaluate/flags/by-ofrep", Some(context.clone()), &headers).await.expect(200);
    }
    let key = sdk_key(&app, "production", "server").await;
    let batch = json!({ "exposures": [{ "flag": "by-sdk", "variant": "off", "count": 7 }], "metrics": [] });
    app.call(Method::POST, "/api/v1/sdk/metrics", Some(batch), &[("authorization", &bearer(&key))]).await.expect(202);

    assert_eq!(usage(&app, "served").await["last_seen"], Value::Null, "nothing is written before the flush");
    assert_eq!(flush(&app).await, 3, "one row per flag and environment");

    for (flag, evaluations) in [("served", 3), ("by-ofrep", 2), ("by-sdk", 7)] {
        let usage = usage(&app, flag).await;
        let production = &usage["environments"]["production"];
        assert_eq!(production["evaluations_24h"], evaluations, "{flag}: {usage}");
        assert_eq!(production["evaluations_7d"], evaluations, "{flag}: {usage}");
        let seen = production["last_seen"].as_str().expect("a time");
        assert!(seen.ends_with(":00.000Z"), "to the minute: {seen}");
        assert_eq!(usage["last_seen"], seen);
        assert!(usage["environments"].get("staging").is_none(), "not evaluated in staging: {usage}");
        assert_eq!(usage["cleanup"], json!([]), "a new flag is no cleanup candidate");
    }
    let never = usage(&app, "never").await;
    assert_eq!((never["last_seen"].clone(), never["environments"].clone()), (Value::Null, json!({})));

    evaluate(&app, "served").await;
    flush(&app).await;
    assert_eq!(usage(&app, "served").await["environments"]["production"]["evaluations_24h"], 4, "counts add up");

    let list = app.get("/api/v1/flags?environments=true").await.expect(200).body;
    let item = |key: &str| list["items"].as_array().unwrap().iter().find(|f| f["key"] == key).unwrap().clone();
    assert!(item("served")["last_seen"].is_string(), "{list}");
    assert_eq!(item("never")["last_seen"], Value::Null);
    assert_eq!(item("never")["cleanup"], json!([]));
    assert!(app.get("/api/v1/flags").await.expect(200).body["items"][0].get("last_seen").is_none());

    // A deleted flag's usage goes with it: created again under its key, it starts unseen.
    app.post("/api/v1/flags/served/archive", json!({})).await.expect(200);
    app.delete("/api/v1/flags/served").await.expect(204);
    boolean_flag(&app, "served").await;
    let again = usage(&app, "served").await;
    assert_eq!((again["last_seen"].clone(), again["environments"].clone()), (Value::Null, json!({})), "{again}");
}

fn keys(list: &Value) -> Vec<&str> {
    list["items"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect()
}

async fn cleanup_candidates_are_listed(db: Db) {
    let app = app(db).await;
    app.environment("production").await;
    app.environment("staging").await;
    for key in ["active", "fresh", "rolled", "seen-long-ago", "unused"] {
        boolean_flag(&app, key).await;
    }
    let on = json!({ "enabled": true, "off_variant": "off", "default": { "variant": "on" } });
    for env in ["production", "staging"] {
        configure(&app, "rolled", env, on.clone()).await;
    }
    configure(&app, "active", "production", on.clone()).await;
    // Time passes in the database: every flag but `fresh` was made 40 days ago, and `rolled`'s configs have not
    // changed since; the others' configs changed today (the switch is off everywhere: one variant too).
    let long_ago = now_millis() - 40 * DAY;
    sql(&app, "UPDATE flags SET created_at = $1 WHERE key <> 'fresh'", long_ago).await;
    sql(&app, "UPDATE flag_configs SET updated_at = $1 WHERE flag = 'rolled'", long_ago).await;
    let store = &app.state().store;
    let row = |flag: &str| UsageRow { environment: "production".into(), flag: flag.into(), evaluations: 5 };
    store.record_usage(&[row("seen-long-ago")], now_millis() - 31 * DAY).await.unwrap();
    store.record_usage(&[row("active"), row("rolled")], now_millis()).await.unwrap();

    let listed = |status: &'static str| {
        let app = &app;
        async move { app.get(&format!("/api/v1/flags?status={status}")).await.expect(200).body }
    };
    assert_eq!(keys(&listed("unused").await), ["seen-long-ago", "unused"]);
    assert_eq!(keys(&listed("rolled_out").await), ["rolled"]);
    assert_eq!(keys(&listed("stale").await), ["rolled", "seen-long-ago", "unused"]);
    let stale = listed("stale").await;
    assert_eq!(stale["items"][0]["cleanup"], json!(["rolled_out"]));
    assert_eq!(stale["items"][2]["cleanup"], json!(["unused"]));
    assert_eq!(usage(&app, "rolled").await["cleanup"], json!(["rolled_out"]));
    let paged = app.get("/api/v1/flags?status=stale&limit=2").await.expect(200).body;
    assert_eq!(keys(&paged), ["rolled", "seen-long-ago"]);
    let cursor = paged["next_cursor"].as_str().expect("a next page").to_owned();
    let next = app.get(&format!("/api/v1/flags?status=stale&limit=2&cursor={cursor}")).await.expect(200).body;
    assert_eq!(keys(&next), ["unused"]);

    let bad = app.get("/api/v1/flags?status=old").await.expect(400);
    assert!(bad.body["detail"].as_str().unwrap().contains("status"), "{}", bad.body);

    // The gauge, per environment: in production `active` and `rolled` were seen today, but `rolled` serves one
    // variant there unchanged for 40 days; in staging nothing was ever seen.
    let metrics = &app.state().metrics;
    pennon_server::ingest::usage::update_gauge(metrics, store, now_millis(), 30 * DAY).await.unwrap();
    let scraped = app.get("/metrics").await.expect(200).body;
    let scraped = scraped.as_str().unwrap();
    let gauge = |env: &str| {
        let prefix = format!("pennon_flag_cleanup_candidates{{environment=\"{env}\"}} ");
        scraped.lines().find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
    };
    assert_eq!(gauge("production").as_deref(), Some("3"), "{scraped}");
    assert_eq!(gauge("staging").as_deref(), Some("4"), "{scraped}");
}

/// 10,000 evaluations (100 bulk OFREP requests over 100 flags) write nothing to the database: the usage tables
/// stay empty until the flush, which then writes one row per flag and environment in each.
/// Makes the database count the statements that write (PostgreSQL: a statement-level trigger on every table)
/// or the rows written (SQLite, whose triggers are per row) into `test_writes`.
async fn count_writes(app: &TestApp, db: Db) {
    let mut conn = sqlx::AnyConnection::connect(&app.database.url).await.expect("connect");
    let tables: Vec<String> = match db {
        Db::Postgres => sqlx::query_scalar("SELECT tablename::TEXT FROM pg_tables WHERE schemaname = current_schema()"),
        Db::Sqlite => {
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        }
    }
    .fetch_all(&mut conn)
    .await
    .expect("tables");
    let mut statements = vec![
        "CREATE TABLE test_writes (n BIGINT NOT NULL)".to_owned(),
        "INSERT INTO test_writes VALUES (0)".to_owned(),
    ];
    if db == Db::Postgres {
        statements.push(
            "CREATE FUNCTION test_count_write() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN UPDATE test_writes SET n = n + 1; RETURN NULL; END $$"
                .to_owned(),
        );
    }
    for table in &tables {
        for event in ["INSERT", "UPDATE", "DELETE"] {
            statements.push(match db {
                Db::Postgres => format!(
                    "CREATE TRIGGER test_count_{event} AFTER {event} ON \"{table}\" \
                     FOR EACH STATEMENT EXECUTE FUNCTION test_count_write()"
                ),
                Db::Sqlite => format!(
                    "CREATE TRIGGER \"test_count_{table}_{event}\" AFTER {event} ON \"{table}\" \
                     BEGIN UPDATE test_writes SET n = n + 1; END"
                ),
            });
        }
    }
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await.expect("counting installed");
    }
    conn.close().await.expect("close");
}

async fn writes(app: &TestApp) -> i64 {
    let mut conn = sqlx::AnyConnection::connect(&app.database.url).await.expect("connect");
    let n: i64 = sqlx::query_scalar("SELECT n FROM test_writes").fetch_one(&mut conn).await.expect("count");
    conn.close().await.expect("close");
    n
}

/// 10,000 evaluations (100 bulk OFREP evaluations of 100 flags) issue no write to any table; the flush then
/// writes the usage of the 100 flags in a number of statements that does not depend on the evaluations.
async fn evaluations_write_nothing_until_the_flush(db: Db) {
    let app = app(db).await;
    app.environment("production").await;
    for i in 0..100 {
        app.post("/api/v1/flags", json!({ "key": format!("flag-{i:03}"), "kind": "boolean" })).await.expect(201);
    }
    count_writes(&app, db).await;
    let context = json!({ "context": { "targetingKey": "user-1" } });
    for _ in 0..100 {
        let headers = [("x-pennon-environment", "production")];
        let answer = app.call(Method::POST, "/ofrep/v1/evaluate/flags", Some(context.clone()), &headers).await;
        assert_eq!(answer.expect(200).body["flags"].as_array().unwrap().len(), 100);
    }
    assert_eq!(writes(&app).await, 0, "10,000 evaluations wrote to the database");
    assert_eq!(count_rows(&app, "flag_last_seen").await, 0);
    assert_eq!(count_rows(&app, "flag_usage_hours").await, 0);
    assert_eq!(flush(&app).await, 100);
    let flushed = writes(&app).await;
    match db {
        // The statements of one flush: a handful, whatever the flags and evaluations.
        Db::Postgres => assert!((1..=4).contains(&flushed), "the flush issued {flushed} writing statements"),
        // Rows: one per flag in each of the two usage tables.
        Db::Sqlite => assert_eq!(flushed, 200, "rows written by the flush"),
    }
    assert_eq!(count_rows(&app, "flag_last_seen").await, 100);
    assert_eq!(count_rows(&app, "flag_usage_hours").await, 100);
    let usage = usage(&app, "flag-042").await;
    assert_eq!(usage["environments"]["production"]["evaluations_24h"], 100, "{usage}");
    assert_eq!(flush(&app).await, 0, "nothing new, nothing written");
    assert_eq!(writes(&app).await, flushed, "an empty flush writes nothing");
}
