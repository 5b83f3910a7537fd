//! `POST /evaluate`: evaluates one flag, or every flag, for a context, from the in-memory snapshot.
//!
//! This is the hot path: no database, no copies of the snapshot. The engine's [`Evaluation`]s borrow from the
//! snapshot and are serialised as they are, so the answer is exactly the engine's wire format.

mod body;
mod json_body;
pub mod ofrep;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pennon_engine::{Context, ContextRef, ContextSource, ErrorCode, Evaluation, Reason};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::state::AppState;
use crate::delivery::evaluation_json::Prewritten as _;
use crate::delivery::snapshots::{EnvSnapshot, Snapshots};
use crate::http::error::{ApiError, ProblemBody};
use crate::telemetry::metrics::Metrics;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(evaluate))
}

/// The part of the application state evaluation uses: taken per request, it costs two reference counts
/// instead of a clone of the whole state.
#[derive(Debug, Clone)]
pub struct EvalState {
    /// The compiled snapshots.
    pub snapshots: Arc<Snapshots>,
    /// Where evaluations are counted.
    pub metrics: Arc<Metrics>,
    /// Most attributes a context may carry.
    pub max_attributes: usize,
}

impl FromRef<AppState> for EvalState {
    fn from_ref(state: &AppState) -> Self {
        EvalState {
            snapshots: state.snapshots.clone(),
            metrics: state.metrics.clone(),
            max_attributes: state.config.max_context_attributes,
        }
    }
}

/// Header naming the environment when an admin credential (not an SDK key) evaluates.
pub const ENVIRONMENT_HEADER: &str = "x-pennon-environment";

/// Which environment an evaluation request (`/api/v1/evaluate`, OFREP) may read: the authentication seam of
/// the evaluation endpoints.
///
/// An SDK key (client or server, checked in memory: no database on this path) binds its own environment.
/// An admin credential (session or API token, e.g. the dashboard trying a flag out) may evaluate in any
/// environment, named by the request body or the `X-Pennon-Environment` header. The extractor never
/// rejects: each protocol answers a missing credential or environment in its own error shape (see
/// [`EvalScope::resolve`]).
#[derive(Debug, Clone, Default)]
pub struct EvalScope {
    bound: Option<String>,
    named: Option<String>,
    authenticated: bool,
    /// An admin credential could not be checked because the database is unavailable.
    unavailable: bool,
}

/// Why [`EvalScope::resolve`] found no environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeError {
    /// No valid credential.
    Unauthenticated,
    /// The credential could not be checked: the database is unavailable (never reported as unauthenticated).
    Unavailable,
    /// Neither the credential nor the request names one.
    Missing,
    /// The request names another environment than the credential is bound to.
    Conflict,
}

impl<S: Send + Sync> FromRequestParts<S> for EvalScope
where
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let named = parts
            .headers
            .get(ENVIRONMENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let state = AppState::from_ref(state);
        let Some(credential) = crate::auth::bearer(&parts.headers) else {
            return Ok(EvalScope { bound: None, named, authenticated: false, unavailable: false });
        };
        if let Some(grant) = state.auth.keys.check(credential) {
            return Ok(EvalScope { bound: Some(grant.environment), named, authenticated: true, unavailable: false });
        }
        let checked = if crate::auth::secrets::is_sdk_key(credential) {
            Err(ApiError::Unauthorized)
        } else {
            crate::auth::authenticate(&parts.headers, &state).await
        };
        let unavailable = matches!(checked, Err(ApiError::Unavailable));
        Ok(EvalScope { bound: None, named, authenticated: checked.is_ok(), unavailable })
    }
}

impl EvalScope {
    /// The environment an SDK key binds, if any.
    pub fn bound(&self) -> Option<&str> {
        self.bound.as_deref()
    }

    /// The environment to evaluate in: the key's, or else the one the request (or the header) names. A
    /// request may repeat the key's environment but not name another.
    pub fn resolve<'a>(&'a self, requested: Option<&'a str>) -> Result<&'a str, ScopeError> {
        if self.unavailable {
            return Err(ScopeError::Unavailable);
        }
        if !self.authenticated {
            return Err(ScopeError::Unauthenticated);
        }
        let requested = match (requested, self.named.as_deref()) {
            (Some(body), Some(header)) if body != header => return Err(ScopeError::Conflict),
            (body, header) => body.or(header),
        };
        match (self.bound(), requested) {
            (Some(bound), Some(asked)) if bound != asked => Err(ScopeError::Conflict),
            (Some(env), _) | (None, Some(env)) => Ok(env),
            (None, None) => Err(ScopeError::Missing),
        }
    }
}

/// The evaluation request's body, said to be JSON: the handler reads it with
/// `body::parse` in place when it has the plain shape SDKs send, and with serde otherwise
/// (`json_body::parse`: the same result, or the problem named).
#[derive(Debug)]
pub struct EvaluateBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for EvaluateBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        json_body::read(req).await.map(EvaluateBody)
    }
}

