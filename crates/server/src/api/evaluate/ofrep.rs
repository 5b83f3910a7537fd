//! The OpenFeature Remote Evaluation Protocol (OFREP): `POST /ofrep/v1/evaluate/flags/{key}` and
//! `POST /ofrep/v1/evaluate/flags`, so that any OpenFeature OFREP provider works against Pennon.
//!
//! The environment comes from the [`EvalScope`] (for now the `X-Pennon-Environment` header). The request is
//! `{"context": {"targetingKey": "user-42", "plan": "pro", ...}}`: `targetingKey` becomes the context key,
//! every other entry an attribute.
//!
//! Pennon's reasons map to OpenFeature's as follows (the Pennon reason, rule, bucket and config version travel
//! in `metadata` as `pennonReason`, `ruleId`, `ruleIndex`, `bucket`, `prerequisite` and `version`):
//!
//! | Pennon | OFREP `reason` |
//! |---|---|
//! | `OFF` | `DISABLED` (the off variant's value is served) |
//! | `PREREQUISITE_FAILED` | `DISABLED` (the off variant is served, as when the flag is off) |
//! | `TARGET_MATCH` | `TARGETING_MATCH` |
//! | `RULE_MATCH` serving a variant | `TARGETING_MATCH` |
//! | `RULE_MATCH` or `FALLTHROUGH` serving a split | `SPLIT` |
//! | `FALLTHROUGH` of a flag without targets, rules or prerequisites | `STATIC` |
//! | `FALLTHROUGH` otherwise | `TARGETING_MATCH` (the targeting was evaluated for the context) |
//!
//! These are reasons the OFREP specification lists (`STATIC`, `TARGETING_MATCH`, `SPLIT`, `DISABLED`,
//! `UNKNOWN`); OpenFeature's `DEFAULT` is not one of them, so it is never answered.
//!
//! `ERROR` reasons are failures `{"key", "errorCode", "errorDetails"}`: `FLAG_NOT_FOUND` (404 for one flag),
//! `TARGETING_KEY_MISSING` when a split buckets by a context without `targetingKey`, `INVALID_CONTEXT` when
//! it lacks another `bucket_by` attribute, `TYPE_MISMATCH` (400) and `GENERAL` for a config that cannot be
//! evaluated (500). In a bulk answer such failures are items of `flags` and the answer stays 200. A body
//! that is not JSON is `PARSE_ERROR`, a `context` that is not an object or a `targetingKey` that is not a
//! string `INVALID_CONTEXT` (400). Without an environment, or with an unknown one, the answer is 401.

use std::hash::{Hash, Hasher};

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pennon_engine::{Context, ErrorCode, Evaluation, Reason, Serve};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ENVIRONMENT_HEADER, EvalScope, EvalState, ScopeError, count, json_answer};
use crate::app::state::AppState;
use crate::delivery::snapshots::EnvSnapshot;
use crate::http::error::Json;

/// Routes of the protocol, at the server's root.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(evaluate_flag)).routes(routes!(evaluate_flags))
}

/// An evaluation request.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OfrepRequest {
    /// `targetingKey` and any attributes.
    #[schema(value_type = Option<Object>)]
    context: Option<Value>,
}

/// A successful evaluation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfrepSuccess<'a> {
    /// The flag key.
    key: &'a str,
    /// The value served.
    #[schema(value_type = serde_json::Value)]
    value: &'a Value,
    /// Why this value (see the module documentation).
    reason: OfrepReason,
    /// The variant served.
    variant: &'a str,
    /// Pennon's own account of the evaluation.
    metadata: OfrepMetadata<'a>,
}

/// The reasons of OFREP's specification that Pennon answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfrepReason {
    /// The flag serves one value to everyone.
    Static,
    /// The context's targeting decided the value.
    TargetingMatch,
    /// A percentage split decided the value.
    Split,
    /// The flag is off, or off for this context (a prerequisite failed): its off variant is served.
    Disabled,
}

/// Pennon's details of an evaluation, as OFREP metadata (booleans, strings and numbers only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfrepMetadata<'a> {
    /// The flag config's version.
    version: u64,
    /// Pennon's reason (`OFF`, `RULE_MATCH`, ...).
    pennon_reason: &'static str,
    /// The rule that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_id: Option<&'a str>,
    /// Its position.
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    /// The bucket (0 to 99999), when a split served.
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<u32>,
    /// The prerequisite that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    prerequisite: Option<&'a str>,
}

