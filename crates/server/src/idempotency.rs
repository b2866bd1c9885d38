//! The `idempotency-key` header on POST requests: a repeat with the same key (from the same
//! caller, to the same path) gets the first response back and changes nothing.
//!
//! Publishing ([`PUBLISH_ROUTE`]), which every official SDK sends with a fresh key, stores
//! its key and response in the group commit that stores the message: one transaction, no
//! extra round trips, and no window in which a crash leaves a message without its key (a
//! retry would publish it twice). Other routes claim the key before they run and store the
//! response after.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookd_store::IdempotentResponse;

use crate::auth::hash_token;
use crate::error::{ApiError, ValidationItem};
use crate::extract::bearer;
use crate::AppState;

/// Remembered responses are at most this large (larger ones are not remembered).
const MAX_REMEMBERED: usize = 1024 * 1024;
/// Longest key accepted.
const MAX_KEY_LEN: usize = 256;

/// The route whose key is stored with what it creates (see the module documentation).
pub const PUBLISH_ROUTE: &str = "/api/v1/app/{app_id}/msg";

/// A publish's idempotency key, handed to the publish handler as a request extension.
#[derive(Debug, Clone)]
pub struct PublishOnce {
    pub scope: String,
    pub key: String,
}

pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get("idempotency-key").filter(|_| req.method() == Method::POST);
    let key = match header.map(|v| v.to_str()) {
        None => return next.run(req).await,
        Some(Ok(k)) if !k.is_empty() && k.len() <= MAX_KEY_LEN => k.to_owned(),
        // Going ahead without the protection the caller asked for could create twice.
        Some(_) => {
            let why = format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters");
            return ApiError::validation(ValidationItem::header("idempotency-key", why)).into_response();
        }
    };
    // The scope keeps callers apart: the hash of their token, and the path they posted to.
    let caller = bearer(req.headers().get(axum::http::header::AUTHORIZATION)).unwrap_or_default();
    let scope = format!("{}:{}", hash_token(&caller), req.uri().path());
    if req.extensions().get::<MatchedPath>().is_some_and(|p| p.as_str() == PUBLISH_ROUTE) {
        req.extensions_mut().insert(PublishOnce { scope, key });
        return next.run(req).await;
    }
    match state.store.claim_idempotency_key(&scope, &key).await {
        Ok(None) => {}
        Ok(Some(IdempotentResponse::Done { status_code, body })) => return replay(status_code, body),
        Ok(Some(IdempotentResponse::InProgress)) => {
            return ApiError::Conflict("a request with this idempotency-key is still being processed".into())
                .into_response()
        }
        Err(e) => return ApiError::from(e).into_response(),
    }
    let response = next.run(req).await;
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_REMEMBERED).await {
        Ok(b) => b,
        Err(_) => {
            let _ = state.store.release_idempotency_key(&scope, &key).await;
            return ApiError::BadRequest("response too large to remember".into()).into_response();
        }
    };
    // Only what was done is remembered. A refused request (4xx) changed nothing, so the same
    // key stays free for the corrected request, as clients expect when they fix and retry.
    let remember = parts.status.is_success();
    let stored = if remember {
        state
            .store
            .complete_idempotency_key(&scope, &key, parts.status.as_u16(), &String::from_utf8_lossy(&bytes))
            .await
    } else {
        state.store.release_idempotency_key(&scope, &key).await
    };
    if let Err(e) = stored {
        tracing::warn!(error = %e, "could not store the idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A JSON answer given as text: the response remembered for a key, again, or a publish's 202.
pub(crate) fn replay(status_code: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status_code).unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    if status != StatusCode::NO_CONTENT {
        response.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response
}
