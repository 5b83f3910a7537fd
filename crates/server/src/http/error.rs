//! Request errors: one enum, answered as `application/problem+json`.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pennon_engine::Problem as FieldProblem;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::store::StoreError;

/// The body of every 4xx/5xx answer (RFC 9457 problem details).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemBody {
    /// A URI naming the kind of problem (`about:blank` style relative names).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every validation problem, each with its path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldProblem>,
    /// The current version, on a version conflict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

/// The `Retry-After` of a 503 for an unreachable database, in seconds: about how long the store takes to
/// notice that it is back.
pub const UNAVAILABLE_RETRY_SECS: u64 = 2;

/// Everything a handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{detail}")]
    BadRequest { detail: String, field: Option<String> },
    /// 401: no valid credential (never says which part was wrong).
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// 429: too many attempts.
    #[error("too many attempts; try again later")]
    TooManyRequests,
    /// 403: the credential may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0} not found")]
    NotFound(String),
    /// 405: the path exists, the method does not.
    #[error("this path does not take this method")]
    MethodNotAllowed,
    /// 409: stale version.
    #[error("version conflict: the current version is {current}")]
    VersionConflict { current: u64 },
    /// 409: something else stands in the way (exists already, in use, ...).
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` did not match.
    #[error("precondition failed: the current version is {current}")]
    PreconditionFailed { current: u64 },
    /// 413.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the document is well-formed but invalid.
    #[error("validation failed")]
    Invalid(Vec<FieldProblem>),
    /// 503: the database cannot be reached (answered with `Retry-After`).
    #[error("the database is unavailable; try again in a few seconds")]
    Unavailable,
    /// 500: logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// 400 naming a field.
    pub fn bad_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest { detail: detail.into(), field: Some(field.into()) }
    }

    /// 422 with one problem.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldProblem { path: path.into(), message: message.into() }])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::VersionConflict { .. } | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad-request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::TooManyRequests => "too-many-requests",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::VersionConflict { .. } => "version-conflict",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed { .. } => "precondition-failed",
            ApiError::PayloadTooLarge => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Invalid(_) => "validation-failed",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The problem body this error answers with.
    pub fn body(&self) -> ProblemBody {
        let status = self.status();
        let (field, errors, current_version) = match self {
            ApiError::BadRequest { field, .. } => (field.clone(), Vec::new(), None),
            ApiError::Invalid(problems) => (problems.first().map(|p| p.path.clone()), problems.clone(), None),
            ApiError::VersionConflict { current } | ApiError::PreconditionFailed { current } => {
                (Some("version".to_owned()), Vec::new(), Some(*current))
            }
            _ => (None, Vec::new(), None),
        };
        let detail = match self {
            ApiError::Invalid(problems) => problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            other => other.to_string(),
        };
        ProblemBody {
            kind: format!("/problems/{}", self.kind()),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail,
            field,
            errors,
            current_version,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        self.problem_response()
    }
}

impl ApiError {
    /// The answer, without logging anything (for failures logged where they happen).
    pub fn problem_response(&self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if matches!(self, ApiError::Unavailable) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_SECS));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::VersionConflict { current } => ApiError::VersionConflict { current },
            StoreError::Conflict(what) => ApiError::Conflict(what),
            StoreError::Invalid(problems) => ApiError::Invalid(problems),
            StoreError::Unavailable(_) => ApiError::Unavailable,
            StoreError::Internal(e) => ApiError::Internal(e.into()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("expected Content-Type: application/json".into())
            }
            JsonRejection::BytesRejection(_) => ApiError::PayloadTooLarge,
            JsonRejection::JsonDataError(e) => {
                let detail = e.body_text();
                ApiError::BadRequest { field: field_of(&detail), detail }
            }
            other => ApiError::BadRequest { detail: other.body_text(), field: None },
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest { detail: r.body_text(), field: None }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest { detail: r.body_text(), field: None }
    }
}

/// serde's data errors read "Failed to deserialize the JSON body into the target type: rules[0].serve: ...";
/// the path before the first ": " after the prefix names the field.
fn field_of(detail: &str) -> Option<String> {
    let rest = detail.split_once("target type: ")?.1;
    let (path, _) = rest.split_once(": ")?;
    (!path.contains(' ')).then(|| path.to_owned())
}

/// A JSON body whose rejections answer with the problem shape. Every body the API takes is an object, so
/// anything else (an array, which serde would read as a struct's fields in order, a number, a string) is
/// refused with 400 before it is read into a type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType("expected Content-Type: application/json".into()));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            _ => ApiError::BadRequest { detail: e.body_text(), field: None },
        })?;
        Ok(Json(parse_object(&bytes)?))
    }
}

/// A JSON body that may be left out: an empty body reads as `T::default()`, any other as [`Json`] reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            _ => ApiError::BadRequest { detail: e.body_text(), field: None },
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        Ok(OptionalJson(parse_object(&bytes)?))
    }
}

/// Reads a body that must be a JSON object as a `T`, with serde's problem (and the field it names) otherwise.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest { detail: "the body must be a JSON object".into(), field: None });
    }
    let axum::Json(value) = axum::Json::<T>::from_bytes(bytes)?;
    Ok(value)
}

/// Whether a URI part (path or query) carries a percent-encoded control character (`%00`-`%1F`, `%7F`):
/// such a parameter is refused before it reaches a handler or the database.
pub fn has_encoded_control(part: &str) -> bool {
    part.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!((w[1], w[2].to_ascii_uppercase()), (b'0' | b'1', b'0'..=b'9' | b'A'..=b'F') | (b'7', b'F'))
    })
}

/// `application/json`, or `application/<anything>+json`, with any parameters.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else { return false };
    let sub = sub.as_bytes();
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case(b"json") || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters whose rejections answer with the problem shape. A path carrying a percent-encoded control
/// character names nothing that can exist: 404, before any lookup.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if has_encoded_control(parts.uri.path()) {
            return Err(ApiError::NotFound("a path with control characters".into()));
        }
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

/// Query parameters whose rejections answer with the problem shape. Control characters in a parameter
/// are refused (400) before any handler or database sees them.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(has_encoded_control) {
            return Err(ApiError::BadRequest {
                detail: "query parameters must not contain control characters".into(),
                field: None,
            });
        }
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}