/// A failed evaluation, or a failed request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfrepFailure<'a> {
    /// The flag key, when one flag failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    /// `PARSE_ERROR`, `TARGETING_KEY_MISSING`, `INVALID_CONTEXT`, `FLAG_NOT_FOUND`, `TYPE_MISMATCH` or `GENERAL`.
    error_code: &'static str,
    /// What went wrong, for logs.
    error_details: String,
}

/// One item of a bulk answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum OfrepItem<'a> {
    /// The flag evaluated.
    Success(OfrepSuccess<'a>),
    /// The flag could not be evaluated for this context.
    Failure(OfrepFailure<'a>),
}

/// Every flag's evaluation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfrepBulk<'a> {
    /// One per flag, by key.
    flags: Vec<OfrepItem<'a>>,
}

type Failed<'a> = (StatusCode, OfrepFailure<'a>);

fn failure<'a>(status: StatusCode, key: Option<&'a str>, code: &'static str, details: String) -> Failed<'a> {
    (status, OfrepFailure { key, error_code: code, error_details: details })
}

/// The 413 of an OFREP route, in OFREP's failure shape (the route layer answers it for a body announced over
/// the limit, before the handler runs).
pub fn too_large() -> Response {
    answer(failure(StatusCode::PAYLOAD_TOO_LARGE, None, "GENERAL", "request body too large".to_owned()))
}

fn answer(failed: Failed<'_>) -> Response {
    (failed.0, Json(failed.1)).into_response()
}

/// The environment's snapshot, or 401: without SDK keys the environment header plays the credential.
fn snapshot(state: &EvalState, scope: &EvalScope) -> Result<std::sync::Arc<EnvSnapshot>, Failed<'static>> {
    let unauthorized = |details| failure(StatusCode::UNAUTHORIZED, None, "GENERAL", details);
    let env = scope.resolve(None).map_err(|e| match e {
        ScopeError::Unauthenticated => unauthorized("a valid SDK key is required".to_owned()),
        ScopeError::Unavailable => failure(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "GENERAL",
            "the database is unavailable; try again in a few seconds".to_owned(),
        ),
        _ => unauthorized(format!("name the environment in {ENVIRONMENT_HEADER}")),
    })?;
    state.snapshots.get(env).ok_or_else(|| unauthorized(format!("environment \"{env}\" not found")))
}

/// Reads the request's body as its context (only once the caller is known).
async fn read_context(req: Request, max_attributes: usize) -> Result<Context, Failed<'static>> {
    parse_context(Bytes::from_request(req, &()).await, max_attributes)
}

/// The request body as read: `context` at most once; other members are read (so that they too must be
/// well-formed JSON) and ignored, as OFREP allows.
struct OfrepBody {
    context: Option<Value>,
}

impl<'de> serde::Deserialize<'de> for OfrepBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = OfrepBody;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object {\"context\": {...}}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OfrepBody, A::Error> {
                let mut context = None;
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let value: Value = map.next_value()?;
                    if name != "context" {
                        continue;
                    }
                    if context.is_some() {
                        return Err(serde::de::Error::duplicate_field("context"));
                    }
                    context = Some(value);
                }
                Ok(OfrepBody { context })
            }
        }
        d.deserialize_map(Members)
    }
}

/// Reads `{"context": {...}}`; an empty body is an empty context.
fn parse_context(body: Result<Bytes, BytesRejection>, max_attributes: usize) -> Result<Context, Failed<'static>> {
    let body = body.map_err(|r| failure(r.status(), None, "GENERAL", r.body_text()))?;
    let mut context = Context::anonymous();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(context);
    }
    let bad = |code, details: &str| failure(StatusCode::BAD_REQUEST, None, code, details.to_owned());
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(bad("PARSE_ERROR", "the body must be a JSON object: {\"context\": {...}}"));
    }
    // Read as a struct, so that a repeated `context` is refused rather than one of them silently dropped.
    let request: OfrepBody =
        serde_json::from_slice(&body).map_err(|e| bad("PARSE_ERROR", &format!("the body is not JSON: {e}")))?;
    let attributes = match request.context {
        None | Some(Value::Null) => return Ok(context),
        Some(Value::Object(attributes)) => attributes,
        Some(_) => return Err(bad("INVALID_CONTEXT", "context must be a JSON object")),
    };
    if attributes.len() > max_attributes {
        let details = format!("a context may carry at most {max_attributes} attributes (--max-context-attributes)");
        return Err(bad("INVALID_CONTEXT", &details));
    }
    for (name, value) in attributes {
        if name != "targetingKey" {
            context.attributes.insert(name, value);
            continue;
        }
        match value {
            Value::String(key) if !key.is_empty() => context.key = Some(key),
            Value::String(_) | Value::Null => {}
            _ => return Err(bad("INVALID_CONTEXT", "targetingKey must be a string")),
        }
    }
    Ok(context)
}

