//! `/api/v1/app/{app}/endpoint`: where an application's webhooks go, and their secrets.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use hookd_core::operational::{self, EndpointRef, OperationalEvent};
use hookd_core::signing::EndpointSecret;
use hookd_core::{Channel, EndpointId, EventTypeName, Uid};
use hookd_store::{Application, Endpoint, EndpointData, Metadata};
use serde::{Deserialize, Serialize};

use super::{nullable, time, ListResponse, Problems, RateLimit, Timestamp};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ValidationItem};
use crate::extract::{ApiJson, ApiQuery, ListParams};
use crate::AppState;

const MAX_CHANNELS: usize = 10;

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
    id: String,
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

/// Checks an endpoint's fields, including that its event types exist: in the catalogue, or,
/// for an endpoint of the operational-webhook application, among the operational events.
async fn validate(state: &AppState, app: &Application, data: &EndpointData) -> ApiResult<()> {
    let mut p = Problems::default();
    check_url(&mut p, "url", &data.url);
    if let Some(uid) = &data.uid {
        if p.name("uid", Uid::parse(uid)).is_some() && EndpointId::looks_like(uid) {
            p.add("uid", "must not look like an endpoint id (ep_…)");
        }
    }
    if let Some(channels) = &data.channels {
        if channels.len() > MAX_CHANNELS {
            p.add("channels", format!("at most {MAX_CHANNELS} channels"));
        }
        p.names("channels", channels, Channel::parse);
    }
    check_headers(&mut p, "headers", &data.headers);
    if let Some(ms) = data.request_timeout_ms {
        let most = state.config.request_timeout.as_millis() as i64;
        if !(100..=most).contains(&ms) {
            p.add("requestTimeoutMs", format!("must be between 100 and {most} (the server's --request-timeout)"));
        }
    }
    if let Some(filter) = &data.filter {
        if let Err(e) = hookd_core::filter::Filter::parse(filter) {
            p.add("filter", e.to_string());
        }
    }
    if let Some(types) = &data.event_types {
        let before = p.0.len();
        p.names("eventTypes", types, EventTypeName::parse);
        if p.0.len() == before && app.uid.as_deref() == Some(operational::APP_UID) {
            for (i, t) in types.iter().enumerate() {
                if !operational::EVENT_TYPES.contains(&t.as_str()) {
                    let known = operational::EVENT_TYPES.join(", ");
                    p.add(&format!("eventTypes.{i}"), format!("unknown operational event type '{t}' (known: {known})"));
                }
            }
        } else if p.0.len() == before {
            let known = state.store.existing_event_types(types).await?;
            for (i, t) in types.iter().enumerate() {
                if !known.contains(t) {
                    p.add(
                        &format!("eventTypes.{i}"),
                        format!("unknown event type '{t}' (create it first with POST /api/v1/event-type)"),
                    );
                }
            }
        }
    }
    p.finish()
}

/// A URL hookd sends to: http or https, with a host.
pub(crate) fn check_url(p: &mut Problems, field: &str, url: &str) {
    if let Err(why) = hookd_core::net::parse_destination_url(url) {
        p.add(field, why);
    }
}

/// Headers the endpoint adds to each delivery: any header hookd may send, except those it
/// sets itself (`hookd_http::check_delivery_header`).
pub(crate) fn check_headers(p: &mut Problems, field: &str, headers: &Metadata) {
    for (name, value) in headers {
        if let Err(why) = hookd_http::check_delivery_header(name, value) {
            p.add(&format!("{field}.{name}"), why);
        }
    }
}

