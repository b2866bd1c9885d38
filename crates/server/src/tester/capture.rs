//! `/in/{id}` and `/in/{id}/{sub/path}`: any method, no auth. Each request is recorded
//! (refusals too), checked against the inbox's secrets, pushed to live views, and answered
//! with the local app's response if a `hookd listen` relay is attached and answers in time,
//! otherwise with the inbox's configured response.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hookd_core::time::now_ms;
use hookd_core::InboxRequestId;
use hookd_http::is_hop_by_hop;
use hookd_store::{CapturedRequest, Inbox};

use super::inbox_api::find_inbox;
use super::RelayedResponse;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub async fn capture(State(state): State<AppState>, req: Request) -> Response {
    match record_and_answer(&state, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn record_and_answer(state: &AppState, req: Request) -> ApiResult<Response> {
    let (inbox_id, sub_path) = split_path(req.uri().path());
    // A source's URL shares the path: its own tokens never look like inbox ids, and an inbox
    // turned into a source keeps its id as the source's token.
    if hookd_core::InboxId::parse(&inbox_id).is_err() {
        let source = crate::ingest::find_source(state, &inbox_id).await?;
        return Ok(crate::ingest::receive(state, source, sub_path, req).await);
    }
    let inbox = match find_inbox(state, &inbox_id).await {
        Err(ApiError::NotFound(not_found)) => match crate::ingest::find_source(state, &inbox_id).await {
            Ok(source) => return Ok(crate::ingest::receive(state, source, sub_path, req).await),
            Err(ApiError::NotFound(_)) => return Err(ApiError::NotFound(not_found)),
            Err(e) => return Err(e),
        },
        found => found?,
    };
    let captured = record(state, &inbox, sub_path, req).await?;
    state.service.store_capture(&inbox, &captured).await?;
    Ok(answer(state, &inbox, captured).await)
}

/// Reads the request (body up to the limit) into the record to store.
async fn record(state: &AppState, inbox: &Inbox, sub_path: String, req: Request) -> ApiResult<CapturedRequest> {
    let (parts, body) = req.into_parts();
    let limit = state.config.capture_max_body_bytes;
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let now = now_ms();
    let headers = header_pairs(&parts.headers);
    let (body, body_size, refused, signature) = match read_capped(body, limit, declared).await? {
        Ok(bytes) => {
            let signature = state.service.capture_signature(inbox, &headers, &bytes, now).await?;
            let size = bytes.len() as i64;
            (bytes, size, None, signature)
        }
        Err(size) => {
            let refused = ApiError::PayloadTooLarge(limit).to_string();
            (vec![], size, Some(refused), None)
        }
    };
    Ok(CapturedRequest {
        id: InboxRequestId::generate_at(now),
        inbox_id: inbox.id.clone(),
        method: parts.method.to_string(),
        path: sub_path,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body,
        body_size,
        client_addr: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string()),
        refused,
        signature,
        created_at: now,
    })
}

/// Publishes a stored capture to live views and answers its sender: 413 for a refusal, the
/// relayed local response while a relay is attached and answers in time, else the inbox's
/// configured response.
async fn answer(state: &AppState, inbox: &Inbox, captured: CapturedRequest) -> Response {
    if captured.refused.is_some() {
        state.tester.hub.publish(captured);
        return ApiError::PayloadTooLarge(state.config.capture_max_body_bytes).into_response();
    }
    // Registered before the capture is published, so a fast relay cannot answer too early.
    let waiter = (state.tester.hub.relays_attached(inbox.id.as_str()) > 0)
        .then(|| state.tester.hub.wait_for_relay(inbox.id.as_str(), captured.id.as_str()));
    state.tester.hub.publish(captured);
    if let Some(waiter) = waiter {
        if let Some(relayed) = waiter.response(state.config.relay_timeout).await {
            return relayed_response(relayed);
        }
    }
    configured_response(inbox).await
}

/// `/in/{id}/a/b` → (`{id}`, `/a/b`); the sub-path is `/` when there is none. Kept
/// percent-encoded, as received, so it can be forwarded unchanged.
fn split_path(path: &str) -> (String, String) {
    let rest = path.strip_prefix("/in/").unwrap_or(path);
    match rest.find('/') {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    }
}

/// Reads at most `limit` bytes of body. `Err(size)` when it is larger: the size announced, or
/// what arrived before the limit was crossed. A body announced as too large is not read at all.
pub(crate) async fn read_capped(body: Body, limit: usize, declared: Option<u64>) -> ApiResult<Result<Vec<u8>, i64>> {
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        return Ok(Err(n as i64));
    }
    let mut buf = Vec::new();
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Ok(Err((buf.len() + chunk.len()) as i64));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Ok(buf))
}

pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers.iter().map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

/// The inbox's configured answer, after its configured delay.
async fn configured_response(inbox: &Inbox) -> Response {
    let r = &inbox.response;
    if r.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(r.delay_ms as u64)).await;
    }
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    build_response(status, r.headers.iter(), r.body.clone().into_bytes())
}

fn relayed_response(r: RelayedResponse) -> Response {
    build_response(r.status, r.headers.iter().map(|(k, v)| (k, v)), r.body)
}

/// Headers were validated when saved; hop-by-hop ones are never passed on, as the server sets
/// its own framing.
fn build_response<'a>(
    status: StatusCode,
    headers: impl Iterator<Item = (&'a String, &'a String)>,
    body: Vec<u8>,
) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in headers.filter(|(k, _)| !is_hop_by_hop(k)) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_are_split_off_the_id() {
        assert_eq!(split_path("/in/inb_x"), ("inb_x".into(), "/".into()));
        assert_eq!(split_path("/in/inb_x/"), ("inb_x".into(), "/".into()));
        assert_eq!(split_path("/in/inb_x/a/b%20c"), ("inb_x".into(), "/a/b%20c".into()));
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        assert_eq!(read_capped(Body::from("abc"), 3, None).await.unwrap(), Ok(b"abc".to_vec()));
        assert_eq!(read_capped(Body::from("abcd"), 3, None).await.unwrap(), Err(4));
        assert_eq!(read_capped(Body::empty(), 3, Some(10)).await.unwrap(), Err(10));
    }
}