/// Whether a flag's fixed default is all it can serve: enabled, no targets, rules or prerequisites.
fn is_static(snapshot: &EnvSnapshot, key: &str) -> bool {
    snapshot.flag(key).is_some_and(|f| {
        let c = &f.config;
        c.enabled
            && c.targets.is_empty()
            && c.rules.is_empty()
            && c.prerequisites.is_empty()
            && matches!(c.default, Serve::Variant(_))
    })
}

/// An engine evaluation in OFREP's terms (see the module documentation for the mapping).
fn convert<'a>(snapshot: &EnvSnapshot, e: &Evaluation<'a>, context: &Context) -> Result<OfrepSuccess<'a>, Failed<'a>> {
    let mut metadata = OfrepMetadata {
        version: e.version,
        pennon_reason: e.reason.kind(),
        rule_id: None,
        rule_index: None,
        bucket: None,
        prerequisite: None,
    };
    let reason = match e.reason {
        Reason::Off => OfrepReason::Disabled,
        Reason::PrerequisiteFailed { flag } => {
            metadata.prerequisite = Some(flag);
            OfrepReason::Disabled
        }
        Reason::RuleMatch { rule_id, rule_index, bucket } => {
            (metadata.rule_id, metadata.rule_index, metadata.bucket) = (Some(rule_id), Some(rule_index), bucket);
            if bucket.is_some() { OfrepReason::Split } else { OfrepReason::TargetingMatch }
        }
        Reason::Fallthrough { bucket: Some(bucket) } => {
            metadata.bucket = Some(bucket);
            OfrepReason::Split
        }
        Reason::Fallthrough { bucket: None } if is_static(snapshot, e.flag) => OfrepReason::Static,
        Reason::TargetMatch | Reason::Fallthrough { bucket: None } => OfrepReason::TargetingMatch,
        Reason::Error { error } => return Err(error_failure(e.flag, error, context)),
    };
    match (e.value, e.variant) {
        (Some(value), Some(variant)) => Ok(OfrepSuccess { key: e.flag, value, reason, variant, metadata }),
        _ => Err(error_failure(e.flag, ErrorCode::MalformedConfig, context)),
    }
}

fn error_failure<'a>(key: &'a str, error: ErrorCode, context: &Context) -> Failed<'a> {
    let key = Some(key);
    match error {
        ErrorCode::FlagNotFound => {
            failure(StatusCode::NOT_FOUND, key, "FLAG_NOT_FOUND", "no flag with this key in the environment".into())
        }
        ErrorCode::MissingBucketBy if context.key.is_none() => failure(
            StatusCode::BAD_REQUEST,
            key,
            "TARGETING_KEY_MISSING",
            "this flag splits by the targeting key, and the context has none".into(),
        ),
        ErrorCode::MissingBucketBy => failure(
            StatusCode::BAD_REQUEST,
            key,
            "INVALID_CONTEXT",
            "the context lacks the attribute this flag's split buckets by".into(),
        ),
        ErrorCode::TypeMismatch => {
            failure(StatusCode::BAD_REQUEST, key, "TYPE_MISMATCH", "the flag serves another type".into())
        }
        ErrorCode::MalformedConfig => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            key,
            "GENERAL",
            "the flag's configuration cannot be evaluated".into(),
        ),
    }
}

/// Evaluate one flag (OFREP single flag evaluation).
///
/// See the module documentation for how Pennon's reasons and errors map to OFREP's.
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags/{key}", tag = "ofrep", request_body = OfrepRequest,
    security(("sdk_key" = ["client"]), ("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("key" = String, Path, description = "Flag key"),
        ("X-Pennon-Environment" = String, Header, description = "The environment to evaluate in")),
    responses((status = 200, body = OfrepSuccess), (status = 400, body = OfrepFailure),
        (status = 401, body = OfrepFailure), (status = 404, body = OfrepFailure),
        (status = 500, body = OfrepFailure)))]
