//! Request errors: one enum, answered as `application/problem+json`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pennon_engine::Problem as FieldProblem;
use serde::Serialize;
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
    /// 503: the database cannot be reached.
    #[error("the database is unavailable; writes are refused until it returns")]
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
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
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

/// A JSON body whose rejections answer with the problem shape.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters whose rejections answer with the problem shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Query parameters whose rejections answer with the problem shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);
