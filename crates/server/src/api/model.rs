//! OpenAPI descriptions of the engine's wire types (the engine itself stays free of HTTP concerns). These
//! types only describe: requests and responses carry the engine's own types, which serialise to exactly these
//! shapes.

#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;

/// The type of value a flag serves.
#[derive(ToSchema)]
#[schema(as = FlagKind)]
#[serde(rename_all = "snake_case")]
pub enum FlagKindDoc {
    Boolean,
    String,
    Number,
    Json,
}

/// One of the values a flag can serve.
#[derive(ToSchema)]
#[schema(as = Variant, example = json!({ "key": "blue", "value": "#0000ff", "name": "Blue" }))]
pub struct VariantDoc {
    /// Slug key, unique within the flag; rules, targets and splits name it.
    key: String,
    /// The value served; must be of the flag's kind.
    value: Value,
    /// Display name.
    name: Option<String>,
}

/// A flag's configuration in one environment.
#[derive(ToSchema)]
#[schema(as = FlagConfig)]
pub struct FlagConfigDoc {
    /// The flag's key.
    flag: String,
    /// The environment's key.
    environment: String,
    /// Bumped on every change; writes name the version they were based on.
    version: u64,
    /// A disabled flag serves its off variant to everyone.
    enabled: bool,
    /// Served when disabled or when a prerequisite fails.
    off_variant: String,
    /// Individual targets: these context keys get this variant.
    targets: Vec<TargetDoc>,
    /// Rules, tried in order; the first match serves.
    rules: Vec<RuleDoc>,
    /// What everybody else gets.
    default: ServeDoc,
    /// Flags that must serve a given variant for this one to be on.
    prerequisites: Vec<PrerequisiteDoc>,
}

/// Individual targeting: context keys that get one variant.
#[derive(ToSchema)]
#[schema(as = Target)]
pub struct TargetDoc {
    /// The variant served.
    variant: String,
    /// The context keys it is served to (each key at most once in a config).
    keys: Vec<String>,
}

/// A targeting rule: when every condition holds and the context is in every segment, serve.
#[derive(ToSchema)]
#[schema(as = Rule)]
pub struct RuleDoc {
    /// Slug id, unique within the config; reported in `RULE_MATCH` reasons.
    id: String,
    /// Free text.
    #[schema(default = "")]
    description: Option<String>,
    /// All must hold.
    conditions: Option<Vec<ConditionDoc>>,
    /// Segment keys: the context must be in all of them.
    segments: Option<Vec<String>>,
    /// What a matching context gets.
    serve: ServeDoc,
}

/// A test on one context attribute: it holds when the attribute matches any of `values`.
#[derive(ToSchema)]
#[schema(as = Condition, example = json!({ "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] }))]
pub struct ConditionDoc {
    /// The attribute name; `key` is the context key.
    attribute: String,
    /// How to compare.
    operator: OperatorDoc,
    /// Operands (none for `exists`, exactly one for comparisons).
    values: Option<Vec<Value>>,
    /// Inverts the result (a missing attribute then holds).
    #[schema(default = false)]
    negate: Option<bool>,
}

/// Condition operators.
#[derive(ToSchema)]
#[schema(as = Operator)]
#[serde(rename_all = "snake_case")]
pub enum OperatorDoc {
    Eq,
    In,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    Lt,
    Lte,
    Gt,
    Gte,
    SemverEq,
    SemverLt,
    SemverLte,
    SemverGt,
    SemverGte,
    Before,
    After,
    Exists,
}

/// What a rule or the default serves: one variant, or a percentage split.
#[derive(ToSchema)]
#[schema(as = Serve)]
#[serde(rename_all = "snake_case")]
pub enum ServeDoc {
    /// Everyone gets this variant.
    Variant(String),
    /// Contexts are bucketed and the bucket picks the variant.
    Split(SplitDoc),
}

/// A percentage split; weights are in units of 1/100000 and sum to 100000.
#[derive(ToSchema)]
#[schema(as = Split, example = json!({ "bucket_by": "key",
    "weights": [{ "variant": "on", "weight": 25000 }, { "variant": "off", "weight": 75000 }] }))]
pub struct SplitDoc {
    /// The attribute hashed into a bucket; `key` (the default) is the context key.
    #[schema(default = "key")]
    bucket_by: Option<String>,
    /// Walked in order: variant i owns `[sum of weights before i, sum through i)`.
    weights: Vec<WeightDoc>,
}

/// One variant's share of a split.
#[derive(ToSchema)]
#[schema(as = Weight)]
pub struct WeightDoc {
    /// The variant.
    variant: String,
    /// Its share in units of 1/100000.
    weight: u32,
}

/// A flag that must serve a given variant for this one to be on.
#[derive(ToSchema)]
#[schema(as = Prerequisite)]
pub struct PrerequisiteDoc {
    /// The prerequisite flag's key.
    flag: String,
    /// The variant it must serve.
    variant: String,
}
