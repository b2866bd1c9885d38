//! Request extractors: JSON bodies with precise 422s, list parameters, and the caller.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use hookd_store::{Cursor, ListQuery, Order};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{ApiError, ValidationItem};
use crate::AppState;

/// A JSON request body. Malformed JSON or a field of the wrong type is a 422 naming the field;
/// a body over the configured limit is a 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty (or blank) body means `T::default()`, as on
/// the routes whose Svix schema makes the body optional (secret rotation, inbox creation,
/// source replay).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// The whole body, within the server's limit (413 beyond it).
async fn read_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(limit)
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })
}

/// Parses a JSON body into `T`, reporting the path of the first bad field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is an object; serde would also fill a struct from an array of its fields in
    // order, which no client means.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let mut item = ValidationItem::body("", "must be a JSON object, not an array");
        item.kind = "type_error".into();
        return Err(ApiError::validation(item));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let kind = if inner.is_syntax() || inner.is_eof() { "json_invalid" } else { "type_error" };
        let mut item = ValidationItem::body(if path == "." { "" } else { &path }, inner.to_string());
        item.kind = kind.into();
        ApiError::validation(item)
    })
}

/// `limit`, `iterator` and `order` of every list. (Only the lists whose Svix route documents
/// `order` accept it: the query check refuses it on the others; see `query_check.rs`.)
#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub limit: Option<i64>,
    pub iterator: Option<String>,
    pub order: Option<OrderParam>,
}

/// Svix's `Ordering`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderParam {
    Ascending,
    Descending,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 250;

impl ListParams {
    pub fn to_query(&self) -> Result<ListQuery, ApiError> {
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as u32,
            Some(_) => {
                return Err(ApiError::validation(ValidationItem::query(
                    "limit",
                    format!("must be between 1 and {MAX_LIMIT}"),
                )))
            }
        };
        let cursor = match self.iterator.as_deref() {
            None | Some("") => None,
            Some(it) => Some(match it.strip_prefix('-') {
                Some(newer) => Cursor::Newer(newer.to_owned()),
                None => Cursor::Older(it.to_owned()),
            }),
        };
        let order = self.order.map(|o| match o {
            OrderParam::Ascending => Order::Ascending,
            OrderParam::Descending => Order::Descending,
        });
        Ok(ListQuery { limit, cursor, order })
    }
}

/// The bearer token of a request, if any (not yet checked).
pub struct BearerToken(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self(bearer(parts.headers.get(axum::http::header::AUTHORIZATION))))
    }
}

pub fn bearer(value: Option<&axum::http::HeaderValue>) -> Option<String> {
    let value = value?.to_str().ok()?.trim();
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or(value);
    (!token.is_empty()).then(|| token.trim().to_owned())
}

/// Query parameters; a malformed one is a 422 naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let param = e.path().to_string();
            ApiError::validation(ValidationItem::query(&param, e.into_inner().to_string()))
        })
    }
}