fn parse_secret(secret: Option<&str>) -> ApiResult<EndpointSecret> {
    match secret {
        None => Ok(EndpointSecret::generate()),
        Some(s) => EndpointSecret::parse(s)
            .map_err(|e| ApiError::validation(crate::error::ValidationItem::body("secret", e.to_string()))),
    }
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

async fn find(state: &AppState, app: &Application, endpoint_id: &str) -> ApiResult<Endpoint> {
    Ok(state.store.get_endpoint(&app.id, endpoint_id).await?)
}

async fn insert(
    state: &AppState,
    app: &Application,
    data: EndpointData,
    secret: Option<String>,
) -> ApiResult<Endpoint> {
    validate(state, app, &data).await?;
    let secret = parse_secret(secret.as_deref())?;
    let created =
        state.store.create_endpoint(&app.id, EndpointId::generate().as_str(), &data, &secret.expose()).await?;
    state.emit(OperationalEvent::EndpointCreated(about(app, &created))).await;
    Ok(created)
}

/// The operational-webhook reference to an endpoint.
fn about(app: &Application, endpoint: &Endpoint) -> EndpointRef {
    EndpointRef {
        app_id: app.id.clone(),
        app_uid: app.uid.clone(),
        endpoint_id: endpoint.id.clone(),
        endpoint_uid: endpoint.uid.clone(),
    }
}

/// Saves new fields; an endpoint that comes back from disabled gets its parked deliveries.
async fn save(state: &AppState, app: &Application, current: &Endpoint, data: EndpointData) -> ApiResult<Endpoint> {
    validate(state, app, &data).await?;
    let updated = state.store.update_endpoint(&current.id, &data).await?;
    state.emit(OperationalEvent::EndpointUpdated(about(app, &updated))).await;
    if current.disabled && !updated.disabled {
        state.store.unpark_endpoint(&updated.id).await?;
    }
    Ok(updated)
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
    Ok((StatusCode::CREATED, Json(insert(&state, &app, data, secret).await?.into())))
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
    let (mut data, secret) = body.into_data();
    match find(&state, &app, &endpoint_id).await {
        Ok(current) => {
            data.uid = data.uid.or(current.uid.clone());
            Ok((StatusCode::OK, Json(save(&state, &app, &current, data).await?.into())))
        }
        Err(ApiError::NotFound(_)) => {
            if data.uid.is_none() && !EndpointId::looks_like(&endpoint_id) {
                data.uid = Some(endpoint_id);
            }
            Ok((StatusCode::CREATED, Json(insert(&state, &app, data, secret).await?.into())))
        }
        Err(e) => Err(e),
    }
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
    Ok(Json(save(&state, &app, &current, data).await?.into()))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint = find(&state, &app, &endpoint_id).await?;
    state.store.delete_endpoint(&endpoint.id).await?;
    state.emit(OperationalEvent::EndpointDeleted(about(&app, &endpoint))).await;
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

/// Longest grace period a rotated secret may keep signing (Svix's limit: 7 days).
const MAX_GRACE_SECS: u64 = 7 * 24 * 3600;

pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<EndpointSecretOut>> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint = find(&state, &app, &endpoint_id).await?;
    // The body is optional: an empty one rotates to a generated key.
    let body: EndpointSecretRotateIn =
        if body.iter().all(u8::is_ascii_whitespace) { Default::default() } else { crate::extract::parse_json(&body)? };
    let grace = body.grace_period_seconds.unwrap_or(state.config.default_rotation_grace_secs);
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::validation(crate::error::ValidationItem::body(
            "gracePeriodSeconds",
            format!("must be at most {MAX_GRACE_SECS} (7 days)"),
        )));
    }
    // Without a key, a new one of the same kind: an ed25519 endpoint stays one.
    let secret = match body.key.as_deref() {
        None if EndpointSecret::parse(&endpoint.secret).is_ok_and(|s| s.is_asymmetric()) => {
            EndpointSecret::generate_ed25519()
        }
        key => parse_secret(key)?,
    };
    let rotated = state.store.rotate_endpoint_secret(&endpoint.id, &secret.expose(), grace as i64 * 1000).await?;
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
    save(&state, &app, &current, data).await?;
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
    EventTypeName::parse(&body.event_type)
        .map_err(|e| ApiError::validation(ValidationItem::body("eventType", e.to_string())))?;
    let examples = match state.store.get_event_type(&body.event_type).await {
        Ok(t) => latest_examples(t.schemas.as_ref()),
        Err(hookd_store::StoreError::NotFound(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let payload = if examples.is_empty() {
        serde_json::json!({"type": body.event_type, "example": true})
    } else {
        match examples.get(body.example_index) {
            Some(example) if example.is_object() => example.clone(),
            Some(_) => {
                return Err(ApiError::validation(ValidationItem::body(
                    "exampleIndex",
                    "that example is not a JSON object, which a payload must be",
                )))
            }
            None => {
                return Err(ApiError::validation(ValidationItem::body(
                    "exampleIndex",
                    format!("the event type's schema has {} examples", examples.len()),
                )))
            }
        }
    };
    if endpoint.disabled {
        return Err(ApiError::Conflict("the endpoint is disabled: enable it to send it an example".into()));
    }
    let now = hookd_core::time::now_ms();
    let message = hookd_store::NewMessage {
        id: hookd_core::MessageId::generate_at(now).into_string(),
        event_type: body.event_type,
        payload: payload.to_string(),
        created_at: now,
        deliver_at: now,
        to_endpoint: Some(endpoint.id.clone()),
        ..Default::default()
    };
    let stored = state.store.create_message(&app.id, &message).await?;
    state.metrics.message_published();
    Ok((StatusCode::ACCEPTED, Json(super::messages::MessageOut::new(stored, true))))
}

/// The `examples` of the latest version of an event type's schemas (versions are numbered;
/// the largest number is the latest).
fn latest_examples(schemas: Option<&serde_json::Value>) -> Vec<serde_json::Value> {
    let Some(versions) = schemas.and_then(|s| s.as_object()) else {
        return Vec::new();
    };
    let latest = versions.iter().max_by_key(|(version, _)| version.parse::<u64>().unwrap_or(0));
    latest.and_then(|(_, schema)| schema["examples"].as_array().cloned()).unwrap_or_default()
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
    if body.until.is_some_and(|until| until <= body.since) {
        return Err(ApiError::validation(ValidationItem::body("until", "must be after since")));
    }
    let since = body.since.millis();
    let recovered = state.store.recover_endpoint(&endpoint.id, since, body.until.map(Timestamp::millis)).await?;
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
