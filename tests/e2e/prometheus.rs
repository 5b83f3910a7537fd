//! Prometheus as a guard source and as an alert source, with the real programs: a demo service evaluates
//! flags with the SDK and exports its requests, errors and the SDK's exposure counters per variant;
//! Prometheus scrapes it and Pennon (scrape and rule evaluation every second) and loads `deploy/`'s alert
//! rules; Alertmanager routes an alert to a Pennon trigger URL.
//!
//! - a guard reading Prometheus trips when the new variant errs at 5% against 1%, and one on equal rates
//!   (1% and 1%) stays healthy over more samples; a guard whose query finds no series shows it as its
//!   `source_error` and decides nothing;
//! - an alert rule fires, Alertmanager posts to the trigger, the flag turns off and an SDK sees it (the time
//!   from Alertmanager's alert to the SDK is printed, for docs/benchmarks.md; not asserted);
//! - every `pennon_` metric Prometheus scraped has a type (none `unknown`), and `promtool` accepts the rules
//!   (that they and the Grafana dashboard name only exported metrics is `telemetry::deploy_tests`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pennon_sdk::{Client, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::{Admin, PATIENCE, Replica, client, ready};
use crate::monitoring::{PrometheusApi, Series, Stack, StackConfig, free_port, program, serve_metrics};

/// Error rates of the demo service: (flag, variant) → probability that a request fails.
const ERROR_RATES: [(&str, &str, f64); 4] =
    [("checkout", "on", 0.05), ("checkout", "off", 0.01), ("search", "on", 0.01), ("search", "off", 0.01)];

