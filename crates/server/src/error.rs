//! The API's one error type and how it is rendered: `{"code", "detail"}`, or Svix's
//! validation shape `{"detail": [{"loc", "msg", "type"}]}` for 422.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hookd_store::StoreError;
use serde::Serialize;

/// One invalid input: where it is and what is wrong with it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = ValidationErrorItem, description = "One invalid input.")]
pub struct ValidationItem {
    /// Where the problem is: "body" followed by the field path (list indexes as strings), "query" and the parameter name, or "header" and the header name.
    pub loc: Vec<String>,
    /// What is wrong with the value.
    pub msg: String,
    /// value_error: a value failed a check; type_error: a field is missing or has the wrong type; json_invalid: the body is not valid JSON.
    #[serde(rename = "type")]
    pub kind: String,
}

impl ValidationItem {
    /// An invalid field of the request body, e.g. `body("url", "must use http or https")`.
    pub fn body(field: &str, msg: impl Into<String>) -> Self {
        let mut loc = vec!["body".to_owned()];
        loc.extend(field.split('.').filter(|s| !s.is_empty()).map(str::to_owned));
        Self { loc, msg: msg.into(), kind: "value_error".into() }
    }

    /// An invalid query parameter.
    pub fn query(param: &str, msg: impl Into<String>) -> Self {
        Self { loc: vec!["query".into(), param.into()], msg: msg.into(), kind: "value_error".into() }
    }

    /// An invalid request header.
    pub fn header(name: &str, msg: impl Into<String>) -> Self {
        Self { loc: vec!["header".into(), name.into()], msg: msg.into(), kind: "value_error".into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid request")]
    Validation(Vec<ValidationItem>),
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    BadRequest(String),
    #[error("the database is unavailable; try again")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl ApiError {
    pub fn validation(item: ValidationItem) -> Self {
        Self::Validation(vec![item])
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "authentication_failed"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // The store says what it did not find ("endpoint not found").
            StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            StoreError::Conflict(msg) => Self::Conflict(msg),
            StoreError::Unavailable(_) | StoreError::Closed => Self::Unavailable,
            other => Self::Internal(other),
        }
    }
}

impl From<crate::service::ServiceError> for ApiError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError;
        match e {
            ServiceError::NotFound(detail) => Self::NotFound(detail),
            ServiceError::Invalid(items) => Self::Validation(items),
            ServiceError::Conflict(detail) => Self::Conflict(detail),
            ServiceError::Store(e) => e.into(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = HttpError, description = "An error other than a validation error.")]
pub(crate) struct ErrorBody<'a> {
    /// Machine-readable error code: authentication_failed, forbidden, not_found, conflict, payload_too_large, bad_request, unavailable or internal.
    code: &'a str,
    /// What went wrong, in words.
    detail: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = HTTPValidationError, description = "The body of a 422 answer.")]
pub(crate) struct ValidationBody<'a> {
    /// Every problem found in the request.
    detail: &'a [ValidationItem],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            Self::Validation(items) => (status, Json(ValidationBody { detail: items })).into_response(),
            Self::Internal(source) => {
                tracing::error!(error = %source, cause = ?std::error::Error::source(source), "internal error");
                (status, Json(ErrorBody { code, detail: self.to_string() })).into_response()
            }
            _ => (status, Json(ErrorBody { code, detail: self.to_string() })).into_response(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
