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

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = InboxResponseIn, description = "How an inbox answers captures. Absent or null fields keep the current value (on create: 200, content-type application/json, body {\"ok\":true}, no delay). Unknown fields are refused.")]
pub struct ResponseIn {
    /// HTTP status to answer with (200 to 599: a 1xx is not a final answer).
    #[schema(minimum = 200, maximum = 599)]
    status: Option<i64>,
    /// Headers to answer with (rules in InboxResponseHeaders). Replaces the whole map.
    #[schema(value_type = Option<crate::openapi::schemas::InboxResponseHeaders>)]
    headers: Option<Metadata>,
    /// Body to answer with: at most 65536 bytes of UTF-8 (so fewer characters when some are not ASCII).
    #[schema(max_length = 65536)]
    body: Option<String>,
    /// Wait this long before answering, in milliseconds (at most 30000).
    #[schema(minimum = 0, maximum = 30000)]
    delay_ms: Option<i64>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(description = "Fields of a new inbox; all optional. Unknown fields are refused.")]
pub struct InboxIn {
    /// Display name: 1 to 256 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\x00-\\x1F\\x7F-\\x9F \\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    name: Option<String>,
    /// Secret to check Standard Webhooks signatures with: whsec_ followed by standard padded base64 (or the bare base64) of 24 to 75 bytes; stored as whsec_….
    #[schema(
        pattern = "^(?:whsec_)?(?:(?:[A-Za-z0-9+/]{4}){8,25}|(?:[A-Za-z0-9+/]{4}){8,24}(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=))$"
    )]
    secret: Option<String>,
    /// Id (ep_…, not a uid) of an existing endpoint whose current and rotated secrets are also used to check signatures.
    #[schema(pattern = "^ep_[0-9A-HJKMNP-TV-Z]{26}$")]
    endpoint_id: Option<String>,
    /// How captures are answered; fields not given take the defaults.
    response: Option<ResponseIn>,
    /// How many captured requests are kept.
    #[schema(minimum = 1, maximum = 10000)]
    max_requests: Option<i64>,
    /// When the inbox expires: must be in the future and at most 365 days away. Defaults to 7 days from now. An RFC 3339 date-time such as 2026-01-31T12:00:00Z (a space may stand for the T).
    #[schema(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    expires_at: Option<Timestamp>,
}

/// Absent fields are kept; `null` clears `name`, `secret` and `endpointId`; `response` fields
/// are merged one by one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(description = "Fields to change on an inbox; absent fields are kept. Unknown fields are refused.")]
pub struct InboxPatch {
    /// New name (not blank, at most 256 characters, no control characters); null removes it, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\x00-\\x1F\\x7F-\\x9F \\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    name: Option<Option<String>>,
    /// New secret (same rules as on create); null removes it, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        pattern = "^(?:whsec_)?(?:(?:[A-Za-z0-9+/]{4}){8,25}|(?:[A-Za-z0-9+/]{4}){8,24}(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=))$"
    )]
    secret: Option<Option<String>>,
    /// Linked endpoint (an existing ep_… id); null unlinks it, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(pattern = "^ep_[0-9A-HJKMNP-TV-Z]{26}$")]
    endpoint_id: Option<Option<String>>,
    /// Response fields to change; the ones given are merged into the current response.
    response: Option<ResponseIn>,
    /// New limit of kept requests; absent or null keeps it.
    #[schema(minimum = 1, maximum = 10000)]
    max_requests: Option<i64>,
    /// New expiry: in the future, at most 365 days away; absent or null keeps it. An RFC 3339 date-time such as 2026-01-31T12:00:00Z (a space may stand for the T).
    #[schema(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    expires_at: Option<Timestamp>,
}

