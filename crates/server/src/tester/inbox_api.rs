//! `/api/v1/inbox`: inboxes, their captured requests, replay, and relayed responses. Every
//! route needs the admin token.

use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hookd_core::signing::EndpointSecret;
use hookd_core::time::now_ms;
use hookd_core::{InboxId, InboxRequestId};
use hookd_http::RawRequest;
use hookd_store::{CapturedRequest, Inbox, InboxData, InboxResponse, Metadata, SignatureCheck, StoreError};
use serde::{Deserialize, Serialize};

use super::RelayedResponse;
use crate::api::{nullable, time, ListResponse, Problems, Timestamp};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, ListParams};
use crate::AppState;

pub const DEFAULT_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
const MAX_TTL_MS: i64 = 365 * 24 * 3600 * 1000;
pub const DEFAULT_MAX_REQUESTS: i64 = 500;
const MAX_MAX_REQUESTS: i64 = 10_000;
const MAX_NAME_LEN: usize = 256;
const MAX_DELAY_MS: i64 = 30_000;
const MAX_RESPONSE_BODY: usize = 64 * 1024;

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
    pub id: String,
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
            listeners: state.tester.hub.relays_attached(&inbox.id),
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
    pub id: String,
    pub inbox_id: String,
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
    let not_found = || ApiError::NotFound(format!("inbox '{inbox_id}' not found (it may have expired)"));
    if InboxId::parse(inbox_id).is_err() {
        return Err(not_found());
    }
    state.store.get_inbox(inbox_id).await.map_err(|e| match e {
        StoreError::NotFound(_) => not_found(),
        other => other.into(),
    })
}

async fn find_request(state: &AppState, inbox: &Inbox, request_id: &str) -> ApiResult<CapturedRequest> {
    if InboxRequestId::parse(request_id).is_err() {
        return Err(ApiError::not_found("request"));
    }
    state.store.get_inbox_request(&inbox.id, request_id).await.map_err(|e| match e {
        StoreError::NotFound(_) => ApiError::not_found("request"),
        other => other.into(),
    })
}

/// Checks `[name, value]` header pairs that hookd will send; `field` prefixes the error path.
fn check_header(p: &mut Problems, field: &str, name: &str, value: &str) {
    if let Err(why) = hookd_http::check_header(name, value) {
        p.add(field, why);
    }
}

impl ResponseIn {
    /// Applies the fields given on top of `current`, validating each.
    fn merge(self, p: &mut Problems, current: InboxResponse) -> InboxResponse {
        if let Some(status) = self.status {
            if !(100..=599).contains(&status) {
                p.add("response.status", "must be an HTTP status between 100 and 599");
            }
        }
        if let Some(delay) = self.delay_ms {
            if !(0..=MAX_DELAY_MS).contains(&delay) {
                p.add("response.delayMs", format!("must be between 0 and {MAX_DELAY_MS} (30 s)"));
            }
        }
        if let Some(body) = &self.body {
            if body.len() > MAX_RESPONSE_BODY {
                p.add("response.body", format!("must be at most {MAX_RESPONSE_BODY} bytes"));
            }
        }
        for (name, value) in self.headers.iter().flatten() {
            check_header(p, &format!("response.headers.{name}"), name, value);
        }
        InboxResponse {
            status: self.status.map_or(current.status, |s| s.clamp(0, 999) as u16),
            headers: self.headers.unwrap_or(current.headers),
            body: self.body.unwrap_or(current.body),
            delay_ms: self.delay_ms.unwrap_or(current.delay_ms),
        }
    }
}

