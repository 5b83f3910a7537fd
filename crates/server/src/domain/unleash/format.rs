//! Unleash's client features document: what `GET /api/client/features` answers and what Unleash Edge's
//! offline mode reads, for one environment. Only the parts the import reads are typed; unknown fields are
//! ignored, and `null` reads as empty where Unleash sends either.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The whole document.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ClientFeatures {
    /// The format's version (Unleash sends 2).
    #[serde(default)]
    pub version: Option<u32>,
    /// The toggles.
    #[serde(deserialize_with = "nullable")]
    pub features: Vec<Feature>,
    /// Segments, referenced by id from strategies.
    #[serde(default, deserialize_with = "nullable")]
    pub segments: Vec<Segment>,
}

/// One toggle.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Feature {
    /// The toggle's name.
    pub name: String,
    /// Unleash's toggle type (release, experiment, ...).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the toggle is on in this environment.
    #[serde(default)]
    pub enabled: bool,
    /// Activation strategies: the toggle is on for a context when any of them matches.
    #[serde(default, deserialize_with = "nullable")]
    pub strategies: Vec<Strategy>,
    /// Toggle-level variants.
    #[serde(default, deserialize_with = "nullable")]
    pub variants: Vec<Variant>,
    /// Parent toggles this one depends on.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Vec<Object>)]
    pub dependencies: Vec<Value>,
}

/// An activation strategy.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Strategy {
    /// `default`, `userWithId`, `flexibleRollout`, ... or a custom strategy's name.
    pub name: String,
    /// Parameters; Unleash sends strings, numbers are read as their text.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, Value>,
    /// All must hold.
    #[serde(default, deserialize_with = "nullable")]
    pub constraints: Vec<Constraint>,
    /// Segment ids: their constraints must hold too.
    #[serde(default, deserialize_with = "nullable")]
    pub segments: Vec<i64>,
    /// Strategy variants.
    #[serde(default, deserialize_with = "nullable")]
    pub variants: Vec<Variant>,
}

impl Strategy {
    /// A parameter as text.
    pub fn param(&self, name: &str) -> Option<String> {
        match self.parameters.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// A constraint on one context field.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    /// The context field: `userId`, `sessionId`, `currentTime`, ... or a property's name.
    pub context_name: String,
    /// `IN`, `NOT_IN`, `STR_CONTAINS`, `NUM_EQ`, `DATE_AFTER`, `SEMVER_LT`, ...
    pub operator: String,
    /// Operands of the list operators.
    #[serde(default, deserialize_with = "nullable")]
    pub values: Vec<String>,
    /// The operand of the single-value operators.
    #[serde(default)]
    pub value: Option<String>,
    /// Inverts the result.
    #[serde(default)]
    pub inverted: bool,
    /// For the `STR_` operators.
    #[serde(default)]
    pub case_insensitive: bool,
}

/// A variant (toggle-level or of a strategy).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    /// The variant's name.
    pub name: String,
    /// Its weight (the weights of one list usually sum to 1000).
    #[serde(default)]
    pub weight: i64,
    /// The context field it is bucketed by (`default`: `userId`, else `sessionId`).
    #[serde(default)]
    pub stickiness: Option<String>,
    /// The payload served with it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// Contexts that always get this variant.
    #[serde(default, deserialize_with = "nullable")]
    pub overrides: Vec<Override>,
}

/// Contexts whose field is one of `values` get the variant.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Override {
    /// The context field.
    pub context_name: String,
    /// Its values.
    #[serde(default, deserialize_with = "nullable")]
    pub values: Vec<String>,
}

/// A segment: constraints shared by strategies.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Segment {
    /// Its id, which strategies reference.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// All must hold.
    #[serde(default, deserialize_with = "nullable")]
    pub constraints: Vec<Constraint>,
}

/// `null` reads as the type's default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
