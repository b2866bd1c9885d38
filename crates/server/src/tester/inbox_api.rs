//! `/api/v1/inbox`: inboxes, their captured requests, replay, and relayed responses. Every
//! route needs the admin token.

use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hookd_core::time::now_ms;
use hookd_core::{InboxId, InboxRequestId};
use hookd_store::{CapturedRequest, Inbox, InboxData, InboxResponse, Metadata, SignatureCheck};
use serde::{Deserialize, Serialize};

use super::RelayedResponse;
use crate::api::{nullable, time, ListResponse, Problems, Timestamp};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, ListParams, OptionalJson};
use crate::AppState;

pub const DEFAULT_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
pub const DEFAULT_MAX_REQUESTS: i64 = 500;

/// The configured response of a new inbox: 200 with a small JSON body.
pub fn default_response() -> InboxResponse {
    InboxResponse {
        status: 200,
        headers: [("content-type".to_owned(), "application/json".to_owned())].into(),
        body: r#"{"ok":true}"#.into(),
        delay_ms: 0,
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseIn {
    status: Option<i64>,
    headers: Option<Metadata>,
    body: Option<String>,
    delay_ms: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboxIn {
    name: Option<String>,
    secret: Option<String>,
    endpoint_id: Option<String>,
    response: Option<ResponseIn>,
    max_requests: Option<i64>,
    expires_at: Option<Timestamp>,
}

/// Absent fields are kept; `null` clears `name`, `secret` and `endpointId`; `response` fields
/// are merged one by one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboxPatch {
    #[serde(default, deserialize_with = "nullable")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    endpoint_id: Option<Option<String>>,
    response: Option<ResponseIn>,
    max_requests: Option<i64>,
    expires_at: Option<Timestamp>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ResponseOut {
    pub status: u16,
    pub headers: Metadata,
    pub body: String,
    pub delay_ms: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct InboxOut {
    pub id: InboxId,
    /// The public capture URL.
    pub url: String,
    /// The HTML live view (add `?token=…`).
    pub page_url: String,
    pub name: Option<String>,
    pub secret: Option<String>,
    pub endpoint_id: Option<String>,
    pub response: ResponseOut,
    pub max_requests: i64,
    /// `hookd listen` relays attached to this inbox on this node.
    pub listeners: usize,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl InboxOut {
    pub(crate) fn new(state: &AppState, headers: &HeaderMap, inbox: Inbox) -> Self {
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        let base = state.tester.base_url(&state.config, host);
        Self {
            url: format!("{base}/in/{}", inbox.id),
            page_url: format!("{base}/inbox/{}", inbox.id),
            listeners: state.tester.hub.relays_attached(inbox.id.as_str()),
            id: inbox.id,
            name: inbox.name,
            secret: inbox.secret,
            endpoint_id: inbox.endpoint_id,
            response: ResponseOut {
                status: inbox.response.status,
                headers: inbox.response.headers,
                body: inbox.response.body,
                delay_ms: inbox.response.delay_ms,
            },
            max_requests: inbox.max_requests,
            expires_at: time(inbox.expires_at),
            created_at: time(inbox.created_at),
            updated_at: time(inbox.updated_at),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SignatureOut {
    pub verified: bool,
    /// Why it did not verify.
    pub error: Option<String>,
}

/// A captured request as the API, the live stream and the page show it.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct InboxRequestOut {
    pub id: InboxRequestId,
    pub inbox_id: InboxId,
    pub method: String,
    pub path: String,
    pub query: String,
    /// `[name, value]` pairs in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as text, or `null` when it is not UTF-8 (see `bodyBase64`).
    pub body: Option<String>,
    /// The exact body bytes.
    pub body_base64: String,
    pub body_size: i64,
    pub client_addr: Option<String>,
    /// Why the request was refused (413), if it was.
    pub refused: Option<String>,
    /// `null` when the inbox has no secret to check with.
    pub signature: Option<SignatureOut>,
    pub timestamp: DateTime<Utc>,
}

impl From<CapturedRequest> for InboxRequestOut {
    fn from(r: CapturedRequest) -> Self {
        Self {
            body_base64: B64.encode(&r.body),
            body: String::from_utf8(r.body).ok(),
            id: r.id,
            inbox_id: r.inbox_id,
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r.headers,
            body_size: r.body_size,
            client_addr: r.client_addr,
            refused: r.refused,
            signature: r.signature.map(|s| match s {
                SignatureCheck::Verified => SignatureOut { verified: true, error: None },
                SignatureCheck::Failed(why) => SignatureOut { verified: false, error: Some(why) },
            }),
            timestamp: time(r.created_at),
        }
    }
}

/// Finds a live inbox; an id of the wrong shape is simply not found.
pub(crate) async fn find_inbox(state: &AppState, inbox_id: &str) -> ApiResult<Inbox> {
    Ok(state.service.inbox(inbox_id).await?)
}

async fn find_request(state: &AppState, inbox: &Inbox, request_id: &str) -> ApiResult<CapturedRequest> {
    Ok(state.service.inbox_request(inbox, request_id).await?)
}

impl ResponseIn {
    /// The fields given on top of `current` (the service checks the result).
    fn merge(self, current: InboxResponse) -> InboxResponse {
        InboxResponse {
            status: self.status.map_or(current.status, |s| s.clamp(0, 999) as u16),
            headers: self.headers.unwrap_or(current.headers),
            body: self.body.unwrap_or(current.body),
            delay_ms: self.delay_ms.unwrap_or(current.delay_ms),
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<InboxOut>>> {
    let page = state.store.list_inboxes(&params.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, |i| InboxOut::new(&state, &headers, i))))
}

pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<InboxIn>,
) -> ApiResult<(StatusCode, Json<InboxOut>)> {
    let response = body.response.unwrap_or_default().merge(default_response());
    let data = InboxData {
        name: body.name,
        secret: body.secret,
        endpoint_id: body.endpoint_id,
        response,
        max_requests: body.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS),
        expires_at: body.expires_at.map_or(now_ms() + DEFAULT_TTL_MS, Timestamp::millis),
    };
    let inbox = state.service.create_inbox(data).await?;
    Ok((StatusCode::CREATED, Json(InboxOut::new(&state, &headers, inbox))))
}

pub async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(inbox_id): Path<String>,
) -> ApiResult<Json<InboxOut>> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    Ok(Json(InboxOut::new(&state, &headers, inbox)))
}

pub async fn patch(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(inbox_id): Path<String>,
    ApiJson(body): ApiJson<InboxPatch>,
) -> ApiResult<Json<InboxOut>> {
    let current = find_inbox(&state, &inbox_id).await?;
    let c = current.data();
    let response = match body.response {
        Some(r) => r.merge(c.response),
        None => c.response,
    };
    let data = InboxData {
        name: body.name.unwrap_or(c.name),
        secret: body.secret.unwrap_or(c.secret),
        endpoint_id: body.endpoint_id.unwrap_or(c.endpoint_id),
        response,
        max_requests: body.max_requests.unwrap_or(c.max_requests),
        expires_at: body.expires_at.map_or(c.expires_at, Timestamp::millis),
    };
    let inbox = state.service.update_inbox(&current, data).await?;
    Ok(Json(InboxOut::new(&state, &headers, inbox)))
}

pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    Path(inbox_id): Path<String>,
) -> ApiResult<StatusCode> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    state.service.delete_inbox(&inbox).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_requests(
    State(state): State<AppState>,
    _admin: Admin,
    Path(inbox_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<InboxRequestOut>>> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    let page = state.store.list_inbox_requests(&inbox.id, &params.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, InboxRequestOut::from)))
}

pub async fn clear_requests(
    State(state): State<AppState>,
    _admin: Admin,
    Path(inbox_id): Path<String>,
) -> ApiResult<StatusCode> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    state.service.clear_inbox(&inbox, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get_request(
    State(state): State<AppState>,
    _admin: Admin,
    Path((inbox_id, request_id)): Path<(String, String)>,
) -> ApiResult<Json<InboxRequestOut>> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    Ok(Json(find_request(&state, &inbox, &request_id).await?.into()))
}

pub async fn delete_request(
    State(state): State<AppState>,
    _admin: Admin,
    Path((inbox_id, request_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    let request = find_request(&state, &inbox, &request_id).await?;
    state.service.clear_inbox(&inbox, Some(&request)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayIn {
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayOut {
    url: String,
    /// `null` when no response arrived (see `error`).
    status: Option<u16>,
    headers: Vec<(String, String)>,
    /// The start of the response body, as text.
    body: String,
    duration_ms: i64,
    error: Option<String>,
}

/// Sends a captured request (method, headers, body) to `url` through the SSRF guard, and
/// returns what came back. The captured sub-path and query are not added: `url` is used as is.
pub async fn replay(
    State(state): State<AppState>,
    _admin: Admin,
    Path((inbox_id, request_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReplayIn>,
) -> ApiResult<Json<ReplayOut>> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    let request = find_request(&state, &inbox, &request_id).await?;
    let out = state.service.replay_capture(&request, &body.url).await?;
    Ok(Json(ReplayOut {
        url: body.url,
        status: out.status,
        headers: out.headers,
        body: out.body,
        duration_ms: out.duration.as_millis() as i64,
        error: out.error,
    }))
}

/// The local app's response, as `hookd listen` posts it back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelayedResponseIn {
    status: i64,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    pub body_base64: String,
}

/// Hands the local app's response to the sender still waiting on the capture URL. 204 when it
/// was handed over; 404 when nobody waits for it (it timed out or was already answered).
pub async fn relay_response(
    State(state): State<AppState>,
    _admin: Admin,
    Path((inbox_id, request_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RelayedResponseIn>,
) -> ApiResult<StatusCode> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    let mut p = Problems::default();
    let status =
        StatusCode::from_u16(body.status.clamp(0, 999) as u16).ok().filter(|_| (100..=599).contains(&body.status));
    if status.is_none() {
        p.add("status", "must be an HTTP status between 100 and 599");
    }
    for (i, (name, value)) in body.headers.iter().enumerate() {
        p.header(&format!("headers.{i}"), name, value);
    }
    let bytes =
        B64.decode(&body.body_base64).map_err(|e| p.add("bodyBase64", format!("not base64: {e}"))).unwrap_or_default();
    p.finish()?;
    let response = RelayedResponse { status: status.expect("validated above"), headers: body.headers, body: bytes };
    if !InboxRequestId::looks_like(&request_id)
        || !state.tester.hub.deliver_relayed(inbox.id.as_str(), &request_id, response)
    {
        return Err(ApiError::NotFound(format!(
            "no sender is waiting for request '{request_id}' of inbox {} (it timed out, was already answered, or is on another node)",
            inbox.id
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