/// Validates the fields every save checks; normalizes the secret to `whsec_…`.
async fn validate(state: &AppState, p: &mut Problems, data: &mut InboxData) -> ApiResult<()> {
    if let Some(name) = &data.name {
        if name.trim().is_empty() {
            p.add("name", "must not be empty (use null for no name)");
        } else if name.chars().count() > MAX_NAME_LEN {
            p.add("name", format!("must be at most {MAX_NAME_LEN} characters long"));
        } else if name.chars().any(char::is_control) {
            p.add("name", "must not contain control characters");
        }
    }
    if let Some(secret) = &data.secret {
        match EndpointSecret::parse_for_verifying(secret) {
            Ok(s) => data.secret = Some(s.expose()),
            Err(e) => p.add("secret", e.to_string()),
        }
    }
    if let Some(endpoint_id) = &data.endpoint_id {
        match state.store.get_endpoint_by_id(endpoint_id).await {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => {
                p.add("endpointId", format!("no endpoint '{endpoint_id}' (link an existing endpoint by its ep_… id)"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !(1..=MAX_MAX_REQUESTS).contains(&data.max_requests) {
        p.add("maxRequests", format!("must be between 1 and {MAX_MAX_REQUESTS}"));
    }
    let now = now_ms();
    if data.expires_at <= now {
        p.add("expiresAt", "must be in the future");
    } else if data.expires_at > now + MAX_TTL_MS {
        p.add("expiresAt", "must be at most 365 days from now");
    }
    Ok(())
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
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<InboxOut>)> {
    // The body is optional: an empty one creates an inbox with every default.
    let body: InboxIn =
        if body.iter().all(u8::is_ascii_whitespace) { InboxIn::default() } else { crate::extract::parse_json(&body)? };
    let mut p = Problems::default();
    let response = body.response.unwrap_or_default().merge(&mut p, default_response());
    let mut data = InboxData {
        name: body.name,
        secret: body.secret,
        endpoint_id: body.endpoint_id,
        response,
        max_requests: body.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS),
        expires_at: body.expires_at.map_or(now_ms() + DEFAULT_TTL_MS, Timestamp::millis),
    };
    validate(&state, &mut p, &mut data).await?;
    p.finish()?;
    let inbox = state.store.create_inbox(InboxId::generate().as_str(), &data).await?;
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
    let mut p = Problems::default();
    let response = match body.response {
        Some(r) => r.merge(&mut p, c.response),
        None => c.response,
    };
    let mut data = InboxData {
        name: body.name.unwrap_or(c.name),
        secret: body.secret.unwrap_or(c.secret),
        endpoint_id: body.endpoint_id.unwrap_or(c.endpoint_id),
        response,
        max_requests: body.max_requests.unwrap_or(c.max_requests),
        expires_at: body.expires_at.map_or(c.expires_at, Timestamp::millis),
    };
    validate(&state, &mut p, &mut data).await?;
    p.finish()?;
    let inbox = state.store.update_inbox(&current.id, &data).await?;
    Ok(Json(InboxOut::new(&state, &headers, inbox)))
}

pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    Path(inbox_id): Path<String>,
) -> ApiResult<StatusCode> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    state.store.delete_inbox(&inbox.id).await?;
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
    state.store.clear_inbox_requests(&inbox.id).await?;
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
    state.store.delete_inbox_request(&inbox.id, &request.id).await?;
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
    check_url(&body.url)?;
    if request.refused.is_some() {
        return Err(ApiError::Conflict("this request was refused unread (413), so there is no body to replay".into()));
    }
    let out = state
        .tester
        .sender
        .send_raw(&RawRequest {
            method: &request.method,
            url: &body.url,
            headers: &request.headers,
            body: &request.body,
        })
        .await;
    Ok(Json(ReplayOut {
        url: body.url,
        status: out.status,
        headers: out.headers,
        body: out.body,
        duration_ms: out.duration.as_millis() as i64,
        error: out.error,
    }))
}

fn check_url(url: &str) -> ApiResult<()> {
    let mut p = Problems::default();
    if let Err(why) = hookd_core::net::parse_destination_url(url) {
        p.add("url", why);
    }
    p.finish()
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
        check_header(&mut p, &format!("headers.{i}"), name, value);
    }
    let bytes =
        B64.decode(&body.body_base64).map_err(|e| p.add("bodyBase64", format!("not base64: {e}"))).unwrap_or_default();
    p.finish()?;
    let response = RelayedResponse { status: status.expect("validated above"), headers: body.headers, body: bytes };
    if !InboxRequestId::looks_like(&request_id) || !state.tester.hub.deliver_relayed(&inbox.id, &request_id, response) {
        return Err(ApiError::NotFound(format!(
            "no sender is waiting for request '{request_id}' of inbox {} (it timed out, was already answered, or is on another node)",
            inbox.id
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
