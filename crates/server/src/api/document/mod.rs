//! Flags as code: the declarative document (`version: 1`) that `GET /export` writes and `POST /apply` reads,
//! in JSON or YAML.
//!
//! The document is made of the API's own wire types: environments, segments and metrics as their create
//! requests take them, flags as their definition with each environment's config (the fields `PUT` of a
//! config takes) and, there, the rollout plan and the guards as their `PUT`/`POST` bodies take them. It
//! carries each flag's salt, so that contexts keep their buckets when flags move between servers, and leaves
//! out what a server assigns (ids, versions, revisions, states, timestamps). Lists are sorted (environments
//! by position then key, segments, metrics and flags by key, configs by environment key, guards by their
//! JSON text), so that export, apply, export gives the same bytes.

mod apply;
mod export;
mod metrics;
mod plan;
mod rollouts;
mod schema;

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use pennon_engine::{FlagKind, Prerequisite, Rule, Serve, Target, Variant};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::environments::CreateEnvironment;
use crate::api::guards::GuardInput;
use crate::api::metrics::CreateMetric;
use crate::api::plans::PutPlan;
use crate::api::rules::{Description, Name, Slug, Tag};
use crate::api::segments::CreateSegment;
use crate::app::state::AppState;
use crate::http::error::ApiError;

pub use plan::PlanOp;
pub use schema::document_schema;

/// The only document version there is.
pub const DOCUMENT_VERSION: u32 = 1;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export::export)).routes(routes!(apply::apply))
}

/// Environments, segments, metrics and flags with their configs, rollout plans and guards, as code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "version": 1,
    "environments": [{ "key": "production", "name": "Production", "production": true, "allowed_origins": [] }],
    "segments": [{ "key": "staff", "name": "staff", "description": "", "conditions": [], "included": ["u-1"], "excluded": [] }],
    "metrics": [{ "key": "checkout-errors", "kind": "rate", "unit": "", "direction": "lower_is_better", "description": "" }],
    "flags": [{ "key": "new-checkout", "name": "new-checkout", "description": "", "tags": [], "kind": "boolean",
        "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }], "salt": "5c1e0f3a9b2d4e6f",
        "environments": { "production": { "enabled": true, "off_variant": "off", "targets": [], "rules": [],
            "default": { "variant": "on" }, "prerequisites": [],
            "plan": { "variant": "on", "control": "off", "bucket_by": "key",
                "steps": [{ "percent": 5, "hold": "1h" }, { "percent": 100 }] },
            "guards": [{ "metric": "checkout-errors", "statistic": "rate", "direction": "higher_is_worse",
                "threshold": { "relative": 0.1 }, "min_samples": 100, "alpha": 0.05, "tuning_samples": 10000,
                "variant": "on", "control": "off", "window": "1h", "action": "disable_flag" }] } } }] }))]
pub struct Document {
    /// The document format: 1.
    pub version: u32,
    /// Environments, as `POST /environments` takes them (`position` is left out: the list's order is it).
    #[serde(default)]
    pub environments: Vec<CreateEnvironment>,
    /// Segments, as `POST /segments` takes them.
    #[serde(default)]
    pub segments: Vec<CreateSegment>,
    /// Metrics, as `POST /metrics` takes them (written only when there are any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<CreateMetric>,
    /// Live (not archived) flags with their configs.
    #[serde(default)]
    pub flags: Vec<FlagDocument>,
}

/// A flag: its definition as `POST /flags` takes it, its salt, and its config per environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagDocument {
    /// Slug key, unique among flags.
    #[schema(value_type = Slug)]
    pub key: String,
    /// Display name; the key when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    #[schema(value_type = Description)]
    pub description: String,
    /// Tags for filtering.
    #[serde(default)]
    #[schema(value_type = Vec<Tag>)]
    pub tags: Vec<String>,
    /// The type of value served; cannot change.
    pub kind: FlagKind,
    /// The values the flag can serve (boolean flags: `on` and `off` when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<Variant>>,
    /// Mixed into every bucket. Kept as it is by a new server, so contexts keep their buckets; random when
    /// omitted for a new flag; cannot change for an existing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// The flag's config per environment key. An environment left out keeps the config it has.
    #[serde(default)]
    pub environments: BTreeMap<String, ConfigDocument>,
}

