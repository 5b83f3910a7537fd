//! The environments of the `scale` benchmark: `n` flags of realistic shapes written straight into the
//! server's SQLite database (one transaction, while the server is stopped), so that loading 50,000 flags takes
//! seconds, not the hours the HTTP API would.
//!
//! Shapes, by the flag's number modulo 20: 8 in 20 a boolean with one rule on two attributes; 4 a boolean
//! whose rule needs a segment and whose default is a 10/90 split; 4 the benchmark flag (three rules, five
//! conditions among them a regular expression and a semantic version, a 25/75 split); 2 a string flag with
//! three variants, individual targets and a three-way split; 2 a boolean that requires the flag before it.

use anyhow::Context as _;
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::fixture;

/// The segments the flags' rules name.
pub const SEGMENTS: [&str; 3] = ["beta-users", "internal", "enterprise-accounts"];

/// The key of flag `i`.
pub fn key(i: usize) -> String {
    format!("flag-{i:05}")
}

fn boolean(key: &str) -> Value {
    json!({ "key": key, "name": key, "description": "", "tags": [], "kind": "boolean", "salt": format!("salt-{key}"),
        "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] })
}

/// Flag `i`'s definition and its config in `environment`.
pub fn flag(i: usize, environment: &str) -> (Value, Value) {
    let key = key(i);
    let base = json!({ "flag": key, "environment": environment, "version": 1, "enabled": !i.is_multiple_of(7) });
    let mut config = base.clone();
    let definition = match i % 20 {
        0..=7 => {
            config["off_variant"] = json!("off");
            config["rules"] = json!([{ "id": "paying", "conditions": [
                { "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] },
                { "attribute": "country", "operator": "in", "values": ["DE", "FR", "NL"] }],
                "serve": { "variant": "on" } }]);
            config["default"] = json!({ "variant": "off" });
            boolean(&key)
        }
        8..=11 => {
            config["off_variant"] = json!("off");
            config["rules"] = json!([{ "id": "segment", "segments": [SEGMENTS[i % SEGMENTS.len()]],
                "serve": { "variant": "on" } }]);
            config["default"] = json!({ "split": { "weights": [
                { "variant": "on", "weight": 10_000 }, { "variant": "off", "weight": 90_000 }] } });
            boolean(&key)
        }
        12..=15 => {
            let mut flag = fixture::flag();
            let mut definition = flag["definition"].take();
            definition["key"] = json!(key);
            definition["salt"] = json!(format!("salt-{key}"));
            config = fixture::config(&key, environment, 1);
            return (definition, config);
        }
        16 | 17 => {
            config["off_variant"] = json!("control");
            config["targets"] = json!([{ "variant": "treatment-a",
                "keys": (0..20).map(|k| format!("user-{}", i * 31 + k)).collect::<Vec<_>>() }]);
            config["default"] = json!({ "split": { "weights": [
                { "variant": "control", "weight": 50_000 }, { "variant": "treatment-a", "weight": 25_000 },
                { "variant": "treatment-b", "weight": 25_000 }] } });
            json!({ "key": key, "name": key, "description": "A three-way experiment", "tags": ["experiment"],
                "kind": "string", "salt": format!("salt-{key}"),
                "variants": [{ "key": "control", "value": "control" }, { "key": "treatment-a", "value": "a" },
                    { "key": "treatment-b", "value": "b" }] })
        }
        _ => {
            config["off_variant"] = json!("off");
            config["prerequisites"] = json!([{ "flag": self::key(i - 18), "variant": "on" }]);
            config["default"] = json!({ "variant": "on" });
            boolean(&key)
        }
    };
    if config.get("rules").is_none() {
        config["rules"] = json!([]);
    }
    (definition, config)
}

/// Writes `n` flags (and [`SEGMENTS`]) into the SQLite database at `url`, with their configs in
/// `environment`, which must exist; bumps the environment's revision once.
pub async fn load(url: &str, environment: &str, n: usize) -> anyhow::Result<()> {
    let mut conn = sqlx::SqliteConnection::connect(url).await.context("opening the database")?;
    let mut tx = conn.begin().await?;
    let at = 1_700_000_000_000i64;
    for (i, key) in SEGMENTS.iter().enumerate() {
        let body = json!({ "key": key, "name": key, "description": "", "version": 1,
            "included": (0..50).map(|k| format!("user-{}", k * 7 + i)).collect::<Vec<_>>(),
            "excluded": [], "conditions": [{ "attribute": "email", "operator": "ends_with", "values": ["@example.com"] }] });
        sqlx::query("INSERT INTO segments (key, version, body, created_at, updated_at) VALUES (?, 1, ?, ?, ?)")
            .bind(key)
            .bind(body.to_string())
            .bind(at)
            .bind(at)
            .execute(&mut *tx)
            .await?;
    }
    for i in 0..n {
        let (definition, config) = flag(i, environment);
        let key = key(i);
        sqlx::query(
            "INSERT INTO flags (key, name, description, tags, kind, variants, salt, archived, version, created_at, \
             updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 1, ?, ?)",
        )
        .bind(&key)
        .bind(definition["name"].as_str().unwrap_or(&key))
        .bind(definition["description"].as_str().unwrap_or(""))
        .bind(definition.get("tags").cloned().unwrap_or(json!([])).to_string())
        .bind(definition["kind"].as_str().context("a kind")?)
        .bind(definition["variants"].to_string())
        .bind(definition["salt"].as_str().context("a salt")?)
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let text = config.to_string();
        sqlx::query(
            "INSERT INTO flag_configs (flag, environment, version, config, updated_at, updated_by) \
             VALUES (?, ?, 1, ?, ?, 'system:bench')",
        )
        .bind(&key)
        .bind(environment)
        .bind(&text)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO flag_config_versions (flag, environment, version, config, action, actor, created_at) \
             VALUES (?, ?, 1, ?, 'flag.create', 'system:bench', ?)",
        )
        .bind(&key)
        .bind(environment)
        .bind(&text)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        for rule in config["rules"].as_array().into_iter().flatten() {
            for segment in rule["segments"].as_array().into_iter().flatten() {
                sqlx::query("INSERT OR IGNORE INTO segment_uses (segment, flag, environment) VALUES (?, ?, ?)")
                    .bind(segment.as_str())
                    .bind(&key)
                    .bind(environment)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for p in config["prerequisites"].as_array().into_iter().flatten() {
            sqlx::query("INSERT INTO prerequisite_edges (flag, environment, prerequisite) VALUES (?, ?, ?)")
                .bind(&key)
                .bind(environment)
                .bind(p["flag"].as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query("UPDATE environments SET revision = revision + 1 WHERE key = ?")
        .bind(environment)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use pennon_engine::{FlagConfig, Snapshot, SnapshotFlag, validate_config, validate_flag};

    use super::*;

    /// Every shape is a flag and a config the server would accept.
    #[test]
    fn every_shape_validates() {
        let mut snapshot = Snapshot {
            segments: SEGMENTS.iter().map(|key| serde_json::from_value(json!({ "key": key })).unwrap()).collect(),
            ..Snapshot::default()
        };
        for i in 0..40 {
            let (definition, config) = flag(i, "bench");
            let definition: pennon_engine::Flag = serde_json::from_value(definition).unwrap();
            let config: FlagConfig = serde_json::from_value(config).unwrap();
            assert_eq!(validate_flag(&definition), vec![], "{i}");
            snapshot.flags.push(SnapshotFlag { definition, config });
        }
        for f in &snapshot.flags {
            assert_eq!(validate_config(&f.definition, &f.config, &snapshot), vec![], "{}", f.definition.key);
        }
    }
}
