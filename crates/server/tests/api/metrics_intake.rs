//! What `POST /api/v1/sdk/metrics` lets in: totals that cannot overflow either database, only metrics a guard
//! watches, only bodies that are batches; and a flush that one bad chunk cannot stop.

use std::time::Duration;

use pennon_server::app::config::ServeConfig;
use pennon_server::app::startup::spawn;
use pennon_server::store::VariantTotals;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection};

use crate::both;
use crate::flag_setup::{boolean_flag, configure, half_split};
use crate::helpers::{Db, Reply, TestApp, TestDatabase, until_next_metric_bucket};
use crate::ops::{metrics_text, sample};
use crate::sse::{bearer, sdk_key};

both!(
    sums_that_could_overflow_are_refused,
    totals_saturate_so_flushes_and_guards_keep_working,
    a_failing_chunk_is_set_aside,
    unwatched_metrics_are_dropped_and_counted,
    bodies_that_are_not_batches_are_refused
);

const METRICS: &str = "/api/v1/sdk/metrics";
/// The largest count, sum and sum of squares an entry may carry (`docs/sdk-protocol.md`).
const MAX_COUNT: u64 = 1_000_000_000_000;
const MAX_SUM: f64 = 1e18;
const MAX_SUM_SQUARES: f64 = 1e36;

/// `checkout` (50/50) and `poison` in `production`, each with an error-rate guard; no flush of its own.
async fn app_with_guards(db: Db) -> (TestApp, String) {
    let database = TestDatabase::new(db).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.metrics_flush_interval = Duration::from_hours(1);
    config.guard_interval = Duration::from_hours(1);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    app.metric("errors", "rate").await;
    for flag in ["checkout", "poison"] {
        boolean_flag(&app, flag).await;
        let config = json!({ "enabled": true, "off_variant": "off", "default": half_split("key") });
        configure(&app, flag, "production", config).await;
        let guard = json!({ "metric": "errors", "statistic": "rate", "direction": "higher_is_worse",
            "threshold": { "relative": 0.1 }, "variant": "on", "min_samples": 10 });
        app.post(&guards_of(flag), guard).await.expect(201);
    }
    let key = sdk_key(&app, "production", "server").await;
    (app, key)
}

fn guards_of(flag: &str) -> String {
    format!("/api/v1/flags/{flag}/environments/production/guards")
}

async fn send(app: &TestApp, key: &str, batch: Value) -> Reply {
    app.call(Method::POST, METRICS, Some(batch), &[("authorization", &bearer(key))]).await
}

fn entry(flag: &str, variant: &str, metric: &str, count: u64, sum: f64, sum_squares: f64) -> Value {
    json!({ "flag": flag, "variant": variant, "metric": metric, "count": count, "sum": sum, "sum_squares": sum_squares })
}

/// Exposures of both arms and `errors` of both, `n` of each.
fn errors_batch(flag: &str, n: u64) -> Value {
    json!({
        "exposures": [{ "flag": flag, "variant": "on", "count": n }, { "flag": flag, "variant": "off", "count": n }],
        "metrics": [entry(flag, "on", "errors", n, n as f64, n as f64), entry(flag, "off", "errors", n, n as f64, n as f64)]
    })
}

async fn totals(app: &TestApp, flag: &str, metric: &str) -> Vec<VariantTotals> {
    app.state().store.metric_totals("production", flag, metric, 0, i64::MAX).await.expect("totals")
}

fn arm<'a>(totals: &'a [VariantTotals], variant: &str) -> Option<&'a VariantTotals> {
    totals.iter().find(|t| t.variant == variant)
}

async fn sums_that_could_overflow_are_refused(db: Db) {
    let (app, key) = app_with_guards(db).await;
    for (field, value) in [
        ("sum", 1e308),
        ("sum", -1e308),
        ("sum", MAX_SUM * 1.5),
        ("sum_squares", 1e308),
        ("sum_squares", MAX_SUM_SQUARES * 1.5),
    ] {
        let mut m = entry("checkout", "on", "errors", 1, 1.0, 1.0);
        m[field] = json!(value);
        let refused = send(&app, &key, json!({ "metrics": [m] })).await.expect(422);
        assert_eq!(refused.body["field"], format!("metrics[0].{field}"), "{field} = {value}");
        assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    }
    let too_many = json!({ "exposures": [{ "flag": "checkout", "variant": "on", "count": MAX_COUNT + 1 }] });
    assert_eq!(send(&app, &key, too_many).await.expect(422).body["field"], "exposures[0].count");
    let largest = entry("checkout", "on", "errors", MAX_COUNT, -MAX_SUM, MAX_SUM_SQUARES);
    send(&app, &key, json!({ "metrics": [largest] })).await.expect(202);
    assert_eq!(app.state().intake.pending(), 1, "only the batch within bounds waits");
}