#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = InboxResponseOut, description = "How an inbox answers captures.")]
pub struct ResponseOut {
    pub status: u16,
    #[schema(value_type = crate::openapi::schemas::Metadata)]
    pub headers: Metadata,
    pub body: String,
    pub delay_ms: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A webhook tester inbox.")]
pub struct InboxOut {
    /// Inbox id (inb_…).
    pub id: InboxId,
    /// The public capture URL ({base}/in/{id}).
    pub url: String,
    /// The HTML live view ({base}/inbox/{id}); add ?token=… to open it.
    pub page_url: String,
    #[schema(required = true)]
    pub name: Option<String>,
    #[schema(required = true)]
    pub secret: Option<String>,
    #[schema(required = true)]
    pub endpoint_id: Option<String>,
    pub response: ResponseOut,
    pub max_requests: i64,
    /// How many `hookd listen` relays are attached to this inbox on this node.
    #[schema(minimum = 0)]
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

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[schema(description = "The verdict of the signature check.")]
pub struct SignatureOut {
    /// Whether a signature matched one of the inbox's secrets.
    pub verified: bool,
    /// Why the signature did not verify; null when it did.
    #[schema(required = true)]
    pub error: Option<String>,
}

/// A captured request as the API, the live stream and the page show it.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A request captured by an inbox.")]
pub struct InboxRequestOut {
    /// Request id (req_…).
    pub id: InboxRequestId,
    pub inbox_id: InboxId,
    pub method: String,
    /// The sub-path after /in/{inbox_id}, as received (percent-encoded); "/" when there is none.
    pub path: String,
    /// The query string without '?'; empty when there is none.
    pub query: String,
    /// Request headers in arrival order.
    #[schema(value_type = Vec<crate::openapi::schemas::HeaderPair>)]
    pub headers: Vec<(String, String)>,
    /// The body as text; null when it is not UTF-8 (see bodyBase64).
    #[schema(required = true)]
    pub body: Option<String>,
    /// The exact body bytes, base64 encoded.
    pub body_base64: String,
    /// Body size in bytes (for a refused request: the announced or received size).
    pub body_size: i64,
    /// Address of the sender, when known.
    #[schema(required = true)]
    pub client_addr: Option<String>,
    /// Why the request was refused with 413 (its body was too large and is not stored); null otherwise.
    #[schema(required = true)]
    pub refused: Option<String>,
    /// Signature check; null when the inbox has no secret to check with.
    #[schema(required = true)]
    pub signature: Option<SignatureOut>,
    /// When the request was captured.
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

#[utoipa::path(
    get,
    path = "/api/v1/inbox",
    operation_id = "listInboxes",
    tag = "inbox",
    summary = "List inboxes",
    description = "Admin token only. Newest first.",
    params(crate::openapi::params::Limit, crate::openapi::params::Iterator),
    responses(
        (status = 200, description = "A page of inboxes.", body = ListResponse<InboxOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<InboxOut>>> {
    let page = state.store.list_inboxes(&params.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, |i| InboxOut::new(&state, &headers, i))))
}

#[utoipa::path(
    post,
    path = "/api/v1/inbox",
    operation_id = "createInbox",
    tag = "inbox",
    summary = "Create an inbox",
    description = "Admin token only. The body is optional: an empty body creates an inbox with every default (answers 200 {\"ok\":true}, keeps 500 requests, expires in 7 days).",
    params(crate::openapi::params::IdempotencyKey),
    request_body(content = Option<InboxIn>, description = "Optional: an empty body takes the defaults."),
    responses(
        (status = 201, description = "The inbox was created.", body = InboxOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLargeText),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/inbox/{inbox_id}",
    operation_id = "getInbox",
    tag = "inbox",
    summary = "Get an inbox",
    description = "Admin token only.",
    params(crate::openapi::params::InboxId),
    responses(
        (status = 200, description = "The inbox.", body = InboxOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(inbox_id): Path<String>,
) -> ApiResult<Json<InboxOut>> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    Ok(Json(InboxOut::new(&state, &headers, inbox)))
}

#[utoipa::path(
    patch,
    path = "/api/v1/inbox/{inbox_id}",
    operation_id = "patchInbox",
    tag = "inbox",
    summary = "Update an inbox",
    description = "Admin token only.",
    params(crate::openapi::params::InboxId),
    request_body = InboxPatch,
    responses(
        (status = 200, description = "The updated inbox.", body = InboxOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[utoipa::path(
    delete,
    path = "/api/v1/inbox/{inbox_id}",
    operation_id = "deleteInbox",
    tag = "inbox",
    summary = "Delete an inbox",
    description = "Admin token only. Its captured requests go with it.",
    params(crate::openapi::params::InboxId),
    responses(
        (status = 204, description = "The inbox was deleted."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    Path(inbox_id): Path<String>,
) -> ApiResult<StatusCode> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    state.service.delete_inbox(&inbox).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/inbox/{inbox_id}/request",
    operation_id = "listInboxRequests",
    tag = "inbox",
    summary = "List captured requests",
    description = "Admin token only. Newest first.",
    params(crate::openapi::params::InboxId, crate::openapi::params::Limit, crate::openapi::params::Iterator),
    responses(
        (status = 200, description = "A page of captured requests.", body = ListResponse<InboxRequestOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[utoipa::path(
    delete,
    path = "/api/v1/inbox/{inbox_id}/request",
    operation_id = "clearInboxRequests",
    tag = "inbox",
    summary = "Delete all captured requests",
    description = "Admin token only.",
    params(crate::openapi::params::InboxId),
    responses(
        (status = 204, description = "The requests were deleted."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn clear_requests(
    State(state): State<AppState>,
    _admin: Admin,
    Path(inbox_id): Path<String>,
) -> ApiResult<StatusCode> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    state.service.clear_inbox(&inbox, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/inbox/{inbox_id}/request/{request_id}",
    operation_id = "getInboxRequest",
    tag = "inbox",
    summary = "Get a captured request",
    description = "Admin token only.",
    params(crate::openapi::params::InboxId, crate::openapi::params::RequestId),
    responses(
        (status = 200, description = "The captured request.", body = InboxRequestOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_request(
    State(state): State<AppState>,
    _admin: Admin,
    Path((inbox_id, request_id)): Path<(String, String)>,
) -> ApiResult<Json<InboxRequestOut>> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    Ok(Json(find_request(&state, &inbox, &request_id).await?.into()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/inbox/{inbox_id}/request/{request_id}",
    operation_id = "deleteInboxRequest",
    tag = "inbox",
    summary = "Delete a captured request",
    description = "Admin token only.",
    params(crate::openapi::params::InboxId, crate::openapi::params::RequestId),
    responses(
        (status = 204, description = "The request was deleted."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(description = "Where to replay a captured request. Unknown fields are refused.")]
pub struct ReplayIn {
    /// Where to send the captured request, used as is. An absolute http or https URL with a host, at most 65536 characters. The server parses it as a WHATWG URL and accepts some forms the pattern leaves out (non-ASCII, IDNA labels, other host spellings).
    #[schema(
        max_length = 65536,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9._~!$&'()*+,;=:%-]*@)?(?:(?:(?![Xx][Nn]--)[A-Za-z0-9_-]+\\.)*(?![Xx][Nn]--)[A-Za-z_-][A-Za-z0-9_-]*\\.?|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|\\[(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)\\])(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(?:[/?#][!-~]*)?$"
    )]
    url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "What the replay target answered.")]
pub struct ReplayOut {
    url: String,
    /// HTTP status of the response; null when none arrived (see error).
    #[schema(required = true)]
    status: Option<u16>,
    /// Response headers.
    #[schema(value_type = Vec<crate::openapi::schemas::HeaderPair>)]
    headers: Vec<(String, String)>,
    /// The start of the response body, as text.
    body: String,
    duration_ms: i64,
    /// Why no response arrived (timeout, refused connection, blocked by the network policy…).
    #[schema(required = true)]
    error: Option<String>,
}

/// Sends a captured request (method, headers, body) to `url` through the SSRF guard, and
/// returns what came back. The captured sub-path and query are not added: `url` is used as is.
#[utoipa::path(
    post,
    path = "/api/v1/inbox/{inbox_id}/request/{request_id}/replay",
    operation_id = "replayInboxRequest",
    tag = "inbox",
    summary = "Replay a captured request",
    description = "Admin token only. Sends the captured method, headers and body to `url` (the captured sub-path and query are not added) through the delivery worker's network policy, and returns what came back. A request that was refused with 413 has no body and cannot be replayed (409).",
    params(crate::openapi::params::InboxId, crate::openapi::params::RequestId, crate::openapi::params::IdempotencyKey),
    request_body = ReplayIn,
    responses(
        (status = 200, description = "The target's answer, or why there was none.", body = ReplayOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(description = "The local app's response, as `hookd listen` posts it back. Unknown fields are refused.")]
pub struct RelayedResponseIn {
    /// HTTP status of the local app's response (200 to 599).
    #[schema(minimum = 200, maximum = 599)]
    status: i64,
    /// Response headers as [name, value] pairs: HTTP tokens and values, no connection headers.
    #[serde(default)]
    #[schema(value_type = Vec<crate::openapi::schemas::RelayedHeaderPair>)]
    headers: Vec<(String, String)>,
    /// The response body in standard base64 with padding (empty for no body).
    #[serde(default)]
    #[schema(pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$")]
    pub body_base64: String,
}

/// Hands the local app's response to the sender still waiting on the capture URL. 204 when it
/// was handed over; 404 when nobody waits for it (it timed out or was already answered).
#[utoipa::path(
    post,
    path = "/api/v1/inbox/{inbox_id}/request/{request_id}/response",
    operation_id = "relayInboxResponse",
    tag = "inbox",
    summary = "Post the local app's response for a capture",
    description = "Admin token only. Used by `hookd listen`: hands the local app's response to the sender still waiting on the capture URL.",
    params(crate::openapi::params::InboxId, crate::openapi::params::RequestId, crate::openapi::params::IdempotencyKey),
    request_body = RelayedResponseIn,
    responses(
        (status = 204, description = "The response was handed to the waiting sender."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, description = "The inbox does not exist, or no sender is waiting for this request (it timed out, was already answered, or is on another node).", body = crate::error::ErrorBody<'static>),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn relay_response(
    State(state): State<AppState>,
    _admin: Admin,
    Path((inbox_id, request_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RelayedResponseIn>,
) -> ApiResult<StatusCode> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    let mut p = Problems::default();
    let status =
        StatusCode::from_u16(body.status.clamp(0, 999) as u16).ok().filter(|_| (200..=599).contains(&body.status));
    if status.is_none() {
        p.add("status", "must be a final HTTP status, between 200 and 599");
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