async fn evaluate_flag(
    scope: EvalScope,
    State(state): State<EvalState>,
    key: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    let snapshot = match snapshot(&state, &scope) {
        Ok(s) => s,
        Err(failed) => return answer(failed),
    };
    // A key that is not UTF-8 names no flag (answered in OFREP's shape, as every failure here).
    let Ok(Path(key)) = key else {
        return answer(failure(StatusCode::NOT_FOUND, None, "FLAG_NOT_FOUND", "no flag has this key".into()));
    };
    let context = match read_context(req, state.max_attributes).await {
        Ok(c) => c,
        Err((status, f)) => return answer((status, OfrepFailure { key: Some(&key), ..f })),
    };
    let evaluation = snapshot.compiled.evaluate(&key, &context);
    count(&state, &snapshot, None, &evaluation);
    match convert(&snapshot, &evaluation, &context) {
        Ok(success) => json_answer(&success, 384),
        Err(failed) => answer(failed),
    }
}

/// Evaluate every flag (OFREP bulk evaluation), with `ETag` / `If-None-Match`.
///
/// Flags that cannot be evaluated for the context are failure items; the answer stays 200. The `ETag`
/// changes whenever the answer would: `If-None-Match` with the last one gives 304 until then.
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags", tag = "ofrep", request_body = OfrepRequest,
    security(("sdk_key" = ["client"]), ("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("X-Pennon-Environment" = String, Header, description = "The environment to evaluate in"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the last answer")),
    responses((status = 200, body = OfrepBulk, headers(("ETag" = String))), (status = 304),
        (status = 400, body = OfrepFailure), (status = 401, body = OfrepFailure)))]
async fn evaluate_flags(
    scope: EvalScope,
    State(state): State<EvalState>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let snapshot = match snapshot(&state, &scope) {
        Ok(s) => s,
        Err(failed) => return answer(failed),
    };
    let context = match read_context(req, state.max_attributes).await {
        Ok(c) => c,
        Err(failed) => return answer(failed),
    };
    let evaluations = snapshot.compiled.evaluate_all(&context);
    let flags = evaluations
        .iter()
        .enumerate()
        .map(|(i, e)| {
            count(&state, &snapshot, Some(i), e);
            match convert(&snapshot, e, &context) {
                Ok(success) => OfrepItem::Success(success),
                Err((_, failure)) => OfrepItem::Failure(failure),
            }
        })
        .collect();
    let mut body = Vec::with_capacity(16 + 192 * evaluations.len());
    serde_json::to_writer(&mut body, &OfrepBulk { flags }).expect("evaluations always serialise");
    let tag = entity_tag(snapshot.revision(), &body);
    if headers.get_all(IF_NONE_MATCH).iter().any(|v| matches_tag(v, &tag)) {
        return (StatusCode::NOT_MODIFIED, [(ETAG, tag)]).into_response();
    }
    let json = HeaderValue::from_static("application/json");
    (StatusCode::OK, [(ETAG, tag), (axum::http::header::CONTENT_TYPE, json)], body).into_response()
}

/// The bulk answer's entity tag: the revision and a hash of the exact bytes (the same context on the same
/// revision gives the same bytes; a different context usually gives different ones).
fn entity_tag(revision: u64, body: &[u8]) -> HeaderValue {
    let mut hasher = std::hash::DefaultHasher::new();
    body.hash(&mut hasher);
    HeaderValue::from_str(&format!("\"{revision}-{:016x}\"", hasher.finish())).expect("a valid header")
}

/// Whether an `If-None-Match` value (`*`, or a list of possibly weak tags) matches.
fn matches_tag(value: &HeaderValue, tag: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else { return false };
    let tag = tag.to_str().unwrap_or_default();
    text.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tag = HeaderValue::from_static("\"3-00ff\"");
        for matching in ["\"3-00ff\"", "W/\"3-00ff\"", "\"1-aa\", \"3-00ff\"", "*"] {
            assert!(matches_tag(&HeaderValue::from_static(matching), &tag), "{matching}");
        }
        assert!(!matches_tag(&HeaderValue::from_static("\"2-00ff\""), &tag));
    }

    #[test]
    fn contexts_take_the_targeting_key_apart() {
        let body = Bytes::from_static(br#"{"context": {"targetingKey": "user-1", "plan": "pro"}}"#);
        let context = parse_context(Ok(body), 256).unwrap();
        assert_eq!(context.key(), Some("user-1"));
        assert_eq!(context.attributes["plan"], "pro");
        assert!(parse_context(Ok(Bytes::new()), 256).unwrap().key.is_none());
        let bad = parse_context(Ok(Bytes::from_static(br#"{"context": {"targetingKey": 7}}"#)), 256).unwrap_err();
        assert_eq!(bad.1.error_code, "INVALID_CONTEXT");
        assert_eq!(parse_context(Ok(Bytes::from_static(b"{")), 256).unwrap_err().1.error_code, "PARSE_ERROR");
    }
}