async fn totals_saturate_so_flushes_and_guards_keep_working(db: Db) {
    let (app, key) = app_with_guards(db).await;
    until_next_metric_bucket().await;
    // The most exposures, and the largest sums (of a few errors) an entry may carry.
    let largest = |variant: &str| entry("checkout", variant, "errors", 1000, MAX_SUM, MAX_SUM_SQUARES);
    let batch = json!({
        "exposures": [{ "flag": "checkout", "variant": "on", "count": MAX_COUNT },
                      { "flag": "checkout", "variant": "off", "count": MAX_COUNT }],
        "metrics": [largest("on"), largest("off")]
    });
    // Batch after batch at the bounds, over several flushes: every flush is written.
    for _ in 0..3 {
        for _ in 0..20 {
            send(&app, &key, batch.clone()).await.expect(202);
        }
        app.state().intake.flush(&app.state().store).await.expect("the flush is written");
        assert_eq!(app.state().intake.pending(), 0);
    }
    // Each 10-second bucket saturates at the bounds, in memory and in the database, flush after flush.
    let store = &app.state().store;
    let buckets = store.metric_buckets_of("production", "checkout", "errors", &["on", "off"], 0, i64::MAX).await;
    let buckets = buckets.expect("the buckets");
    assert!(!buckets.is_empty());
    for b in &buckets {
        assert!(b.exposures == MAX_COUNT && b.sum > 0.0 && b.sum <= MAX_SUM, "{b:?}");
    }
    let on = totals(&app, "checkout", "errors").await.into_iter().find(|t| t.variant == "on").expect("the on arm");
    assert_eq!(on.count, 60_000, "{on:?}");
    assert!(on.sum_squares <= buckets.len() as f64 * MAX_SUM_SQUARES, "{on:?}");
    // The guard still reads its data and judges it.
    let round = pennon_server::jobs::guard_loop::round(app.state()).await.expect("a guard round");
    assert!(round.checked >= 1, "{round:?}");
    let guard = &app.get(&guards_of("checkout")).await.expect(200).body["items"][0];
    assert_eq!(guard["state"], "healthy", "{guard}");
    assert!(guard["evidence"]["treatment"]["n"].as_u64() >= Some(MAX_COUNT), "{guard}");
}

/// Makes every write of a metric bucket of `flag` fail, in the database itself.
async fn fail_metric_writes(app: &TestApp, db: Db, flag: &str) {
    let statements = match db {
        Db::Sqlite => vec![format!(
            "CREATE TRIGGER fail_metrics BEFORE INSERT ON metric_buckets WHEN NEW.flag = '{flag}' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        Db::Postgres => vec![
            "CREATE FUNCTION fail_metrics() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER fail_metrics BEFORE INSERT ON metric_buckets FOR EACH ROW \
                 WHEN (NEW.flag = '{flag}') EXECUTE FUNCTION fail_metrics()"
            ),
        ],
    };
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(&app.database.url).await.expect("a direct connection");
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await.expect("trigger created");
    }
}

async fn a_failing_chunk_is_set_aside(db: Db) {
    let (app, key) = app_with_guards(db).await;
    fail_metric_writes(&app, db, "poison").await;
    send(&app, &key, errors_batch("checkout", 100)).await.expect(202);
    send(&app, &key, errors_batch("poison", 100)).await.expect(202);
    let intake = &app.state().intake;
    intake.flush(&app.state().store).await.expect("the flush goes on past the failing chunk");
    assert_eq!(intake.pending(), 0, "the failing chunk is not retried forever");

    let checkout = totals(&app, "checkout", "errors").await;
    let on = arm(&checkout, "on").expect("checkout's data are written");
    assert_eq!((on.exposures, on.count), (100, 100));
    let poison = totals(&app, "poison", "errors").await;
    assert!(poison.iter().all(|t| t.count == 0), "the failing rows are not written: {poison:?}");
    assert_eq!(arm(&poison, "on").map(|t| t.exposures), Some(100), "the poison flag's exposures are");
    let text = metrics_text(&app).await;
    let set_aside = sample(&text, "pennon_sdk_metrics_set_aside_total", &[]).expect("the set-aside counter");
    assert!(set_aside >= 1.0, "{set_aside}");

    // The next flush is not held up by it either.
    send(&app, &key, errors_batch("checkout", 50)).await.expect(202);
    intake.flush(&app.state().store).await.expect("the next flush");
    assert_eq!(arm(&totals(&app, "checkout", "errors").await, "on").map(|t| t.count), Some(150));
}

