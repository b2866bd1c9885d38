//! What a source does with a request to its URL (`/in/{token}/…`, any method, no API token):
//! verify it as its type says, commit it, answer.
//!
//! - A request that fails verification is answered 401 and kept as refused, with the
//!   reason; it is never delivered. So is one too large (413) or whose body is not UTF-8
//!   text (415: messages hold text).
//! - A provider's handshake (Slack's `url_verification`, Zoom's URL validation) is answered
//!   as the provider expects and not delivered.
//! - Anything else becomes a message of the source's application through the same group
//!   commit as a publish, and is answered 200 only once committed, like a publish's 202: an
//!   answered request survives a crash. The message keeps the request's method, sub-path,
//!   query and headers, which its deliveries pass on (see the worker's `Sending::of`).
//! - The provider's delivery id (`X-GitHub-Delivery`, a Stripe event id, `webhook-id`, …) is
//!   the message's `eventId`, so the provider's own retries of a webhook already accepted are
//!   answered 200 again without being stored or delivered twice.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hookd_core::ingest::{Incoming, SourceType};
use hookd_core::time::now_ms;
use hookd_core::{IngestLogId, MessageId};
use hookd_http::is_hop_by_hop;
use hookd_store::{IngestRefusal, IngestedRequest, NewMessage, Source, StoreError};

use crate::app_cache::LiveSource;
use crate::error::{ApiError, ApiResult};
use crate::tester::capture::{header_pairs, read_capped};
use crate::AppState;

/// The event type of a request whose provider names none.
pub const DEFAULT_EVENT_TYPE: &str = "ingest";

/// Headers never kept in a refused request's record: they may hold credentials.
const REDACTED: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// The source whose URL carries `token`, with its type parsed, for a moment from the cache.
pub async fn find_source(state: &AppState, token: &str) -> ApiResult<Arc<LiveSource>> {
    let load = || async {
        let source = state.store.get_source_by_token(token).await?;
        let kind = SourceType::parse(&source.kind, Some(&source.config))
            .map_err(|e| StoreError::Corrupt(format!("source {}: {e}", source.id)))?;
        Ok(Arc::new(LiveSource { source, kind }))
    };
    state.sources.get_or_load(token, load).await.map_err(|e| match e {
        StoreError::NotFound(_) => ApiError::NotFound(format!("no inbox or source at '{token}'")),
        other => other.into(),
    })
}

/// Receives one request for `source`, `sub_path` being what follows its token.
pub async fn receive(state: &AppState, live: Arc<LiveSource>, sub_path: String, req: Request) -> Response {
    match verify_and_commit(state, &live.source, &live.kind, sub_path, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Why a request was refused: what the provider is answered, and what is kept.
struct Refusal {
    status: StatusCode,
    reason: String,
}

async fn verify_and_commit(
    state: &AppState,
    source: &Source,
    kind: &SourceType,
    sub_path: String,
    req: Request,
) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let now = now_ms();
    let headers = header_pairs(&parts.headers);
    let method = parts.method.as_str();
    let query = parts.uri.query().unwrap_or_default();
    let limit = state.config.capture_max_body_bytes;
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = match read_capped(body, limit, declared).await? {
        Ok(bytes) => bytes,
        Err(_) => {
            let refusal =
                Refusal { status: StatusCode::PAYLOAD_TOO_LARGE, reason: ApiError::PayloadTooLarge(limit).to_string() };
            return refuse(state, source, kind, (method, &sub_path, query), &headers, &[], refusal).await;
        }
    };
    let incoming = Incoming { method, headers: &headers, body: &body };
    if let Err(reason) = kind.verify(&incoming, now / 1000) {
        let refusal = Refusal { status: StatusCode::UNAUTHORIZED, reason: format!("verification failed: {reason}") };
        return refuse(state, source, kind, (method, &sub_path, query), &headers, &body, refusal).await;
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        let refusal = Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reason: "the body is not UTF-8 text; sources accept text bodies (JSON, forms, XML, …)".into(),
        };
        return refuse(state, source, kind, (method, &sub_path, query), &headers, &body, refusal).await;
    };
    if let Some(answer) = kind.handshake(&incoming) {
        let content_type = if answer.starts_with('{') { "application/json" } else { "text/plain; charset=utf-8" };
        return Ok((StatusCode::OK, [(CONTENT_TYPE, HeaderValue::from_static(content_type))], answer).into_response());
    }
    let credentials = kind.credential_headers();
    let passed_on: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            !is_hop_by_hop(name)
                && !name.eq_ignore_ascii_case("content-type")
                && !credentials.iter().any(|c| c.eq_ignore_ascii_case(name))
        })
        .cloned()
        .collect();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("application/octet-stream");
    let message = NewMessage {
        id: MessageId::generate_at(now),
        event_type: kind.event_type(&incoming).unwrap_or_else(|| DEFAULT_EVENT_TYPE.to_owned()),
        event_id: kind.delivery_id(&incoming),
        payload: text.to_owned(),
        content_type: Some(content_type.to_owned()),
        created_at: now,
        deliver_at: now,
        request: Some(IngestedRequest {
            method: method.to_owned(),
            path: sub_path,
            query: query.to_owned(),
            headers: passed_on,
        }),
        ..Default::default()
    };
    let ingested = state.service.ingest(source, &message).await?;
    Ok(accepted(&ingested.msg_id, ingested.duplicate))
}

/// The answer to a committed request: its message's id.
fn accepted(msg_id: &str, duplicate: bool) -> Response {
    let mut body = serde_json::json!({ "id": msg_id });
    if duplicate {
        body["duplicate"] = true.into();
    }
    (StatusCode::OK, Json(body)).into_response()
}

/// Keeps a refused request (credentials redacted) and answers it.
async fn refuse(
    state: &AppState,
    source: &Source,
    kind: &SourceType,
    (method, path, query): (&str, &str, &str),
    headers: &[(String, String)],
    body: &[u8],
    refusal: Refusal,
) -> ApiResult<Response> {
    let credentials = kind.credential_headers();
    let headers = headers
        .iter()
        .map(|(name, value)| {
            let secret = REDACTED.iter().chain(credentials.iter()).any(|h| h.eq_ignore_ascii_case(name));
            (name.clone(), if secret { "[redacted]".to_owned() } else { value.clone() })
        })
        .collect();
    let now = now_ms();
    let record = IngestRefusal {
        id: IngestLogId::generate_at(now),
        source_id: source.id.clone(),
        status_code: i64::from(refusal.status.as_u16()),
        error_text: refusal.reason.clone(),
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        payload: String::from_utf8_lossy(body).into_owned(),
        created_at: now,
    };
    state.service.keep_refusal(&record).await?;
    tracing::info!(source_id = %source.id, status = refusal.status.as_u16(), reason = %refusal.reason, "source refused a request");
    let code = if refusal.status == StatusCode::UNAUTHORIZED { "unauthorized" } else { "refused" };
    Ok((refusal.status, Json(serde_json::json!({ "code": code, "detail": refusal.reason }))).into_response())
}
