//! `/api/v1/app/{app}/endpoint`: where an application's webhooks go, and their secrets.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use hookd_core::signing::EndpointSecret;
use hookd_core::EndpointId;
use hookd_store::{Application, Endpoint, EndpointData, Metadata};
use serde::{Deserialize, Serialize};

use super::{nullable, time, ListResponse, RateLimit, Timestamp};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ValidationItem};
use crate::extract::{ApiJson, ApiQuery, ListParams, OptionalJson};
use crate::service::ExampleRequest;
use crate::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    url: String,
    #[serde(default)]
    description: String,
    uid: Option<String>,
    #[serde(alias = "filterTypes")]
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    #[serde(default)]
    disabled: bool,
    metadata: Option<Metadata>,
    #[serde(alias = "rateLimit")]
    throttle_rate: Option<RateLimit>,
    /// hookd extension: deliver strictly in publish order (see the README).
    #[serde(default)]
    fifo: bool,
    headers: Option<Metadata>,
    secret: Option<String>,
    /// hookd extension: this endpoint's own request timeout, in milliseconds.
    request_timeout_ms: Option<u64>,
    /// hookd extension: a CEL expression a message must satisfy to be delivered here.
    filter: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    url: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable", alias = "filterTypes")]
    event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    channels: Option<Option<Vec<String>>>,
    disabled: Option<bool>,
    metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "nullable", alias = "rateLimit")]
    throttle_rate: Option<Option<RateLimit>>,
    fifo: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    request_timeout_ms: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    filter: Option<Option<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    id: EndpointId,
    uid: Option<String>,
    url: String,
    description: String,
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    disabled: bool,
    metadata: Metadata,
    throttle_rate: Option<i64>,
    rate_limit: Option<i64>,
    fifo: bool,
    /// hookd extension: the endpoint's own request timeout (`null`: the server's).
    request_timeout_ms: Option<i64>,
    /// hookd extension: the endpoint's payload filter (`null`: none).
    filter: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Endpoint> for EndpointOut {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id,
            uid: e.uid,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            channels: e.channels,
            disabled: e.disabled,
            metadata: e.metadata,
            throttle_rate: e.throttle_rate,
            rate_limit: e.throttle_rate,
            fifo: e.fifo,
            request_timeout_ms: e.request_timeout_ms,
            filter: e.filter,
            created_at: time(e.created_at),
            updated_at: time(e.updated_at),
        }
    }
}

/// An empty list means "no filter", as does an absent one. Repeats are dropped, the order
/// is kept (so validation errors point at the element the caller sent).
fn non_empty(list: Option<Vec<String>>) -> Option<Vec<String>> {
    let list = list.filter(|l| !l.is_empty())?;
    let mut seen = BTreeSet::new();
    Some(list.into_iter().filter(|item| seen.insert(item.clone())).collect())
}

impl EndpointIn {
    fn into_data(self) -> (EndpointData, Option<String>) {
        let data = EndpointData {
            uid: self.uid,
            url: self.url,
            description: self.description,
            event_types: non_empty(self.event_types),
            channels: non_empty(self.channels),
            disabled: self.disabled,
            metadata: self.metadata.unwrap_or_default(),
            throttle_rate: self.throttle_rate.map(RateLimit::get),
            fifo: self.fifo,
            headers: self.headers.unwrap_or_default(),
            request_timeout_ms: self.request_timeout_ms.map(|ms| ms.min(i64::MAX as u64) as i64),
            filter: self.filter,
        };
        (data, self.secret)
    }
}

/// The endpoint `endpoint_id` (id or uid) of the application `app_id`, if the caller may
/// reach that application: what the routes below an endpoint start with.
pub(super) async fn caller_endpoint(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    endpoint_id: &str,
) -> ApiResult<Endpoint> {
    let app = caller.application(state, app_id).await?;
    find(state, &app, endpoint_id).await
}

