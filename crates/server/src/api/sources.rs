//! `/ingest/api/v1/source…`: sources, as Svix's Ingest API and its SDKs' `ingest` calls
//! manage them, and each source's endpoints. Admin token only.
//!
//! A source is a public URL (`ingestUrl`, `/in/{token}`) for a provider's webhooks, verified
//! as its `type` says (see hookd-core's `ingest` for the types and their `config`), plus an
//! application of its own (`hookd.source.{id}`, made and deleted with it) whose messages are
//! the requests it accepted. Its endpoints are that application's endpoints, so each endpoint
//! route here is the application endpoint route of the same name (same fields, a superset of
//! Svix's `IngestEndpoint…` shapes, same rules), and deliveries get the engine's retries,
//! rate limits, FIFO, filters, transformations and attempt logs.
//!
//! hookd's additions: `allowPrivateDestinations` on a source, the list of requests it
//! received with their verdict and deliveries (`…/request`), and replaying one request or a
//! time window to its endpoints.

use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use hookd_core::ingest::SourceType;
use hookd_core::{ApplicationId, EndpointId, IngestLogId, SourceId};
use hookd_store::{
    Application, Cursor, DeliveryStatus, IngestRefusal, ListQuery, Message, MessageFilter, Metadata, Order, Source,
    SourceData, StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::endpoints::{
    self as eps, EndpointHeadersIn, EndpointHeadersOut, EndpointIn, EndpointOut, EndpointSecretOut,
    EndpointSecretRotateIn,
};
use super::transformations::{self as tf, TransformationOut, TransformationPatch};
use super::{nullable, time, ListResponse, Problems, Timestamp};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, ValidationItem};
use crate::extract::{ApiJson, ApiQuery, ListParams, OptionalJson};
use crate::service::Replay;
use crate::AppState;

