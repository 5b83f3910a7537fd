//! `/flags/{flag}/environments/{env}/results`: an experiment's readout from metrics posted as SDKs post them,
//! against numbers computed by hand; the sample-ratio-mismatch check; periods of constant weights.

use serde_json::{Value, json};

use crate::both;
use crate::flag_setup::{boolean_flag, configure, half_split};
use crate::helpers::{Db, TestApp, until_next_metric_bucket};
use crate::sse::sdk_key;

both!(
    a_split_reads_out_against_hand_computed_numbers,
    sample_ratio_mismatch_is_flagged,
    periods_and_refusals,
    the_interval_over_time_ends_at_the_readout
);

fn results_of(flag: &str) -> String {
    format!("/api/v1/flags/{flag}/environments/production/results")
}

/// `flags` on in production with a 50/50 split, the metrics `conversion` (rate, higher is better) and
/// `order_value` (mean), and a server key.
async fn experiment(db: Db, flags: &[&str]) -> (TestApp, String) {
    let app = TestApp::spawn(db).await;
    app.environment("production").await;
    for flag in flags {
        boolean_flag(&app, flag).await;
        configure(
            &app,
            flag,
            "production",
            json!({ "enabled": true, "off_variant": "off", "default": half_split("key") }),
        )
        .await;
    }
    app.post("/api/v1/metrics", json!({ "key": "conversion", "kind": "rate", "direction": "higher_is_better" }))
        .await
        .expect(201);
    app.post(
        "/api/v1/metrics",
        json!({ "key": "order_value", "kind": "mean", "unit": "EUR", "direction": "higher_is_better" }),
    )
    .await
    .expect(201);
    let key = sdk_key(&app, "production", "server").await;
    // A period counts the buckets that start after its weights were set.
    until_next_metric_bucket().await;
    (app, key)
}

async fn post_batch(app: &TestApp, key: &str, batch: Value) {
    let sent = app.client.post(format!("{}/api/v1/sdk/metrics", app.base)).bearer_auth(key).json(&batch).send().await;
    assert_eq!(sent.expect("sent").status().as_u16(), 202);
    app.state().intake.flush(&app.state().store).await.expect("flushed");
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() <= 1e-9 * expected.abs().max(1e-12))
}