/// The flag label under which evaluations of unknown flags are counted: callers choose those keys, so they
/// must not become metric labels.
pub(crate) const UNKNOWN_FLAG_LABEL: &str = "_unknown";

/// What to evaluate.
#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The environment; may be left out when `X-Pennon-Environment` names it (they must agree when both do).
    #[serde(default)]
    pub environment: Option<String>,
    /// Who is asking: `{"key": "user-42", "attributes": {"plan": "pro"}}`.
    #[serde(default)]
    #[schema(value_type = crate::api::rules::EvalContext, required = true)]
    pub context: Option<Context>,
    /// One flag's key; every flag when omitted.
    #[serde(default)]
    pub flag: Option<String>,
}

/// The reason for an evaluation (documentation of the engine's shape).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ReasonBody {
    /// `OFF`, `PREREQUISITE_FAILED`, `TARGET_MATCH`, `RULE_MATCH`, `FALLTHROUGH` or `ERROR`.
    kind: String,
    /// `PREREQUISITE_FAILED`: the prerequisite that failed.
    flag: Option<String>,
    /// `RULE_MATCH`: the rule's id.
    rule_id: Option<String>,
    /// `RULE_MATCH`: the rule's position.
    rule_index: Option<u32>,
    /// `RULE_MATCH`, `FALLTHROUGH`: the bucket (0 to 99999) when a split served.
    bucket: Option<u32>,
    /// `ERROR`: `FLAG_NOT_FOUND`, `TYPE_MISMATCH`, `MISSING_BUCKET_BY` or `MALFORMED_CONFIG`.
    error: Option<String>,
}

/// One flag's evaluation (documentation of the engine's shape).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EvaluationBody {
    /// The flag key asked for.
    flag: String,
    /// The value served; `null` on error (use your default).
    value: Option<serde_json::Value>,
    /// The variant served; `null` on error.
    variant: Option<String>,
    /// The flag config's version; 0 when the flag is unknown.
    version: u64,
    /// Why.
    reason: ReasonBody,
}

/// Every flag's evaluation in an environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationList<'a> {
    /// The environment.
    pub environment: &'a str,
    /// The snapshot revision the evaluations come from.
    pub revision: u64,
    /// One per flag, by key.
    #[schema(value_type = Vec<EvaluationBody>)]
    pub evaluations: Vec<Evaluation<'a>>,
}

/// The answer's two shapes (documentation only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum EvaluateResponse {
    /// With `flag`: that flag's evaluation.
    One(EvaluationBody),
    /// Without `flag`: every flag's.
    All(EvaluationList<'static>),
}

/// Maps a scope failure to the admin API's problem shape.
pub(crate) fn scope_problem(e: ScopeError) -> ApiError {
    match e {
        ScopeError::Unauthenticated => ApiError::Unauthorized,
        ScopeError::Unavailable => ApiError::Unavailable,
        ScopeError::Missing => ApiError::bad_field("environment", "environment is required"),
        ScopeError::Conflict => {
            ApiError::invalid("environment", "environment differs from the one the SDK key or the header names")
        }
    }
}