/// Exposures an arm before the equal-rates guard decides (see `the_guards_decide`).
const EQUAL_MIN_SAMPLES: u64 = 20_000;

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn guard_body(alpha: f64, url: Option<&str>, events_metric: &str) -> Value {
    let counter = |name: &str| {
        format!(r#"sum(increase({name}{{flag="{{{{flag}}}}",variant="{{{{variant}}}}"}}[{{{{range}}}}]))"#)
    };
    let mut source = json!({ "kind": "prometheus", "events": counter(events_metric),
        "requests": counter("pennon_sdk_exposures_total") });
    if let Some(url) = url {
        source["url"] = json!(url);
    }
    json!({ "metric": "errors", "statistic": "rate", "direction": "higher_is_worse", "threshold": { "relative": 0.1 },
        "variant": "on", "alpha": alpha, "min_samples": 500, "source": source })
}

/// One tick of traffic: `users` requests per flag, each evaluated with the SDK and failing at its variant's rate.
fn traffic(sdk: &Client, series: &Series, rng: &mut StdRng, first_user: u64, users: u64) {
    let mut series = series.lock().unwrap();
    for flag in ["checkout", "search"] {
        for user in first_user..first_user + users {
            let variant = if sdk.bool_value(flag, &Context::new(format!("user-{user}")), false) { "on" } else { "off" };
            let labels = format!(r#"flag="{flag}",variant="{variant}""#);
            *series.entry(("demo_requests_total".into(), labels.clone())).or_default() += 1.0;
            let rate = ERROR_RATES.iter().find(|(f, v, _)| *f == flag && *v == variant).map_or(0.0, |r| r.2);
            if rng.random_bool(rate) {
                *series.entry(("demo_errors_total".into(), labels)).or_default() += 1.0;
            }
        }
    }
}

/// `checkout` and `search` split 50/50 between `on` and `off`; `payments` serving `on`.
async fn set_up_flags(admin: &Admin, pennon: &Replica) {
    let split = json!({ "split": { "weights": [{ "variant": "on", "weight": 50_000 }, { "variant": "off", "weight": 50_000 }] } });
    for flag in ["checkout", "search", "payments"] {
        if flag != "checkout" {
            admin.new_flag(pennon, flag).await;
        }
        let config = json!({ "enabled": true, "off_variant": "off", "default": if flag == "payments" { json!({ "variant": "on" }) } else { split.clone() } });
        admin
            .call(pennon, Method::PUT, &format!("/api/v1/flags/{flag}/environments/production"), Some(config), 200)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_guards_alerts_and_metric_types() {
    let rules = repo_file("deploy/prometheus/pennon-rules.yml");
    let checked = std::process::Command::new(program(&["promtool"])).args(["check", "rules"]).arg(&rules).output();
    let checked = checked.expect("promtool runs");
    assert!(checked.status.success(), "promtool: {}", String::from_utf8_lossy(&checked.stdout));

    let (prom_port, am_port) = (free_port(), free_port());
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    let database = pennon_tests::database::TestDatabase::new(pennon_tests::database::Db::Postgres).await;
    let pennon = Replica::start_with(&database.url, |c| {
        c.guard_interval = Duration::from_millis(500);
        c.prometheus_url = Some(prom_url.clone());
    })
    .await;
    let admin = Admin::sign_in(&pennon).await;
    let key = admin.set_up(&pennon).await;
    set_up_flags(&admin, &pennon).await;

    // The demo service, with every error counter at 0 from the start (a counter that appears later loses
    // its first increase).
    let sdk = ready(client(&pennon, &key)).await;
    let series = demo_series();
    let exporter = sdk.clone();
    let demo_port = serve_metrics(series.clone(), move || exporter.exposure_metrics()).await;

    let dir = tempfile::tempdir().expect("a directory");
    let trigger = admin
        .call(
            &pennon,
            Method::POST,
            "/api/v1/flags/payments/environments/production/triggers",
            Some(json!({ "action": "off", "name": "alertmanager" })),
            201,
        )
        .await;
    let test_rules = "groups:\n  - name: demo\n    rules:\n      - alert: PaymentsBroken\n        expr: demo_payments_broken == 1\n        labels:\n          flag: payments\n";
    std::fs::write(dir.path().join("demo-rules.yml"), test_rules).unwrap();
    let _stack = Stack::start(&StackConfig {
        dir: dir.path(),
        prometheus_port: prom_port,
        alertmanager_port: am_port,
        rule_files: &[rules.clone(), dir.path().join("demo-rules.yml")],
        targets: &[("pennon", pennon.addr().to_string()), ("demo", format!("127.0.0.1:{demo_port}"))],
        alert: "PaymentsBroken",
        webhook: trigger["url"].as_str().expect("a trigger URL"),
    })
    .await;
    let prom = PrometheusApi::new(prom_url.clone());

    // Traffic starts; the guards come once Prometheus has every arm's exposures, so each counts from its start.
    let (traffic_sdk, traffic_series) = (sdk.clone(), series.clone());
    let load = tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(23);
        let mut user = 0;
        loop {
            traffic(&traffic_sdk, &traffic_series, &mut rng, user, 250);
            user += 250;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let metric = json!({ "key": "errors", "kind": "rate", "direction": "lower_is_better" });
    admin.call(&pennon, Method::POST, "/api/v1/metrics", Some(metric), 201).await;
    let deadline = Instant::now() + PATIENCE;
    while prom.value("count(pennon_sdk_exposures_total)").await != Some(4.0) {
        assert!(Instant::now() < deadline, "Prometheus did not scrape the demo service's exposures");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    the_guards_decide(&admin, &pennon, &prom_url, &sdk).await;
    load.abort();

    an_alert_turns_the_flag_off(&sdk, &series, am_port).await;
    every_pennon_metric_has_a_type(&prom).await;
    sdk.close().await;
}

/// Every `pennon_` metric Prometheus scraped has a type (none `unknown`), and there are many of them.
async fn every_pennon_metric_has_a_type(prom: &PrometheusApi) {
    let metadata = prom.get("/api/v1/metadata").await;
    let pennon_metrics: Vec<(&String, &Value)> =
        metadata.as_object().unwrap().iter().filter(|(name, _)| name.starts_with("pennon_")).collect();
    assert!(pennon_metrics.len() >= 15, "few pennon metrics scraped: {metadata}");
    for (name, entries) in &pennon_metrics {
        for entry in entries.as_array().unwrap() {
            assert_ne!(entry["type"], "unknown", "{name} has no type: {entries}");
        }
    }
}

/// An alert through Alertmanager to the trigger: the flag off for the SDK.
async fn an_alert_turns_the_flag_off(sdk: &Client, series: &Series, am_port: u16) {
    assert!(sdk.bool_value("payments", &Context::new("u"), false));
    series.lock().unwrap().insert(("demo_payments_broken".into(), r#"flag="payments""#.into()), 1.0);
    let http = reqwest::Client::new();
    let alerts = format!("http://127.0.0.1:{am_port}/api/v2/alerts");
    pennon_tests::eventually("the SDK serves payments off", PATIENCE, || {
        !sdk.bool_value("payments", &Context::new("u"), true)
    })
    .await;
    let seen = time::OffsetDateTime::now_utc();
    let list: Value = http.get(&alerts).send().await.unwrap().json().await.unwrap();
    let alert = list.as_array().unwrap().iter().find(|a| a["labels"]["alertname"] == "PaymentsBroken");
    let alert = alert.unwrap_or_else(|| panic!("the alert is in Alertmanager: {list}"));
    let at = |field: &str| {
        let text = alert[field].as_str().unwrap_or_else(|| panic!("{field} in {alert}"));
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).expect("an RFC 3339 time")
    };
    // For docs/benchmarks.md: from Alertmanager receiving the alert (its `updatedAt`), and from the rule
    // turning active in Prometheus (`startsAt`), to the SDK serving the flag off.
    eprintln!(
        "alert received by Alertmanager to SDK seeing the flag off: {} ms; alert active in Prometheus to SDK: {} ms",
        (seen - at("updatedAt")).whole_milliseconds(),
        (seen - at("startsAt")).whole_milliseconds()
    );
}

/// The demo service's error counters, each at 0, and the gauge the alert rule watches.
fn demo_series() -> Series {
    let series = Series::default();
    let mut map = series.lock().unwrap();
    for (flag, variant, _) in ERROR_RATES {
        map.insert(("demo_errors_total".into(), format!(r#"flag="{flag}",variant="{variant}""#)), 0.0);
    }
    map.insert(("demo_payments_broken".into(), r#"flag="payments""#.into()), 0.0);
    drop(map);
    series
}

/// Reads `guard()` every 200 ms until `done` holds of it (for at most twice [`PATIENCE`]).
async fn until<F: Future<Output = Value>>(guard: impl Fn() -> F, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE * 2;
    loop {
        let g = guard().await;
        if done(&g) {
            return g;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}: {g}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Three Prometheus-sourced guards: 5% against 1% errors breaches (the flag off for the SDK, the evidence in
/// the audit row); equal rates stay healthy with more samples than that took; a query without series is
/// the guard's `source_error`.
async fn the_guards_decide(admin: &Admin, pennon: &Replica, prom_url: &str, sdk: &Client) {
    let guards = |flag: &str| format!("/api/v1/flags/{flag}/environments/production/guards");
    let worse = admin
        .call(pennon, Method::POST, &guards("checkout"), Some(guard_body(0.05, None, "demo_errors_total")), 201)
        .await;
    // The equal-rates guard decides from 20,000 exposures an arm (about eight seconds of traffic) rather than
    // 500: a guard's window runs from its creation, and over its first second or two Prometheus's `increase`
    // extrapolates from one or two scrapes, which inflates the counts, and with them the test statistic, by
    // up to twice. Once tripped that way with equal rates (z = 4.0 on 4,776 and 4,724 exposures).
    let mut equal_body = guard_body(0.01, Some(prom_url), "demo_errors_total");
    equal_body["min_samples"] = json!(EQUAL_MIN_SAMPLES);
    let equal = admin.call(pennon, Method::POST, &guards("search"), Some(equal_body), 201).await;
    let missing = admin
        .call(pennon, Method::POST, &guards("payments"), Some(guard_body(0.05, None, "nothing_like_this_total")), 201)
        .await;
    let get = |flag: &'static str, guard: &Value| {
        let path = format!("{}/{}", guards(flag), guard["id"]);
        async move { admin.call(pennon, Method::GET, &path, None, 200).await }
    };

    // 5% against 1%: breached, the flag off for the SDK, the evidence in the audit row.
    let breached = until(|| get("checkout", &worse), "the 5% vs 1% guard breaches", |g| g["state"] == "breached").await;
    assert_eq!(breached["source"]["kind"], "prometheus");
    assert!(breached["source_error"].is_null(), "{breached}");
    pennon_tests::eventually("the SDK serves checkout off", PATIENCE, || {
        (0..200).all(|u| !sdk.bool_value("checkout", &Context::new(format!("user-{u}")), true))
    })
    .await;
    let audit = admin.call(pennon, Method::GET, "/api/v1/audit?flag=checkout", None, 200).await;
    let breach =
        audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "guard.breach").expect("a breach row");
    let detail = &breach["detail"];
    assert!(detail["p_value"].as_f64().unwrap() <= 0.05, "{detail}");
    assert!(detail["treatment"]["value"].as_f64().unwrap() > detail["control"]["value"].as_f64().unwrap(), "{detail}");
    assert!(detail["control"]["samples"].as_u64().unwrap() >= 500, "{detail}");

    // Equal rates: still healthy with more samples than the breach needed; the query without series says so.
    let needed = breached["evidence"]["treatment"]["n"].as_u64().unwrap().max(EQUAL_MIN_SAMPLES) * 2;
    let healthy = until(
        || get("search", &equal),
        "the equal-rates guard has the samples",
        |g| {
            assert_ne!(g["state"], "breached", "equal error rates tripped the guard: {g}");
            g["evidence"]["treatment"]["n"].as_u64().unwrap_or(0) >= needed
        },
    )
    .await;
    assert_eq!(healthy["state"], "healthy", "{healthy}");
    assert!(healthy["source_error"].is_null(), "{healthy}");
    let nothing = get("payments", &missing).await;
    assert_eq!(nothing["state"], "insufficient_data", "{nothing}");
    let error = nothing["source_error"].as_str().unwrap_or_else(|| panic!("a source error: {nothing}"));
    assert!(error.contains("no series"), "{error}");
}