/// The endpoint `endpoint_id` (id or uid) of `app`.
async fn find(state: &AppState, app: &Application, endpoint_id: &str) -> ApiResult<Endpoint> {
    Ok(state.service.endpoint(app, endpoint_id).await?)
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let page = state.store.list_endpoints(&app.id, &params.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, EndpointOut::from)))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = caller.application(&state, &app_id).await?;
    let (data, secret) = body.into_data();
    let created = state.service.create_endpoint(&app, data, secret.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    let app = caller.application(&state, &app_id).await?;
    Ok(Json(find(&state, &app, &endpoint_id).await?.into()))
}

/// Replaces an endpoint's fields, or creates it (201) with the path as its uid.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = caller.application(&state, &app_id).await?;
    let (data, secret) = body.into_data();
    let (endpoint, created) = state.service.put_endpoint(&app, &endpoint_id, data, secret.as_deref()).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(endpoint.into())))
}

pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let app = caller.application(&state, &app_id).await?;
    let current = find(&state, &app, &endpoint_id).await?;
    let c = current.data();
    let data = EndpointData {
        uid: body.uid.unwrap_or(c.uid),
        url: body.url.unwrap_or(c.url),
        description: body.description.unwrap_or(c.description),
        event_types: body.event_types.map_or(c.event_types, non_empty),
        channels: body.channels.map_or(c.channels, non_empty),
        disabled: body.disabled.unwrap_or(c.disabled),
        metadata: body.metadata.unwrap_or(c.metadata),
        throttle_rate: body.throttle_rate.map_or(c.throttle_rate, |rate| rate.map(RateLimit::get)),
        fifo: body.fifo.unwrap_or(c.fifo),
        headers: c.headers,
        request_timeout_ms: body
            .request_timeout_ms
            .map_or(c.request_timeout_ms, |t| t.map(|ms| ms.min(i64::MAX as u64) as i64)),
        filter: body.filter.unwrap_or(c.filter),
    };
    Ok(Json(state.service.update_endpoint(&app, &current, data).await?.into()))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint = find(&state, &app, &endpoint_id).await?;
    state.service.delete_endpoint(&app, &endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize)]
pub struct EndpointSecretOut {
    key: String,
}

/// What a receiver verifies with: the shared `whsec_` secret, or for an ed25519 endpoint its
/// public key `whpk_…` (the secret key `whsk_…` never leaves hookd).
fn for_receiver(stored: &str) -> String {
    EndpointSecret::parse(stored).map_or_else(|_| stored.to_owned(), |s| s.for_receiver())
}

pub async fn get_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let app = caller.application(&state, &app_id).await?;
    Ok(Json(EndpointSecretOut { key: for_receiver(&find(&state, &app, &endpoint_id).await?.secret) }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretRotateIn {
    key: Option<String>,
    grace_period_seconds: Option<u64>,
}

/// The body is optional: an empty one rotates to a generated key.
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<EndpointSecretRotateIn>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint = find(&state, &app, &endpoint_id).await?;
    let rotated =
        state.service.rotate_endpoint_secret(&endpoint, body.key.as_deref(), body.grace_period_seconds).await?;
    // Svix's Rust SDK reads the new key from the response; the others ignore the body.
    Ok(Json(EndpointSecretOut { key: for_receiver(&rotated.secret) }))
}

#[derive(Serialize, Deserialize)]
pub struct EndpointHeadersOut {
    headers: Metadata,
    sensitive: Vec<String>,
}

#[derive(Deserialize)]
pub struct EndpointHeadersIn {
    headers: Metadata,
}

pub async fn get_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint = find(&state, &app, &endpoint_id).await?;
    Ok(Json(EndpointHeadersOut { headers: endpoint.headers, sensitive: vec![] }))
}

pub async fn put_headers(
    state: State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    set_headers(state, caller, path, |_| body.headers).await
}

/// `PATCH …/headers`: Svix's `EndpointHeadersPatchIn`, where a header set to `null` is removed.
#[derive(Deserialize)]
pub struct EndpointHeadersPatchIn {
    headers: std::collections::BTreeMap<String, Option<String>>,
}