/// A flag's config in one environment: the fields `PUT /flags/{flag}/environments/{env}` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigDocument {
    /// Whether the flag is on.
    pub enabled: bool,
    /// Served when disabled or when a prerequisite fails.
    pub off_variant: String,
    /// Individual targets.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Rules, in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What everybody else gets.
    pub default: Serve,
    /// Flags that must serve a given variant for this one to be on.
    #[serde(default)]
    pub prerequisites: Vec<Prerequisite>,
    /// The rollout plan, as `PUT .../rollout-plan` takes it (without `version`); its state, step and history
    /// stay the server's. Left out: the plan there is kept (deleted with `prune=true`). A running or paused
    /// plan cannot be changed or deleted by an apply (409 naming the path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PutPlan>,
    /// The metric guards, as `POST .../guards` takes them (without `version`); exactly these after an apply.
    /// Left out: the guards there are kept (deleted with `prune=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<Vec<GuardInput>>,
}

impl ConfigDocument {
    /// The config without its plan and guards: what the `config` entry of a plan compares.
    pub(super) fn core(&self) -> ConfigDocument {
        ConfigDocument { plan: None, guards: None, ..self.clone() }
    }
}

/// The two encodings of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `application/json` (pretty-printed).
    Json,
    /// `application/yaml`.
    Yaml,
}

impl Format {
    /// The format a response is asked for: `?format=` first, then `Accept`; JSON otherwise.
    pub fn wanted(query: Option<Format>, headers: &HeaderMap) -> Format {
        query.unwrap_or_else(|| {
            let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if accept.contains("yaml") { Format::Yaml } else { Format::Json }
        })
    }

    /// The format of a request body, by `Content-Type` (415 when neither).
    pub fn of_body(headers: &HeaderMap) -> Result<Format, ApiError> {
        if crate::http::error::is_json(headers) {
            return Ok(Format::Json);
        }
        let kind = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let essence = kind.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if matches!(essence.as_str(), "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml") {
            return Ok(Format::Yaml);
        }
        Err(ApiError::UnsupportedMediaType("expected Content-Type: application/json or application/yaml".into()))
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Yaml => "application/yaml",
        }
    }
}

impl Document {
    /// The document in `format`: the same document always gives the same bytes.
    pub fn encode(&self, format: Format) -> String {
        match format {
            Format::Json => {
                let mut text = serde_json::to_string_pretty(self).expect("a document is serialisable");
                text.push('\n');
                text
            }
            // Through JSON's data model: enums as maps (`default: {variant: on}`), as the API and the JSON
            // Schema state them, not as YAML tags (`!variant on`), which a YAML editor fed the schema refuses.
            // `version` stays first, as in JSON; the rest in key order (JSON's data model sorts object keys).
            Format::Yaml => {
                let mut value = serde_json::to_value(self).expect("a document is serialisable");
                let version = value.as_object_mut().and_then(|o| o.remove("version")).unwrap_or_default();
                let rest = serde_norway::to_string(&value).expect("a document is serialisable");
                format!("version: {version}\n{rest}")
            }
        }
    }

    /// Reads a document; a malformed one is refused with 400 naming the path of the fault
    /// (`flags[3].environments.production.rules[0].serve`).
    pub fn decode(bytes: &[u8], format: Format) -> Result<Document, ApiError> {
        let (path, message) = match format {
            Format::Json => {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                match serde_path_to_error::deserialize::<_, Document>(&mut de) {
                    Ok(document) => {
                        de.end().map_err(|e| ApiError::BadRequest {
                            detail: format!("the document cannot be read: {e}"),
                            field: None,
                        })?;
                        return Self::check_version(document);
                    }
                    Err(e) => (e.path().to_string(), e.inner().to_string()),
                }
            }
            // Read into JSON's data model first, so that a YAML document states what a JSON one does, in the
            // same shapes (enums as maps).
            Format::Yaml => match serde_norway::from_slice::<serde_json::Value>(bytes) {
                Err(e) => (".".to_owned(), e.to_string()),
                Ok(value) => match serde_path_to_error::deserialize::<_, Document>(value) {
                    Ok(document) => return Self::check_version(document),
                    Err(e) => (e.path().to_string(), e.inner().to_string()),
                },
            },
        };
        let field = (path != ".").then_some(path);
        let detail = match &field {
            Some(path) => format!("{path}: {message}"),
            None => format!("the document cannot be read: {message}"),
        };
        Err(ApiError::BadRequest { detail, field })
    }

    fn check_version(document: Document) -> Result<Document, ApiError> {
        if document.version == DOCUMENT_VERSION {
            Ok(document)
        } else {
            Err(ApiError::invalid("version", format!("unsupported document version {}; expected 1", document.version)))
        }
    }
}
