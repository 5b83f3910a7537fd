//! The flag model as it travels over the wire: plain serde types, no behaviour.
//!
//! These are the shapes the REST API returns, the SDK receives and the test vectors use. Nothing here is
//! trusted: [`crate::validate_config`] checks a config before it is stored, and [`crate::CompiledSnapshot`] turns a
//! snapshot into its fast, immutable form (tolerating whatever validation would have refused).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of value a flag serves. Every variant's value must be of this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// `true` / `false`; boolean flags have exactly the variants `on` (true) and `off` (false).
    Boolean,
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// Any JSON value.
    Json,
}

impl FlagKind {
    /// Whether `value` is of this kind.
    pub fn admits(self, value: &Value) -> bool {
        match self {
            FlagKind::Boolean => value.is_boolean(),
            FlagKind::String => value.is_string(),
            FlagKind::Number => value.is_number(),
            FlagKind::Json => true,
        }
    }

    /// The lower-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::Boolean => "boolean",
            FlagKind::String => "string",
            FlagKind::Number => "number",
            FlagKind::Json => "json",
        }
    }
}

/// One of the values a flag can serve, named by a key that rules and splits refer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({ "key": "blue", "value": "#0000ff", "name": "Blue" })))]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Slug key, unique within the flag; rules, targets and splits name it.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z0-9][a-z0-9_.-]*$", min_length = 1, max_length = 128))]
    pub key: String,
    /// The value served; must be of the flag's kind.
    pub value: Value,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A flag's definition, shared by every environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Flag {
    /// Slug key, unique in the project.
    pub key: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Tags for filtering.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The type of value served.
    pub kind: FlagKind,
    /// The values the flag can serve.
    pub variants: Vec<Variant>,
    /// Random at creation and never changed: mixed into every bucket so flags assign independently.
    pub salt: String,
    /// Archived flags stay in snapshots until deleted but are hidden from lists.
    #[serde(default)]
    pub archived: bool,
}

/// A flag's configuration in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlagConfig {
    /// The flag's key.
    pub flag: String,
    /// The environment's key.
    pub environment: String,
    /// Bumped on every change; writes name the version they were based on.
    pub version: u64,
    /// A disabled flag serves its off variant to everyone.
    pub enabled: bool,
    /// Served when disabled or when a prerequisite fails.
    pub off_variant: String,
    /// Individual targets: these context keys get this variant.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Rules, tried in order; the first match serves.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What everybody else gets.
    pub default: Serve,
    /// Flags that must serve a given variant for this one to be on.
    #[serde(default)]
    pub prerequisites: Vec<Prerequisite>,
}

/// Individual targeting: context keys that get one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The variant served.
    pub variant: String,
    /// The context keys it is served to (each key at most once in a config).
    pub keys: Vec<String>,
}

/// A targeting rule: when every condition holds and the context is in every segment, serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Slug id, unique within the config; reported in `RULE_MATCH` reasons.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z0-9][a-z0-9_.-]*$", min_length = 1, max_length = 128))]
    pub id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Segment keys: the context must be in all of them.
    #[serde(default)]
    pub segments: Vec<String>,
    /// What a matching context gets.
    pub serve: Serve,
}

/// A test on one context attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({ "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] })))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The attribute name; `key` is the context key.
    pub attribute: String,
    /// How to compare.
    pub operator: Operator,
    /// What to compare with (none for `exists`, exactly one for comparisons): the condition holds when the
    /// attribute matches any of them.
    #[serde(default)]
    pub values: Vec<Value>,
    /// Inverts the result (a missing attribute then holds).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub negate: bool,
}

/// Condition operators. See the crate documentation for each one's semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Operator {
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
    /// Unleash's gradual rollout, for imported flags: `values` are `[group_id, percentage 0..=100]`; holds
    /// when `1 + murmur3_x86_32(utf8(group_id + ":" + value), seed = 0) mod 100 <= percentage`.
    UnleashRollout,
}

impl Operator {
    /// Every operator, in documentation order.
    pub const ALL: [Operator; 19] = [
        Operator::Eq,
        Operator::In,
        Operator::Contains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Matches,
        Operator::Lt,
        Operator::Lte,
        Operator::Gt,
        Operator::Gte,
        Operator::SemverEq,
        Operator::SemverLt,
        Operator::SemverLte,
        Operator::SemverGt,
        Operator::SemverGte,
        Operator::Before,
        Operator::After,
        Operator::Exists,
        Operator::UnleashRollout,
    ];
}

/// A reusable set of contexts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Slug key.
    pub key: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// A context not listed explicitly is in the segment when all of these hold (and there is at least one).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Context keys always in the segment.
    #[serde(default)]
    pub included: Vec<String>,
    /// Context keys never in the segment (unless also included).
    #[serde(default)]
    pub excluded: Vec<String>,
    /// Bumped on every change.
    #[serde(default)]
    pub version: u64,
}

/// What a rule or the default serves: one variant, or a percentage split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Serve {
    /// Everyone gets this variant.
    Variant(String),
    /// Contexts are bucketed and the bucket picks the variant.
    Split(Split),
}

/// A percentage split. Weights are in units of 1/100000 and sum to 100000.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({ "bucket_by": "key",
    "weights": [{ "variant": "on", "weight": 25000 }, { "variant": "off", "weight": 75000 }] })))]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// The attribute hashed into a bucket; `key` (the default) is the context key.
    #[serde(default = "default_bucket_by")]
    #[cfg_attr(feature = "openapi", schema(default = "key"))]
    pub bucket_by: String,
    /// Walked in order: variant i owns `[sum of weights before i, sum through i)`.
    pub weights: Vec<Weight>,
    /// How contexts are bucketed; absent means Pennon's own scheme (see the crate documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucketing: Option<Bucketing>,
}

/// A bucketing scheme other than Pennon's own, kept so that flags imported from another system assign every
/// context to the variant it had there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
pub enum Bucketing {
    /// Unleash's variant assignment (version 1 of this scheme): the weights sum to any positive total (Unleash
    /// uses 1000); the bucket is `1 + murmur3_x86_32(utf8(group_id + ":" + value), seed = 86028157) mod total`
    /// and variant i owns `(sum of weights before i, sum through i]`.
    Unleash {
        /// Unleash's group id: the strategy's `groupId`, or the toggle's name for toggle-level variants.
        group_id: String,
    },
}

fn default_bucket_by() -> String {
    "key".to_owned()
}

/// One variant's share of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Weight {
    /// The variant.
    pub variant: String,
    /// Its share in units of 1/100000.
    #[serde(deserialize_with = "crate::whole_numbers::integer")]
    pub weight: u32,
}

/// A flag that must serve a given variant for this one to be on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Prerequisite {
    /// The prerequisite flag's key.
    pub flag: String,
    /// The variant it must serve.
    pub variant: String,
}

/// A flag with its configuration in the snapshot's environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SnapshotFlag {
    /// The definition.
    pub definition: Flag,
    /// The configuration in this environment.
    pub config: FlagConfig,
}

/// Everything needed to evaluate every flag of one environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The environment's key.
    #[serde(default)]
    pub environment: String,
    /// The environment's revision: bumped by every change in it.
    #[serde(default)]
    pub revision: u64,
    /// The flags with their configs.
    #[serde(default)]
    pub flags: Vec<SnapshotFlag>,
    /// The segments.
    #[serde(default)]
    pub segments: Vec<Segment>,
}