async fn a_split_reads_out_against_hand_computed_numbers(db: Db) {
    let (app, key) = experiment(db, &["checkout"]).await;
    let events = |flag: &str, variant: &str, n: u64| json!({ "flag": flag, "variant": variant, "metric": "conversion", "count": n, "sum": n as f64, "sum_squares": n as f64 });
    post_batch(
        &app,
        &key,
        json!({
            "exposures": [{ "flag": "checkout", "variant": "on", "count": 10_000 }, { "flag": "checkout", "variant": "off", "count": 10_000 }],
            "metrics": [events("checkout", "on", 150), events("checkout", "off", 100)]
        }),
    )
    .await;
    let body = app.get(&format!("{}?metrics=conversion", results_of("checkout"))).await.expect(200).body;
    assert_eq!(body["control"], "off");
    assert_eq!(
        body["variants"],
        json!([
            { "variant": "on", "weight": 50_000, "exposures": 10_000 }, { "variant": "off", "weight": 50_000, "exposures": 10_000 }
        ])
    );
    let srm = &body["sample_ratio"];
    assert_eq!((srm["mismatch"].as_bool(), srm["chi_square"].as_f64()), (Some(false), Some(0.0)), "{srm}");
    let metrics = body["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 1, "only the metric asked for");
    let rows = metrics[0]["variants"].as_array().unwrap();
    let (control, on) = (&rows[0], &rows[1]);
    assert_eq!((control["variant"].as_str(), control["control"].as_bool()), (Some("off"), Some(true)));
    assert!(close(&control["value"], 0.01) && close(&on["value"], 0.015), "{rows:?}");
    // By hand: p̃ = (events + 1)/(n + 2) for the variances, V = Σ p̃(1 − p̃)/n = 2.486 487e-6, se = 0.001 576 866;
    // ρ² = (−2 ln 0.05 + ln(1 − 2 ln 0.05))/10 000, r = ρ²·Σp̃(1 − p̃)/V = 7.936 155;
    // z* = √((1 + r)/r · (ln(1 + r) + 2 ln 20)) = 3.035 209; interval 0.005 ± z*·se;
    // p = 1/Λ with ln Λ = −½ ln(1 + r) + ½ z² r/(1 + r), z = 0.005/se.
    let c = &on["comparison"];
    assert!(close(&c["difference"], 0.005), "{c}");
    assert!(close(&c["relative"], 0.5), "{c}");
    assert!(close(&c["standard_error"], 0.001_576_866_290_343_179_5), "{c}");
    assert!(close(&c["lower"], 0.000_213_881_258_929_128_97), "{c}");
    assert!(close(&c["upper"], 0.009_786_118_741_070_87), "{c}");
    assert!(close(&c["p_value"], 0.034_406_210_879_710_71), "{c}");
    assert_eq!(on["verdict"], "better");

    // Every metric by default; one without data is there, inconclusive.
    let all = app.get(&results_of("checkout")).await.expect(200).body;
    let keys: Vec<&str> = all["metrics"].as_array().unwrap().iter().map(|m| m["metric"].as_str().unwrap()).collect();
    assert_eq!(keys, ["conversion", "order_value"]);
    let order_value = &all["metrics"][1]["variants"][1];
    assert_eq!((order_value["verdict"].as_str(), order_value["comparison"].is_null()), (Some("inconclusive"), true));
}

async fn sample_ratio_mismatch_is_flagged(db: Db) {
    let (app, key) = experiment(db, &["broken", "fine"]).await;
    for (flag, on, off) in [("broken", 52_000, 48_000), ("fine", 50_200, 49_800)] {
        post_batch(
            &app,
            &key,
            json!({ "exposures": [{ "flag": flag, "variant": "on", "count": on }, { "flag": flag, "variant": "off", "count": off }] }),
        )
        .await;
    }
    let broken = app.get(&results_of("broken")).await.expect(200).body["sample_ratio"].clone();
    // χ² = 2·2 000²/50 000 = 160 on 1 degree of freedom.
    assert_eq!((broken["mismatch"].as_bool(), broken["degrees_of_freedom"].as_u64()), (Some(true), Some(1)));
    assert!(close(&broken["chi_square"], 160.0) && broken["p_value"].as_f64().unwrap() < 1e-30, "{broken}");
    let fine = app.get(&results_of("fine")).await.expect(200).body["sample_ratio"].clone();
    // χ² = 2·200²/50 000 = 1.6: p = erfc(√0.8) = 0.2059.
    assert_eq!(fine["mismatch"], false, "{fine}");
    assert!(close(&fine["p_value"], 0.205_903_210_732_068_33), "{fine}");
}

async fn periods_and_refusals(db: Db) {
    let (app, key) = experiment(db, &["checkout"]).await;
    post_batch(
        &app,
        &key,
        json!({ "exposures": [{ "flag": "checkout", "variant": "on", "count": 700 }, { "flag": "checkout", "variant": "off", "count": 700 }] }),
    )
    .await;
    let config = "/api/v1/flags/checkout/environments/production";
    // A toggle keeps the period; new weights start a new one.
    app.post(&format!("{config}/toggle"), json!({ "enabled": true })).await;
    assert_eq!(app.get(&results_of("checkout")).await.expect(200).body["periods"].as_array().unwrap().len(), 1);
    // The old period ends with the bucket before the change: wait for a fresh bucket, so that it keeps its data.
    until_next_metric_bucket().await;
    let weights = json!({ "split": { "bucket_by": "key",
        "weights": [{ "variant": "on", "weight": 20_000 }, { "variant": "off", "weight": 80_000 }] } });
    app.put(&format!("{config}/default"), weights).await.expect(200);
    let now = app.get(&results_of("checkout")).await.expect(200).body;
    assert_eq!(now["periods"].as_array().unwrap().len(), 2, "{now}");
    assert_eq!(now["period"]["weights"][0]["weight"], 20_000);
    assert!(now["period"]["until"].is_null());
    assert!(now["variants"].as_array().unwrap().iter().all(|v| v["exposures"] == 0), "{now}");
    let before = app.get(&format!("{}?period=1", results_of("checkout"))).await.expect(200).body;
    assert_eq!(before["period"]["weights"][0]["weight"], 50_000);
    assert_eq!(before["period"]["until"], now["period"]["from"]);
    assert_eq!(before["variants"][0]["exposures"], 700, "{before}");

    let refused = app.get(&format!("{}?metrics=conversion,nope", results_of("checkout"))).await.expect(422).body;
    assert_eq!(refused["errors"][0]["path"], "metrics", "{refused}");
    app.get(&format!("{}?period=5", results_of("checkout"))).await.expect(422);
    app.get(&format!("{}?control=blue", results_of("checkout"))).await.expect(422);
    app.put(&format!("{config}/default"), json!({ "variant": "on" })).await.expect(200);
    app.get(&results_of("checkout")).await.expect(409);
    app.get("/api/v1/flags/nothing/environments/production/results").await.expect(404);
}

/// The timeline is cumulative: each point is what the readout said at that step's end, so its last point is
/// the readout itself (for a rate and for a mean), and a step before the second batch holds the first alone.
async fn the_interval_over_time_ends_at_the_readout(db: Db) {
    let (app, key) = experiment(db, &["checkout"]).await;
    let values = |variant: &str, n: u64, sum: f64, sum_squares: f64| json!({ "flag": "checkout", "variant": variant, "metric": "order_value", "count": n, "sum": sum, "sum_squares": sum_squares });
    let events = |variant: &str, n: u64| json!({ "flag": "checkout", "variant": variant, "metric": "conversion", "count": n, "sum": n as f64, "sum_squares": n as f64 });
    let exposures = |on: u64, off: u64| json!([{ "flag": "checkout", "variant": "on", "count": on }, { "flag": "checkout", "variant": "off", "count": off }]);
    post_batch(&app, &key, json!({ "exposures": exposures(4_000, 4_000), "metrics": [events("on", 50), events("off", 40), values("on", 30, 900.0, 28_000.0), values("off", 30, 840.0, 24_500.0)] })).await;
    until_next_metric_bucket().await;
    post_batch(&app, &key, json!({ "exposures": exposures(6_000, 6_000), "metrics": [events("on", 100), events("off", 60), values("on", 20, 700.0, 25_000.0), values("off", 25, 700.0, 20_000.0)] })).await;
    let readout = app.get(&results_of("checkout")).await.expect(200).body;
    for (index, metric) in ["conversion", "order_value"].into_iter().enumerate() {
        let timeline =
            app.get(&format!("{}/{metric}/timeline?points=500", results_of("checkout"))).await.expect(200).body;
        assert_eq!(
            (timeline["control"].as_str(), timeline["step_seconds"].as_u64()),
            (Some("off"), Some(10)),
            "{timeline}"
        );
        let points = timeline["points"].as_array().unwrap();
        let last = &points.last().unwrap()["variants"][0];
        let expected = &readout["metrics"][index]["variants"][1];
        assert_eq!(last["variant"], "on");
        assert_eq!(last["n"], expected["n"], "{metric}: {last} against {expected}");
        for field in ["difference", "lower", "upper"] {
            let want = expected["comparison"][field].as_f64().unwrap();
            assert!(close(&last[field], want), "{metric}.{field}: {last} against {expected}");
        }
        let first_n = if metric == "conversion" { 4_000 } else { 30 };
        let ns: Vec<u64> = points.iter().map(|p| p["variants"][0]["n"].as_u64().unwrap()).collect();
        assert!(ns.contains(&first_n), "{metric}: a step holds the first batch alone: {ns:?}");
        assert!(ns.windows(2).all(|w| w[0] <= w[1]), "cumulative: {ns:?}");
    }
    let base = format!("{}/conversion/timeline", results_of("checkout"));
    let few = app.get(&format!("{base}?points=2")).await.expect(200).body;
    assert!(few["points"].as_array().unwrap().len() <= 2, "{few}");
    assert_eq!(app.get(&format!("{base}?points=1")).await.expect(422).body["errors"][0]["path"], "points");
    app.get(&format!("{base}?points=501")).await.expect(422);
    app.get(&format!("{base}?control=blue")).await.expect(422);
    app.get(&format!("{}/nope/timeline", results_of("checkout"))).await.expect(404);
}