/// Merges headers; a header set to `null` (Svix's way) or to an empty value is removed.
pub async fn patch_headers(
    state: State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointHeadersPatchIn>,
) -> ApiResult<StatusCode> {
    set_headers(state, caller, path, |mut current| {
        for (k, v) in body.headers {
            match v.filter(|v| !v.is_empty()) {
                None => current.remove(&k),
                Some(v) => current.insert(k, v),
            };
        }
        current
    })
    .await
}

async fn set_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    change: impl FnOnce(Metadata) -> Metadata,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    let current = find(&state, &app, &endpoint_id).await?;
    let data = EndpointData { headers: change(current.headers.clone()), ..current.data() };
    state.service.update_endpoint(&app, &current, data).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatsOut {
    success: i64,
    pending: i64,
    sending: i64,
    fail: i64,
    canceled: i64,
    /// hookd extension: messages the endpoint's filter kept from it (no delivery), by the
    /// hour: a window counts every hour it touches.
    filtered: i64,
    /// hookd extension: of those, the ones the filter failed on.
    filter_errors: i64,
}

#[derive(Deserialize)]
pub struct StatsParams {
    since: Option<Timestamp>,
    until: Option<Timestamp>,
}

/// Counts of the endpoint's deliveries by state, of the messages created in `[since, until)`
/// when given.
pub async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<StatsParams>,
) -> ApiResult<Json<EndpointStatsOut>> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint = find(&state, &app, &endpoint_id).await?;
    if let (Some(since), Some(until)) = (params.since, params.until) {
        if until <= since {
            return Err(ApiError::validation(ValidationItem::query("until", "must be after since")));
        }
    }
    let since = params.since.map(Timestamp::millis);
    let s = state.store.endpoint_stats(&endpoint.id, since, params.until.map(Timestamp::millis)).await?;
    Ok(Json(EndpointStatsOut {
        success: s.success,
        pending: s.pending,
        sending: s.sending,
        fail: s.fail,
        canceled: s.canceled,
        filtered: s.filtered,
        filter_errors: s.filter_errors,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventExampleIn {
    event_type: String,
    #[serde(default)]
    example_index: usize,
}

/// `POST …/endpoint/{ep}/send-example`: publishes a message of `eventType` to this endpoint
/// alone, whatever it subscribes to. Its payload is the event type's example: the
/// `exampleIndex`-th of the `examples` of its schema's latest version; an event type without
/// one (or unregistered) sends `{"type": <eventType>, "example": true}`.
pub async fn send_example(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EventExampleIn>,
) -> ApiResult<(StatusCode, Json<super::messages::MessageOut>)> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint = find(&state, &app, &endpoint_id).await?;
    let asked = ExampleRequest { event_type: body.event_type, index: body.example_index };
    let stored = state.service.send_example(&app, &endpoint, asked).await?;
    Ok((StatusCode::ACCEPTED, Json(super::messages::MessageOut::new(stored, true))))
}

#[derive(Deserialize)]
pub struct RecoverIn {
    since: Timestamp,
    until: Option<Timestamp>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverOut {
    id: String,
    status: &'static str,
    task: &'static str,
    updated_at: DateTime<Utc>,
    /// hookd addition: how many failed deliveries were queued again.
    recovered: u64,
}

/// Queues again the endpoint's failed deliveries of messages created in `[since, until)`,
/// each with a fresh retry schedule. The work is one statement, done before the answer.
pub async fn recover(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RecoverIn>,
) -> ApiResult<(StatusCode, Json<RecoverOut>)> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint = find(&state, &app, &endpoint_id).await?;
    let until = body.until.map(Timestamp::millis);
    let recovered = state.service.recover_endpoint(&endpoint, body.since.millis(), until).await?;
    let task = RecoverOut {
        id: format!("qtask_{}", hookd_core::id::new_body_at(hookd_core::time::now_ms())),
        // The one status Svix's open-source schema has (and older SDKs parse); the work is
        // in fact done, which `recovered` reports.
        status: "running",
        task: "endpoint.recover",
        updated_at: Utc::now(),
        recovered,
    };
    Ok((StatusCode::ACCEPTED, Json(task)))
}