/// Svix's limits on a source's `name` and `uid`.
const NAME_LEN: std::ops::RangeInclusive<usize> = 2..=256;
const UID_LEN: std::ops::RangeInclusive<usize> = 1..=60;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A source: where a provider's webhooks arrive, verified as its type says.")]
pub struct IngestSourceIn {
    #[schema(min_length = 2, max_length = 256)]
    pub name: String,
    /// The source's uid.
    #[schema(min_length = 1, max_length = 60, pattern = "^(?!src_)[a-zA-Z0-9_-]+$")]
    pub uid: Option<String>,
    #[schema(value_type = Option<crate::openapi::schemas::Metadata>)]
    pub metadata: Option<Metadata>,
    /// The provider, as Svix names it. Svix's other types are refused with 422.
    #[serde(rename = "type")]
    pub kind: String,
    /// The type's settings: {"secret": …} for github (optional), stripe (plus an optional hookd `tolerance` in seconds), shopify, slack, segment (optional), zoom, svix and the Svix-signed types; for generic-webhook nothing, or one of {"hmac": {header, secret, algorithm, encoding, prefix}}, {"basicAuth": {username, password}}, {"apiKey": {header, key}} (hookd extensions). See the README.
    pub config: Option<Value>,
    /// hookd extension: the source's endpoints may be on private addresses (loopback, RFC 1918, unique-local; link-local stays refused).
    #[serde(default)]
    pub allow_private_destinations: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestSourcePatch {
    #[schema(min_length = 2, max_length = 256)]
    name: Option<String>,
    /// The source's uid.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_length = 1, max_length = 60, pattern = "^(?!src_)[a-zA-Z0-9_-]+$")]
    uid: Option<Option<String>>,
    #[schema(value_type = Option<crate::openapi::schemas::Metadata>)]
    metadata: Option<Metadata>,
    /// hookd extension: new settings for the source's type (a new secret).
    config: Option<Value>,
    /// hookd extension.
    allow_private_destinations: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestSourceOut {
    /// Source id (src_…).
    id: SourceId,
    #[schema(required = true)]
    uid: Option<String>,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    /// The settings less their secrets.
    config: Value,
    /// The public URL to give the provider (any sub-path below it is accepted too).
    ingest_url: String,
    #[schema(value_type = crate::openapi::schemas::Metadata)]
    metadata: Metadata,
    allow_private_destinations: bool,
    /// hookd extension: the application (uid hookd.source.{id}) whose messages are the requests this source accepted.
    app_id: ApplicationId,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A source's public URL.
pub(crate) fn ingest_url(state: &AppState, headers: &HeaderMap, token: &str) -> String {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    format!("{}/in/{token}", state.tester.base_url(&state.config, host))
}

impl IngestSourceOut {
    fn new(state: &AppState, headers: &HeaderMap, s: Source) -> Self {
        let config = SourceType::parse(&s.kind, Some(&s.config))
            .map_or(Value::Object(Default::default()), |t| t.public_config());
        Self {
            ingest_url: ingest_url(state, headers, &s.token),
            id: s.id,
            uid: s.uid,
            name: s.name,
            kind: s.kind,
            config,
            metadata: s.metadata,
            allow_private_destinations: s.allow_private,
            app_id: s.app_id,
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

fn check_name(p: &mut Problems, name: &str) {
    if !NAME_LEN.contains(&name.chars().count()) {
        p.add("name", "must be 2 to 256 characters");
    }
}

fn check_uid(p: &mut Problems, uid: &str) {
    if !UID_LEN.contains(&uid.len()) || !uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        p.add("uid", "must be 1 to 60 characters of a-z, A-Z, 0-9, _ and -");
    } else if uid.starts_with(SourceId::PREFIX) {
        p.add("uid", "must not start with src_ (a source id)");
    }
}

/// The type and its settings, checked; a problem names the field at fault.
fn check_type(p: &mut Problems, kind: &str, config: Option<&Value>) -> Option<SourceType> {
    SourceType::parse(kind, config).map_err(|e| p.add(&e.field, e.reason)).ok()
}

impl IngestSourceIn {
    pub(crate) fn into_data(self) -> ApiResult<SourceData> {
        let mut p = Problems::default();
        check_name(&mut p, &self.name);
        if let Some(uid) = &self.uid {
            check_uid(&mut p, uid);
        }
        let kind = check_type(&mut p, &self.kind, self.config.as_ref());
        p.finish()?;
        let kind = kind.expect("checked");
        Ok(SourceData {
            uid: self.uid,
            name: self.name,
            kind: kind.name().to_owned(),
            config: kind.stored_config(),
            metadata: self.metadata.unwrap_or_default(),
            allow_private: self.allow_private_destinations,
        })
    }
}

/// A source by id or uid.
pub(crate) async fn find(state: &AppState, source_id: &str) -> ApiResult<Source> {
    Ok(state.service.source(source_id).await?)
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source",
    operation_id = "ingestListSources",
    tag = "source",
    summary = "List sources",
    description = "Admin token only.",
    params(crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Order),
    responses(
        (status = 200, description = "A page of sources.", body = ListResponse<IngestSourceOut>),
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
) -> ApiResult<Json<ListResponse<IngestSourceOut>>> {
    let page = state.store.list_sources(&params.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, |s| IngestSourceOut::new(&state, &headers, s))))
}

#[utoipa::path(
    post,
    path = "/ingest/api/v1/source",
    operation_id = "ingestCreateSource",
    tag = "source",
    summary = "Create a source",
    description = "Makes the source and its application (uid hookd.source.{id}). Admin token only.",
    params(crate::openapi::params::IdempotencyKey),
    request_body = IngestSourceIn,
    responses(
        (status = 201, description = "The source was created.", body = IngestSourceOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IngestSourceIn>,
) -> ApiResult<(StatusCode, Json<IngestSourceOut>)> {
    let source = state.service.create_source(&body.into_data()?).await?;
    Ok((StatusCode::CREATED, Json(IngestSourceOut::new(&state, &headers, source))))
}

/// Turns a tester inbox into a source: the source takes the inbox's id as its URL token, so
/// the capture URL a provider was given becomes a durable one, and the inbox (with what it
/// captured) is deleted. (Were the process to stop between the two steps, the inbox would
/// keep the URL until deleted; the source is there already.)
#[utoipa::path(
    post,
    path = "/api/v1/inbox/{inbox_id}/source",
    operation_id = "inboxToSource",
    tag = "source",
    summary = "Turn an inbox into a source",
    description = "The source takes the inbox's id as its URL token, so the capture URL a provider was given becomes a durable one; the inbox and what it captured are deleted. Admin token only.",
    params(crate::openapi::params::InboxId, crate::openapi::params::IdempotencyKey),
    request_body = IngestSourceIn,
    responses(
        (status = 201, description = "The source, whose URL token is the inbox's id.", body = IngestSourceOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn from_inbox(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(inbox_id): Path<String>,
    ApiJson(body): ApiJson<IngestSourceIn>,
) -> ApiResult<(StatusCode, Json<IngestSourceOut>)> {
    let inbox = crate::tester::inbox_api::find_inbox(&state, &inbox_id).await?;
    let data = body.into_data()?;
    let source = state.service.source_from_inbox(&inbox, &data).await?;
    Ok((StatusCode::CREATED, Json(IngestSourceOut::new(&state, &headers, source))))
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}",
    operation_id = "ingestGetSource",
    tag = "source",
    summary = "Get a source",
    description = "Admin token only.",
    params(crate::openapi::params::SourceId),
    responses(
        (status = 200, description = "The source.", body = IngestSourceOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(source_id): Path<String>,
) -> ApiResult<Json<IngestSourceOut>> {
    Ok(Json(IngestSourceOut::new(&state, &headers, find(&state, &source_id).await?)))
}

/// Svix's `upsert`: replaces the source's fields, or creates it with the path as its uid.
#[utoipa::path(
    put,
    path = "/ingest/api/v1/source/{source_id}",
    operation_id = "ingestUpsertSource",
    tag = "source",
    summary = "Create or replace a source",
    description = "Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::IdempotencyKey),
    request_body = IngestSourceIn,
    responses(
        (status = 200, description = "The source was replaced.", body = IngestSourceOut),
        (status = 201, description = "The source was created, with the path as its uid.", body = IngestSourceOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn put(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(source_id): Path<String>,
    ApiJson(body): ApiJson<IngestSourceIn>,
) -> ApiResult<(StatusCode, Json<IngestSourceOut>)> {
    match state.store.get_source(&source_id).await {
        Ok(existing) => {
            // The uid it was found by (or had) stays unless the body gives another.
            let mut data = body.into_data()?;
            data.uid = data.uid.or(existing.uid);
            let updated = state.service.update_source(&existing.id, &data).await?;
            Ok((StatusCode::OK, Json(IngestSourceOut::new(&state, &headers, updated))))
        }
        Err(StoreError::NotFound(_)) => {
            let mut data = body.into_data()?;
            if SourceId::looks_like(&source_id) {
                return Err(ApiError::NotFound(format!("source '{source_id}' not found")));
            }
            let mut p = Problems::default();
            check_uid(&mut p, &source_id);
            p.0.iter_mut().for_each(|item| item.loc = vec!["path".into(), "source_id".into()]);
            p.finish()?;
            data.uid = Some(source_id);
            let source = state.service.create_source(&data).await?;
            Ok((StatusCode::CREATED, Json(IngestSourceOut::new(&state, &headers, source))))
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    patch,
    path = "/ingest/api/v1/source/{source_id}",
    operation_id = "ingestPatchSource",
    tag = "source",
    summary = "Update a source",
    description = "Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::IdempotencyKey),
    request_body = IngestSourcePatch,
    responses(
        (status = 200, description = "The source.", body = IngestSourceOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn patch(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(source_id): Path<String>,
    ApiJson(body): ApiJson<IngestSourcePatch>,
) -> ApiResult<Json<IngestSourceOut>> {
    let source = find(&state, &source_id).await?;
    let mut p = Problems::default();
    if let Some(name) = &body.name {
        check_name(&mut p, name);
    }
    if let Some(Some(uid)) = &body.uid {
        check_uid(&mut p, uid);
    }
    let config = match &body.config {
        Some(config) => check_type(&mut p, &source.kind, Some(config)).map(|t| t.stored_config()),
        None => Some(source.config.clone()),
    };
    p.finish()?;
    let data = SourceData {
        uid: body.uid.unwrap_or(source.uid),
        name: body.name.unwrap_or(source.name),
        kind: source.kind,
        config: config.expect("checked"),
        metadata: body.metadata.unwrap_or(source.metadata),
        allow_private: body.allow_private_destinations.unwrap_or(source.allow_private),
    };
    let updated = state.service.update_source(&source.id, &data).await?;
    Ok(Json(IngestSourceOut::new(&state, &headers, updated)))
}

#[utoipa::path(
    delete,
    path = "/ingest/api/v1/source/{source_id}",
    operation_id = "ingestDeleteSource",
    tag = "source",
    summary = "Delete a source",
    description = "Admin token only.",
    params(crate::openapi::params::SourceId),
    responses(
        (status = 204, description = "The source was deleted, with its application, endpoints, requests and attempts."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    Path(source_id): Path<String>,
) -> ApiResult<StatusCode> {
    let source = find(&state, &source_id).await?;
    state.service.delete_source(&source).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateTokenOut {
    ingest_url: String,
}

/// A new URL token: the old URL stops working at once (within a second on other nodes).
#[utoipa::path(
    post,
    path = "/ingest/api/v1/source/{source_id}/token/rotate",
    operation_id = "ingestRotateSourceToken",
    tag = "source",
    summary = "Rotate a source's URL token",
    description = "Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::IdempotencyKey),
    responses(
        (status = 200, description = "The new URL; the old one stops working at once (within a second on other nodes).", body = RotateTokenOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
    ),
)]
pub async fn rotate_token(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(source_id): Path<String>,
) -> ApiResult<Json<RotateTokenOut>> {
    let source = find(&state, &source_id).await?;
    let rotated = state.service.rotate_source_token(&source).await?;
    Ok(Json(RotateTokenOut { ingest_url: ingest_url(&state, &headers, &rotated.token) }))
}

/// Svix's `IngestLogOut` (snake_case, as Svix spells it): a request the source refused.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(description = "A request the source refused (Svix's ingest log; snake_case as Svix spells it).")]
pub struct IngestLogOut {
    id: IngestLogId,
    source_id: SourceId,
    /// What the provider was answered.
    status_code: i64,
    error_text: String,
    #[schema(value_type = crate::openapi::schemas::Metadata)]
    headers: Metadata,
    payload: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<IngestRefusal> for IngestLogOut {
    fn from(r: IngestRefusal) -> Self {
        Self {
            id: r.id,
            source_id: r.source_id,
            status_code: r.status_code,
            error_text: r.error_text,
            headers: r.headers.into_iter().collect(),
            payload: r.payload,
            created_at: time(r.created_at),
            updated_at: time(r.created_at),
        }
    }
}

/// The requests the source refused, newest first.
#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/log",
    operation_id = "ingestListLog",
    tag = "source",
    summary = "List requests a source refused",
    description = "Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Order),
    responses(
        (status = 200, description = "A page of refused requests, newest first.", body = ListResponse<IngestLogOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn list_log(
    State(state): State<AppState>,
    _admin: Admin,
    Path(source_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<IngestLogOut>>> {
    let source = find(&state, &source_id).await?;
    let page = state.store.list_ingest_refusals(&source.id, &params.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, IngestLogOut::from)))
}

#[derive(Deserialize, Serialize, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accepted,
    Refused,
}

#[derive(Deserialize)]
pub struct RequestListParams {
    verdict: Option<Verdict>,
}

/// One delivery of an accepted request.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = IngestRequestDeliveryOut)]
pub struct RequestDeliveryOut {
    endpoint_id: EndpointId,
    /// Svix's `MessageStatus` number, and its name.
    #[schema(value_type = crate::openapi::schemas::MessageStatus)]
    status: i64,
    #[schema(value_type = crate::openapi::schemas::MessageStatusText)]
    status_text: &'static str,
    attempts: i64,
}

/// A request a source received, accepted or refused.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A request a source received.")]
pub struct IngestRequestOut {
    /// The message's id (msg_…) when accepted, the log entry's (log_…) when refused.
    id: String,
    verdict: Verdict,
    /// What the provider was answered.
    status_code: u16,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    method: String,
    path: String,
    query: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<String>,
    /// The provider's delivery id, which drops its retries of the same webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<String>,
    /// `delivered` (to every endpoint), `pending`, `failed` (to at least one, for good),
    /// `none` (no endpoint took it), or `refused`.
    state: &'static str,
    deliveries: Vec<RequestDeliveryOut>,
    received_at: DateTime<Utc>,
}

/// What a list of requests shows of their deliveries, in one word.
fn overall(deliveries: &[RequestDeliveryOut]) -> &'static str {
    let has = |s: DeliveryStatus| deliveries.iter().any(|d| d.status == s as i64);
    if deliveries.is_empty() {
        "none"
    } else if has(DeliveryStatus::Fail) {
        "failed"
    } else if has(DeliveryStatus::Pending) || has(DeliveryStatus::Sending) {
        "pending"
    } else {
        "delivered"
    }
}

/// The time-ordered part of an id (`msg_…`, `log_…`): both kinds sort together by it.
fn id_body(id: &str) -> &str {
    id.split_once('_').map_or(id, |(_, body)| body)
}

/// The requests a source received, newest first, accepted and refused together (or one
/// `verdict`), with each accepted one's deliveries. Pages forward only: `iterator` is the
/// time-ordered part of the last request's id.
#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/request",
    operation_id = "ingestListRequests",
    tag = "source",
    summary = "List requests a source received",
    description = "hookd extension. Accepted and refused requests together (or one verdict), newest first; pages forward only (order=ascending and a previous-page iterator are refused). Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Order, crate::openapi::params::Verdict),
    responses(
        (status = 200, description = "A page of requests, newest first, with their verdict and deliveries.", body = ListResponse<IngestRequestOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn list_requests(
    State(state): State<AppState>,
    _admin: Admin,
    Path(source_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(filter): ApiQuery<RequestListParams>,
) -> ApiResult<Json<ListResponse<IngestRequestOut>>> {
    let source = find(&state, &source_id).await?;
    let q = params.to_query()?;
    let after = match (&q.cursor, q.order) {
        (_, Some(Order::Ascending)) => {
            return Err(ApiError::validation(ValidationItem::query("order", "requests list newest first only")))
        }
        (Some(Cursor::Newer(_)), _) => {
            return Err(ApiError::validation(ValidationItem::query(
                "iterator",
                "requests page forward only (the iterator of the previous page)",
            )))
        }
        (Some(Cursor::Older(body)), _) => Some(body.clone()),
        (None, _) => None,
    };
    let query_for = |prefix: &str| ListQuery {
        limit: q.limit,
        cursor: after.as_ref().map(|body| Cursor::Older(format!("{prefix}{body}"))),
        order: None,
    };
    let accepted: Vec<Message> = if filter.verdict != Some(Verdict::Refused) {
        let page = state.store.list_messages(&source.app_id, &MessageFilter::default(), &query_for("msg_")).await?;
        page.data
    } else {
        vec![]
    };
    let refused: Vec<IngestRefusal> = if filter.verdict != Some(Verdict::Accepted) {
        state.store.list_ingest_refusals(&source.id, &query_for("log_")).await?.data
    } else {
        vec![]
    };
    let ids: Vec<&str> = accepted.iter().map(|m| m.id.as_str()).collect();
    let mut by_message: std::collections::HashMap<hookd_core::MessageId, Vec<RequestDeliveryOut>> = Default::default();
    for d in state.store.delivery_states(&ids).await? {
        by_message.entry(d.msg_id).or_default().push(RequestDeliveryOut {
            endpoint_id: d.endpoint_id,
            status: d.status as i64,
            status_text: d.status.text(),
            attempts: d.attempts,
        });
    }
    let mut items: Vec<IngestRequestOut> = Vec::with_capacity(accepted.len() + refused.len());
    for m in accepted {
        let deliveries = by_message.remove(&m.id).unwrap_or_default();
        let request = m.request.unwrap_or_default();
        items.push(IngestRequestOut {
            id: m.id.into_string(),
            verdict: Verdict::Accepted,
            status_code: 200,
            reason: None,
            method: request.method,
            path: request.path,
            query: request.query,
            event_type: Some(m.event_type),
            event_id: m.event_id,
            state: overall(&deliveries),
            deliveries,
            received_at: time(m.created_at),
        });
    }
    for r in refused {
        items.push(IngestRequestOut {
            id: r.id.into_string(),
            verdict: Verdict::Refused,
            status_code: r.status_code as u16,
            reason: Some(r.error_text),
            method: r.method,
            path: r.path,
            query: r.query,
            event_type: None,
            event_id: None,
            state: "refused",
            deliveries: vec![],
            received_at: time(r.created_at),
        });
    }
    items.sort_by(|a, b| id_body(&b.id).cmp(id_body(&a.id)));
    let done = items.len() <= q.limit as usize;
    items.truncate(q.limit as usize);
    let iterator = items.last().map(|i| id_body(&i.id).to_owned());
    Ok(Json(ListResponse { data: items, iterator, prev_iterator: None, done }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SourceReplayIn)]
pub struct ReplayIn {
    /// Start of the window (inclusive), by when the requests were received; required for a window replay, refused for one request's.
    #[schema(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    since: Option<Timestamp>,
    /// End of the window (exclusive); default now.
    #[schema(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    until: Option<Timestamp>,
    /// To this endpoint (id or uid) alone; default every enabled endpoint of the source.
    endpoint_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SourceReplayOut)]
pub struct ReplayOut {
    /// Deliveries made due again.
    replayed: u64,
}

/// Sends one accepted request again to the source's endpoints, each delivery with a fresh
/// retry schedule.
#[utoipa::path(
    post,
    path = "/ingest/api/v1/source/{source_id}/request/{msg_id}/replay",
    operation_id = "ingestReplayRequest",
    tag = "source",
    summary = "Replay one request",
    description = "hookd extension: sends an accepted request again to the source's enabled endpoints (or endpointId alone). Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::MsgId, crate::openapi::params::IdempotencyKey),
    request_body(content = Option<ReplayIn>, description = "Optional: an empty body takes the defaults."),
    responses(
        (status = 202, description = "Its deliveries are due again, each with a fresh retry schedule.", body = ReplayOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn replay_request(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, msg_id)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<ReplayIn>,
) -> ApiResult<(StatusCode, Json<ReplayOut>)> {
    let source = find(&state, &source_id).await?;
    let mut p = Problems::default();
    if body.since.is_some() || body.until.is_some() {
        p.add("since", "a single request's replay takes no time window (use …/replay for one)");
    }
    p.finish()?;
    let replayed = state.service.replay_source(&source, Replay::One(&msg_id), body.endpoint_id.as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(ReplayOut { replayed })))
}

/// Sends every request accepted in `[since, until)` again to the source's endpoints.
#[utoipa::path(
    post,
    path = "/ingest/api/v1/source/{source_id}/replay",
    operation_id = "ingestReplayWindow",
    tag = "source",
    summary = "Replay a time window",
    description = "hookd extension: sends every request accepted in [since, until) again to the source's enabled endpoints (or endpointId alone). Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::IdempotencyKey),
    request_body = ReplayIn,
    responses(
        (status = 202, description = "Their deliveries are due again, each with a fresh retry schedule.", body = ReplayOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn replay_window(
    State(state): State<AppState>,
    _admin: Admin,
    Path(source_id): Path<String>,
    OptionalJson(body): OptionalJson<ReplayIn>,
) -> ApiResult<(StatusCode, Json<ReplayOut>)> {
    let source = find(&state, &source_id).await?;
    let mut p = Problems::default();
    match (body.since, body.until) {
        (None, _) => p.add("since", "is required: the start of the window to replay"),
        (Some(since), Some(until)) if until <= since => p.add("until", "must be later than since"),
        _ => {}
    }
    p.finish()?;
    let since = body.since.expect("checked").millis();
    let until = body.until.map(Timestamp::millis);
    let window = Replay::Window { since, until };
    let replayed = state.service.replay_source(&source, window, body.endpoint_id.as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(ReplayOut { replayed })))
}

// The source's endpoints: the application endpoint routes, on the source's application.

/// The application holding a source's endpoints.
async fn app_of(state: &AppState, source_id: &str) -> ApiResult<Application> {
    let source = find(state, source_id).await?;
    Ok(state.service.application(source.app_id.as_str()).await?)
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/endpoint",
    operation_id = "ingestListEndpoints",
    tag = "source",
    summary = "List a source's endpoints",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Order),
    responses(
        (status = 200, description = "A page of endpoints.", body = ListResponse<EndpointOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn list_endpoints(
    State(state): State<AppState>,
    _admin: Admin,
    Path(source_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    eps::list_in(&state, &app_of(&state, &source_id).await?, &params).await
}

#[utoipa::path(
    post,
    path = "/ingest/api/v1/source/{source_id}/endpoint",
    operation_id = "ingestCreateEndpoint",
    tag = "source",
    summary = "Create a source endpoint",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::IdempotencyKey),
    request_body = EndpointIn,
    responses(
        (status = 201, description = "The endpoint was created.", body = EndpointOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn create_endpoint(
    State(state): State<AppState>,
    _admin: Admin,
    Path(source_id): Path<String>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    eps::create_in(&state, &app_of(&state, &source_id).await?, body).await
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
    operation_id = "ingestGetEndpoint",
    tag = "source",
    summary = "Get a source endpoint",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The endpoint.", body = EndpointOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_endpoint(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    eps::get_in(&state, &app_of(&state, &source_id).await?, &endpoint_id).await
}

#[utoipa::path(
    put,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
    operation_id = "ingestUpsertEndpoint",
    tag = "source",
    summary = "Create or replace a source endpoint",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::EndpointId, crate::openapi::params::IdempotencyKey),
    request_body = EndpointIn,
    responses(
        (status = 200, description = "The endpoint was replaced.", body = EndpointOut),
        (status = 201, description = "The endpoint was created, with the path as its uid.", body = EndpointOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn put_endpoint(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    eps::put_in(&state, &app_of(&state, &source_id).await?, &endpoint_id, body).await
}

#[utoipa::path(
    delete,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
    operation_id = "ingestDeleteEndpoint",
    tag = "source",
    summary = "Delete a source endpoint",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::EndpointId),
    responses(
        (status = 204, description = "The endpoint was deleted."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    eps::delete_in(&state, &app_of(&state, &source_id).await?, &endpoint_id).await
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret",
    operation_id = "ingestGetEndpointSecret",
    tag = "source",
    summary = "Get a source endpoint's signing secret",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The secret.", body = EndpointSecretOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_endpoint_secret(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    eps::get_secret_in(&state, &app_of(&state, &source_id).await?, &endpoint_id).await
}

/// Svix answers this route with 204.
#[utoipa::path(
    post,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret/rotate",
    operation_id = "ingestRotateEndpointSecret",
    tag = "source",
    summary = "Rotate a source endpoint's signing secret",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::EndpointId, crate::openapi::params::IdempotencyKey),
    request_body(content = Option<EndpointSecretRotateIn>, description = "Optional: an empty body takes the defaults."),
    responses(
        (status = 204, description = "The secret was rotated (Svix answers this route without a body)."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLargeText),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn rotate_endpoint_secret(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, endpoint_id)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<EndpointSecretRotateIn>,
) -> ApiResult<StatusCode> {
    let _new_key = eps::rotate_secret_in(&state, &app_of(&state, &source_id).await?, &endpoint_id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
    operation_id = "ingestGetEndpointHeaders",
    tag = "source",
    summary = "Get a source endpoint's extra headers",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The headers.", body = EndpointHeadersOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_endpoint_headers(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    eps::get_headers_in(&state, &app_of(&state, &source_id).await?, &endpoint_id).await
}

#[utoipa::path(
    put,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
    operation_id = "ingestUpdateEndpointHeaders",
    tag = "source",
    summary = "Replace a source endpoint's extra headers",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::EndpointId),
    request_body = EndpointHeadersIn,
    responses(
        (status = 204, description = "The headers were replaced."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn put_endpoint_headers(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    eps::put_headers_in(&state, &app_of(&state, &source_id).await?, &endpoint_id, body).await
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation",
    operation_id = "ingestGetEndpointTransformation",
    tag = "source",
    summary = "Get a source endpoint's transformation",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The transformation.", body = TransformationOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_endpoint_transformation(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<TransformationOut>> {
    let app = app_of(&state, &source_id).await?;
    Ok(Json(tf::out(state.service.endpoint(&app, &endpoint_id).await?)))
}

#[utoipa::path(
    patch,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation",
    operation_id = "ingestPatchEndpointTransformation",
    tag = "source",
    summary = "Set a source endpoint's transformation",
    description = "The source's endpoints are the endpoints of its application: the same fields (a superset of Svix's IngestEndpoint… shapes) and rules as the application endpoint route. Each delivery passes the request on as it came: method, sub-path below the endpoint's URL, query and headers (less hop-by-hop and credential headers), exact body, plus hookd's Standard Webhooks signature. Admin token only.",
    params(crate::openapi::params::SourceId, crate::openapi::params::EndpointId),
    request_body = TransformationPatch,
    responses(
        (status = 204, description = "Saved."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn patch_endpoint_transformation(
    State(state): State<AppState>,
    _admin: Admin,
    Path((source_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<TransformationPatch>,
) -> ApiResult<StatusCode> {
    let app = app_of(&state, &source_id).await?;
    tf::apply(&state, &state.service.endpoint(&app, &endpoint_id).await?, body).await
}
