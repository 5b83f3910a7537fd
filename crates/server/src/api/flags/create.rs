//! `POST /flags`: define a flag; it starts off in every environment (a boolean flag's default is `on`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::IntoResponse;
use pennon_engine::{Flag, FlagKind, Variant, validate_flag};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::super::common::{check_key, etag};
use super::{FlagBody, check_description, check_name, check_tags, dedup_tags};
use crate::api::rules::{Description, Name, Slug, Tag};
use crate::app::state::AppState;
use crate::auth::Editor;
use crate::http::error::{ApiError, Json, ProblemBody};

/// A new flag.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "key": "checkout-button", "kind": "string", "tags": ["checkout"],
    "variants": [{ "key": "blue", "value": "#0000ff" }, { "key": "green", "value": "#00ff00" }] }))]
pub struct CreateFlag {
    /// Slug key, unique among flags.
    #[schema(value_type = Slug)]
    pub key: String,
    /// Display name; the key when omitted.
    #[serde(default)]
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
    /// The type of value served; cannot be changed later.
    pub kind: FlagKind,
    /// The values the flag can serve. Required for string, number and json flags; boolean flags get
    /// `on` (true) and `off` (false) and accept no others.
    #[serde(default)]
    pub variants: Option<Vec<Variant>>,
}

pub(crate) fn boolean_variants() -> Vec<Variant> {
    vec![
        Variant { key: "on".into(), value: Value::Bool(true), name: None },
        Variant { key: "off".into(), value: Value::Bool(false), name: None },
    ]
}

/// A salt of 16 hex digits: bucketing mixes it in so that flags assign contexts independently.
pub(crate) fn new_salt() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Create a flag. It gets a random salt and starts disabled, serving its off variant (`off`, or the first
/// variant), in every environment. Its default, served once it is turned on, is `on` for a boolean flag (the
/// first variant for other kinds), so turning a new boolean flag on serves `on` to everyone.
#[utoipa::path(post, path = "/api/v1/flags", tag = "flags", security(("bearer" = ["editor"]), ("session_cookie" = ["editor"])), request_body = CreateFlag,
    responses((status = 201, body = FlagBody, description = "Created; `ETag` is the definition's version"),
        (status = 400, body = ProblemBody), (status = 409, body = ProblemBody, description = "The key is taken"),
        (status = 422, body = ProblemBody, description = "Invalid variants or tags, each with its path")))]
pub(super) async fn create_flag(
    caller: Editor,
    State(state): State<AppState>,
    Json(body): Json<CreateFlag>,
) -> Result<impl IntoResponse, ApiError> {
    check_key("key", &body.key)?;
    let name = body.name.unwrap_or_else(|| body.key.clone());
    check_name(&name)?;
    check_description(&body.description)?;
    check_tags(&body.tags)?;
    let variants = match (body.kind, body.variants) {
        (FlagKind::Boolean, None) => boolean_variants(),
        (_, variants) => variants.unwrap_or_default(),
    };
    let flag = Flag {
        key: body.key,
        name,
        description: body.description,
        tags: dedup_tags(body.tags),
        kind: body.kind,
        variants,
        salt: new_salt(),
        archived: false,
    };
    let problems = validate_flag(&flag);
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let (record, revisions) = state.store.create_flag(&flag, caller.actor()).await?;
    state.snapshots.after_commit(&revisions).await;
    let mut headers = etag(record.version);
    let location = format!("/api/v1/flags/{}", record.flag.key);
    headers.insert(LOCATION, location.parse().expect("slugs are valid header text"));
    Ok((StatusCode::CREATED, headers, Json(FlagBody::from(record))))
}