/// Evaluate one flag (`flag`) or every flag for a context, in one environment.
///
/// One flag answers `{"flag", "value", "variant", "version", "reason"}`; an unknown flag is not an HTTP
/// error but an evaluation with reason `ERROR` / `FLAG_NOT_FOUND` and a `null` value. Without `flag` the
/// answer is `{"environment", "revision", "evaluations": [...]}`.
#[utoipa::path(post, path = "/api/v1/evaluate", tag = "evaluation", request_body = EvaluateRequest,
    security(("sdk_key" = ["client"]), ("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])),
    params(("X-Pennon-Environment" = Option<String>, Header, description = "With an admin credential: the environment to evaluate in")),
    responses((status = 200, description = "One evaluation, or every flag's", body = EvaluateResponse),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn evaluate(scope: EvalScope, State(state): State<EvalState>, req: Request) -> Result<Response, ApiError> {
    // The caller first: nothing of the body is read for a request without a valid credential.
    if !scope.authenticated {
        return Err(ApiError::Unauthorized);
    }
    let EvaluateBody(body) = EvaluateBody::from_request(req, &()).await?;
    // A plain body is evaluated where it lies; any other is read into owned values first.
    if let Some(plain) = body::parse(&body) {
        check_attributes(&state, plain.context.as_ref().map_or(0, ContextRef::len))?;
        return answer(&scope, &state, plain.environment, plain.flag, plain.context.as_ref());
    }
    // Attributes past the limit stop the reading at once (a hostile body costs what its first ones cost).
    let body: EvaluateRequest = pennon_engine::read_at_most(state.max_attributes, || json_body::parse(&body))
        .map_err(|e| too_many(&state, e))?;
    check_attributes(&state, body.context.as_ref().map_or(0, |c| c.attributes.len()))?;
    answer(&scope, &state, body.environment.as_deref(), body.flag.as_deref(), body.context.as_ref())
}

/// serde's refusal of an attributes object past the limit, answered as [`check_attributes`] answers.
fn too_many(state: &EvalState, error: ApiError) -> ApiError {
    let limit = state.max_attributes;
    match &error {
        ApiError::BadRequest { detail, .. } if detail.contains(&format!("more than {limit} attributes")) => {
            ApiError::invalid(
                "context.attributes",
                format!("a context may carry at most {limit} attributes (--max-context-attributes)"),
            )
        }
        _ => error,
    }
}

/// Refuses a context with more attributes than `--max-context-attributes` allows.
fn check_attributes(state: &EvalState, count: usize) -> Result<(), ApiError> {
    if count > state.max_attributes {
        let limit = state.max_attributes;
        return Err(ApiError::invalid(
            "context.attributes",
            format!("a context may carry at most {limit} attributes (--max-context-attributes); this one has {count}"),
        ));
    }
    Ok(())
}

/// The answer to an evaluation request, whichever way its body was read.
fn answer(
    scope: &EvalScope,
    state: &EvalState,
    environment: Option<&str>,
    flag: Option<&str>,
    context: Option<&impl ContextSource>,
) -> Result<Response, ApiError> {
    let environment = scope.resolve(environment).map_err(scope_problem)?;
    let Some(context) = context else {
        return Err(ApiError::bad_field("context", "context is required, e.g. {\"key\": \"user-42\"}"));
    };
    let Some(snapshot) = state.snapshots.get(environment) else {
        return Err(ApiError::NotFound(format!("environment \"{environment}\"")));
    };
    let compiled = &snapshot.compiled;
    if let Some(flag) = flag {
        let (evaluation, served) = compiled.evaluate_served(flag, context);
        let position = served.map(|s| s.flag);
        count(state, &snapshot, position, &evaluation);
        let mut out = Vec::with_capacity(256);
        match served {
            Some(served) => snapshot.write(&mut out, &evaluation, served.flag, Some(served.variant)),
            None => crate::delivery::evaluation_json::write_evaluation(&mut out, &evaluation),
        }
        return Ok(json_bytes(out));
    }
    let evaluations = compiled.evaluate_all_served(context);
    // Every flag of the snapshot, in its order: each evaluation is its flag's, whose counters count it and
    // whose prewritten heads write it, in one pass.
    let mut flags = snapshot.served();
    let environment = compiled.environment();
    let counted = evaluations.iter().map(|(evaluation, variant)| {
        let flag = flags.next();
        match flag {
            Some(flag) => flag.counters.count(&state.metrics, environment, evaluation.flag, &evaluation.reason),
            None => state.metrics.evaluation(environment, evaluation.flag, evaluation.reason.kind()),
        }
        (evaluation, *variant, flag.map(|flag| &flag.json))
    });
    let mut out = Vec::with_capacity(64 + 128 * evaluations.len());
    crate::delivery::evaluation_json::write_all(&mut out, environment, compiled.revision(), counted);
    Ok(json_bytes(out))
}

/// Answers `value` as JSON, written into a buffer of `capacity` bytes (it grows when that is too little).
/// `serde_json` writes token by token; into a `Vec` that is a copy each, whereas through axum's `Json` (a
/// `BytesMut` writer that starts at 128 bytes) it costs about three times as much, which for every flag's
/// evaluation was as much as evaluating them.
pub(crate) fn json_answer<T: Serialize>(value: &T, capacity: usize) -> Response {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => json_bytes(body),
        Err(e) => ApiError::Internal(e.into()).into_response(),
    }
}

/// Answers a JSON body already written: the response made directly, with its one header (through
/// `IntoResponse` for a tuple, the `Vec` first gets a content type of its own, which is then replaced).
fn json_bytes(body: Vec<u8>) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Counts one evaluation served. `position` is the flag's position in the snapshot when the caller knows it
/// (every flag's evaluations come in that order); otherwise it is looked up.
pub(crate) fn count(state: &EvalState, snapshot: &EnvSnapshot, position: Option<usize>, evaluation: &Evaluation<'_>) {
    let environment = snapshot.compiled.environment();
    let (flag, reason) = (evaluation.flag, &evaluation.reason);
    if let Reason::Error { error: ErrorCode::FlagNotFound } = reason {
        state.metrics.evaluation(environment, UNKNOWN_FLAG_LABEL, reason.kind());
        return;
    }
    let known = |i: &usize| snapshot.at(*i).is_some_and(|f| f.raw.definition.key == flag);
    match position.filter(known).or_else(|| snapshot.position(flag)).and_then(|i| snapshot.at(i)) {
        Some(served) => served.counters.count(&state.metrics, environment, flag, reason),
        None => state.metrics.evaluation(environment, flag, reason.kind()),
    }
}