async fn unwatched_metrics_are_dropped_and_counted(db: Db) {
    let (app, key) = app_with_guards(db).await;
    boolean_flag(&app, "unguarded").await;
    let batch = json!({
        "exposures": [{ "flag": "unguarded", "variant": "on", "count": 5 }, { "flag": "checkout", "variant": "on", "count": 7 }],
        "metrics": [entry("checkout", "on", "errors", 3, 3.0, 3.0),
                    entry("checkout", "on", "made_up_name", 1, 1.0, 1.0),
                    entry("unguarded", "on", "errors", 1, 1.0, 1.0),
                    entry("gone", "on", "errors", 1, 1.0, 1.0)]
    });
    let answer = send(&app, &key, batch.clone()).await.expect(202);
    assert_eq!(answer.body, json!({ "accepted": 3, "ignored": 3 }));
    app.state().intake.flush(&app.state().store).await.expect("flushed");
    assert_eq!(arm(&totals(&app, "checkout", "errors").await, "on").map(|t| (t.exposures, t.count)), Some((7, 3)));
    assert!(totals(&app, "checkout", "made_up_name").await.iter().all(|t| t.count == 0), "not stored");
    let unguarded = totals(&app, "unguarded", "errors").await;
    assert_eq!(unguarded.iter().map(|t| (t.exposures, t.count)).collect::<Vec<_>>(), [(5, 0)], "exposures only");
    let text = metrics_text(&app).await;
    let dropped = |reason| sample(&text, "pennon_sdk_metrics_dropped_total", &[("reason", reason)]);
    assert_eq!(dropped("unwatched"), Some(2.0), "{text}");
    assert_eq!(dropped("unknown"), Some(1.0), "{text}");

    // A guard on the metric makes it watched at once; without the guard and the metric it is dropped again.
    app.metric("made_up_name", "mean").await;
    let guard = json!({ "metric": "made_up_name", "statistic": "mean", "direction": "higher_is_worse",
        "threshold": { "absolute": 10.0 }, "variant": "on" });
    let id = app.post(&guards_of("checkout"), guard).await.expect(201).body["id"].as_i64().unwrap();
    assert_eq!(send(&app, &key, batch.clone()).await.expect(202).body, json!({ "accepted": 4, "ignored": 2 }));
    app.delete(&format!("{}/{id}", guards_of("checkout"))).await.expect(204);
    app.delete("/api/v1/metrics/made_up_name").await.expect(204);
    assert_eq!(send(&app, &key, batch).await.expect(202).body, json!({ "accepted": 3, "ignored": 3 }));
}

/// A guard made on one replica is watched on the others at once: PostgreSQL tells them (the periodic refresh
/// is an hour away here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_made_on_one_replica_is_watched_on_the_others() {
    let database = TestDatabase::new(Db::Postgres).await;
    let mut config = ServeConfig::for_database(&database.url);
    config.refresh_interval = Duration::from_hours(1);
    config.metrics_flush_interval = Duration::from_hours(1);
    let app = TestApp::spawn_with(database, config).await;
    app.environment("production").await;
    boolean_flag(&app, "checkout").await;
    let key = sdk_key(&app, "production", "server").await;
    let mut config = app.config.clone();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let other = spawn(config).await.expect("a second replica starts");
    other.state.auth.keys.reload(&other.state.store).await.expect("keys");
    let batch = json!({ "metrics": [entry("checkout", "on", "errors", 1, 1.0, 1.0)] });
    let post = || async {
        let sent = app.client.post(format!("{}{METRICS}", other.url())).bearer_auth(&key).json(&batch).send().await;
        sent.expect("sent").json::<Value>().await.expect("an answer")
    };
    assert_eq!(post().await, json!({ "accepted": 0, "ignored": 1 }), "nothing watches it yet");
    app.metric("errors", "rate").await;
    let guard = json!({ "metric": "errors", "statistic": "rate", "direction": "higher_is_worse",
        "threshold": { "relative": 0.1 }, "variant": "on" });
    app.post(&guards_of("checkout"), guard).await.expect(201);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while post().await != json!({ "accepted": 1, "ignored": 0 }) {
        assert!(std::time::Instant::now() < deadline, "the other replica did not hear of the guard");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    other.shutdown().await;
}

/// `{"x": {"x": ... {} ...}}`, `depth` objects deep.
fn deep_object(depth: usize) -> String {
    let mut text = "{\"x\":".repeat(depth - 1);
    text.push_str("{}");
    text.push_str(&"}".repeat(depth - 1));
    text
}

async fn bodies_that_are_not_batches_are_refused(db: Db) {
    let (app, key) = app_with_guards(db).await;
    let exposure = r#"{"flag": "checkout", "variant": "on", "count": 1}"#;
    let deep = deep_object(100_000);
    let deep_in_batch = format!(r#"{{"exposures": [{exposure}], "extra": {deep}}}"#);
    let bodies = [
        "[]".to_owned(),
        format!("[[{exposure}]]"),
        r#"{"exposures": [["checkout", "on", 1]]}"#.to_owned(),
        format!(r#"{{"exposures": {exposure}}}"#),
        deep,
        deep_in_batch,
        "\"a batch\"".to_owned(),
        "42".to_owned(),
        "null".to_owned(),
    ];
    for body in bodies {
        let answer = app
            .client
            .post(format!("{}{METRICS}", app.base))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("sent");
        let shown = &body[..body.len().min(60)];
        assert_eq!(answer.status().as_u16(), 400, "{shown}");
        let content_type = answer.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{shown}");
        let problem: Value = answer.json().await.expect("a problem body");
        assert_eq!(problem["status"], 400, "{shown}");
    }
    assert_eq!(app.state().intake.pending(), 0, "nothing of them is counted");
    send(&app, &key, json!({ "exposures": [{ "flag": "checkout", "variant": "on", "count": 1 }] })).await.expect(202);
    assert_eq!(app.state().intake.pending(), 1);
}
