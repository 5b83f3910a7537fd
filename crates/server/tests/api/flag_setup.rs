//! Flags and configs for the evaluation tests, made through the admin API.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Creates a boolean flag (`on` = true, `off` = false); returns its salt.
pub async fn boolean_flag(app: &TestApp, key: &str) -> String {
    let created = app.post("/api/v1/flags", json!({ "key": key, "kind": "boolean" })).await.expect(201);
    created.body["salt"].as_str().expect("the flag's salt").to_owned()
}

/// Replaces a flag's config in an environment (`config` holds `enabled`, `off_variant`, `rules`, `default`,
/// ...); returns the config as answered.
pub async fn configure(app: &TestApp, flag: &str, environment: &str, config: Value) -> Value {
    app.put(&format!("/api/v1/flags/{flag}/environments/{environment}"), config).await.expect(200).body
}

/// A rule serving `on` to contexts whose `plan` is `pro`.
pub fn pro_rule() -> Value {
    json!({ "id": "pro", "conditions": [{ "attribute": "plan", "operator": "in", "values": ["pro"] }],
        "serve": { "variant": "on" } })
}

/// A 50/50 split of `on` and `off` by `bucket_by`.
pub fn half_split(bucket_by: &str) -> Value {
    json!({ "split": { "bucket_by": bucket_by,
        "weights": [{ "variant": "on", "weight": 50000 }, { "variant": "off", "weight": 50000 }] } })
}

/// The variant a 50/50 `on`/`off` split gives this bucket.
pub fn half_split_variant(bucket: u32) -> &'static str {
    if bucket < 50_000 { "on" } else { "off" }
}
