//! `/api/v1/app/{app}/msg`: publishing and reading messages.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use hookd_core::names::EventId;
use hookd_core::time::now_ms;
use hookd_core::{Channel, EventTypeName, MessageId, Tag};
use hookd_store::{Application, Message, MessageFilter, NewMessage, PublishKey};
use serde::{Deserialize, Serialize};

use super::applications::ApplicationIn;
use super::{time, ListResponse, Problems, Timestamp};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ValidationItem};
use crate::extract::{ApiJson, ApiQuery, ListParams};
use crate::idempotency::PublishOnce;
use crate::service::Published;
use crate::AppState;

/// Svix's limits (its SDKs' schema): channels and tags per message, payload retention.
const MAX_MESSAGE_CHANNELS: usize = 10;
const MAX_TAGS: usize = 5;
const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=90;
const RETENTION_HOURS: std::ops::RangeInclusive<i64> = 1..=2160;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A message to publish.")]
pub struct MessageIn {
    /// The event type name (1 to 256 letters, digits, '-', '_' and '.'). It need not be registered with /api/v1/event-type.
    #[schema(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    event_type: String,
    /// The JSON object delivered to endpoints.
    payload: serde_json::Value,
    /// Caller-chosen id, unique within the application (a repeat gets 409); usable in paths instead of the message id.
    #[schema(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    event_id: Option<String>,
    /// Channels of the message: at most 10 distinct channels (repeats are merged before counting), each 1 to 128 letters, digits, '-', '_', '.', ':' and '+'. Endpoints with a channel filter only get messages sharing a channel.
    #[schema(max_items = 10)]
    channels: Option<BTreeSet<String>>,
    /// Creates the application when the path's app_id matches none (admin token only). The path value becomes its uid unless this object has one, and must then be a valid uid (422 otherwise); a path that looks like an application id (app_…) cannot be chosen as an id and stays a 404.
    application: Option<ApplicationIn>,
    /// Scheduled delivery: no attempt is made before this time. A past time means now. An RFC 3339 date-time such as 2026-01-31T12:00:00Z (a space may stand for the T).
    #[schema(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    deliver_at: Option<Timestamp>,
    /// At most 5 distinct tags, each 1 to 128 letters, digits, '-', '_', '.', '/', '\' and '#'. Messages, their attempts and an endpoint's messages can be listed by tag.
    #[schema(max_items = 5)]
    tags: Option<BTreeSet<String>>,
    /// Days after which the payload alone is expunged (the message, deliveries and attempts stay; see DELETE …/msg/{msg_id}/content). Without it (or payloadRetentionHours) the payload is kept as long as the message. Mutually exclusive with payloadRetentionHours. Expiry is checked every minute.
    #[schema(minimum = 1, maximum = 90)]
    payload_retention_period: Option<i64>,
    /// Hours after which the payload alone is expunged. Mutually exclusive with payloadRetentionPeriod.
    #[schema(minimum = 1, maximum = 2160)]
    payload_retention_hours: Option<i64>,
    /// Svix's raw-payload form: rawPayload (a string) is sent as the body byte for byte, and signed as such, with the content-type of headers (default application/json); payload must then be {}. Any other key, or a header other than content-type, is refused (422).
    transformations_params: Option<TransformationsParams>,
}

/// `transformationsParams`: Svix's way to publish a payload that is not JSON (its SDKs'
/// raw-payload helpers). `rawPayload` is sent as the body byte for byte, with the
/// `content-type` of `headers` (default `application/json`). Anything else is refused:
/// hookd's transformations are set per endpoint.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformationsParams {
    raw_payload: Option<String>,
    headers: Option<std::collections::BTreeMap<String, String>>,
}

impl TransformationsParams {
    /// The raw payload and its content type, if any.
    fn raw(&self, p: &mut Problems) -> Option<(String, String)> {
        let mut content_type = None;
        for (name, value) in self.headers.iter().flatten() {
            if name.eq_ignore_ascii_case("content-type") {
                match axum::http::HeaderValue::try_from(value.as_str()) {
                    Ok(_) => content_type = Some(value.clone()),
                    Err(_) => p.add("transformationsParams.headers.content-type", "must be a valid header value"),
                }
            } else {
                p.add(
                    &format!("transformationsParams.headers.{name}"),
                    "only content-type is honoured here; set other headers on the endpoint",
                );
            }
        }
        match &self.raw_payload {
            Some(raw) => Some((raw.clone(), content_type.unwrap_or_else(|| "application/json".to_owned()))),
            None => {
                if self.headers.is_some() {
                    p.add("transformationsParams.headers", "is only honoured with transformationsParams.rawPayload");
                }
                None
            }
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A published message.")]
pub struct MessageOut {
    /// Message id (msg_…).
    id: MessageId,
    event_type: String,
    #[schema(required = true)]
    event_id: Option<String>,
    /// The payload; {} when with_content=false. Shown as {} when with_content=false, when the payload was expunged, and for a raw payload (transformationsParams.rawPayload).
    payload: serde_json::Value,
    #[schema(required = true)]
    channels: Option<Vec<String>>,
    /// At most 5 distinct tags, each 1 to 128 letters, digits, '-', '_', '.', '/', '\' and '#'. Messages, their attempts and an endpoint's messages can be listed by tag.
    #[schema(max_items = 5)]
    #[schema(required = true)]
    tags: Option<Vec<String>>,
    /// When a scheduled message (published with deliverAt) is delivered; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    deliver_at: Option<DateTime<Utc>>,
    /// When the message was created.
    timestamp: DateTime<Utc>,
}

impl MessageOut {
    /// `with_content: false` leaves the payload out (as `{}`), as Svix does; so do an
    /// expunged payload and a raw one (it is not a JSON object).
    pub fn new(m: Message, with_content: bool) -> Self {
        let shown = with_content && m.expunged_at.is_none() && m.content_type.is_none();
        let payload = if shown { serde_json::from_str(&m.payload).unwrap_or_default() } else { serde_json::json!({}) };
        Self {
            id: m.id,
            event_type: m.event_type,
            event_id: m.event_id,
            payload,
            channels: m.channels,
            tags: m.tags,
            deliver_at: m.deliver_at.map(time),
            timestamp: time(m.created_at),
        }
    }
}

#[derive(Deserialize)]
pub struct ContentParams {
    with_content: Option<bool>,
}

/// What a publish stores beyond the JSON fields: the payload as sent and its content type,
/// and when the payload expires.
struct Body {
    payload: String,
    content_type: Option<String>,
    payload_expires_at: Option<i64>,
}

impl MessageIn {
    fn validate(&self, now: i64) -> ApiResult<Body> {
        let mut p = Problems::default();
        p.name("eventType", EventTypeName::parse(&self.event_type));
        if !self.payload.is_object() {
            p.add("payload", "must be a JSON object");
        }
        if let Some(id) = &self.event_id {
            p.name("eventId", EventId::parse(id));
        }
        if let Some(channels) = &self.channels {
            if channels.len() > MAX_MESSAGE_CHANNELS {
                p.add("channels", format!("at most {MAX_MESSAGE_CHANNELS} channels"));
            }
            p.names("channels", &channels.iter().cloned().collect::<Vec<_>>(), Channel::parse);
        }
        if let Some(tags) = &self.tags {
            if tags.len() > MAX_TAGS {
                p.add("tags", format!("at most {MAX_TAGS} tags"));
            }
            p.names("tags", &tags.iter().cloned().collect::<Vec<_>>(), Tag::parse);
        }
        let kept = match (self.payload_retention_period, self.payload_retention_hours) {
            (Some(_), Some(_)) => {
                p.add("payloadRetentionHours", "is mutually exclusive with payloadRetentionPeriod");
                None
            }
            (Some(days), None) if !RETENTION_DAYS.contains(&days) => {
                p.add("payloadRetentionPeriod", "must be between 1 and 90 days");
                None
            }
            (None, Some(hours)) if !RETENTION_HOURS.contains(&hours) => {
                p.add("payloadRetentionHours", "must be between 1 and 2160 hours");
                None
            }
            (Some(days), None) => Some(days * 24),
            (None, Some(hours)) => Some(hours),
            (None, None) => None,
        };
        let raw = self.transformations_params.as_ref().and_then(|t| t.raw(&mut p));
        if raw.is_some() && self.payload.as_object().is_some_and(|o| !o.is_empty()) {
            p.add("payload", "must be {} when transformationsParams.rawPayload is given");
        }
        p.finish()?;
        let (payload, content_type) = match raw {
            Some((raw, content_type)) => (raw, Some(content_type)),
            None => (self.payload.to_string(), None),
        };
        Ok(Body { payload, content_type, payload_expires_at: kept.map(|hours| now + hours * 3_600_000) })
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg",
    operation_id = "createMessage",
    tag = "message",
    summary = "Publish a message",
    description = "Stores the message and queues a delivery to every enabled endpoint whose event type and channel filters match. With an `application` object in the body, a missing application is created first (admin token only).",
    params(crate::openapi::params::AppId, crate::openapi::params::WithContent, crate::openapi::params::IdempotencyKey),
    request_body = MessageIn,
    responses(
        (status = 202, description = "The message was accepted.", body = MessageOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    ApiQuery(params): ApiQuery<ContentParams>,
    once: Option<Extension<PublishOnce>>,
    ApiJson(body): ApiJson<MessageIn>,
) -> ApiResult<Response> {
    let now = now_ms();
    let stored = body.validate(now)?;
    let app = match (caller.application_to_publish(&state, &app_id).await, body.application) {
        (Err(ApiError::NotFound(_)), Some(new)) => {
            caller.require_admin()?;
            state.service.create_application_at(&app_id, new.into_data()).await?
        }
        (found, _) => found?,
    };
    let message = NewMessage {
        id: MessageId::generate_at(now),
        event_type: body.event_type,
        event_id: body.event_id,
        payload: stored.payload,
        channels: body.channels.filter(|c| !c.is_empty()).map(|c| c.into_iter().collect()),
        tags: body.tags.filter(|t| !t.is_empty()).map(|t| t.into_iter().collect()),
        content_type: stored.content_type,
        payload_expires_at: stored.payload_expires_at,
        created_at: now,
        deliver_at: body.deliver_at.map_or(now, |t| t.millis().max(now)),
        to_endpoint: None,
        request: None,
    };
    // The answer is known before the commit, so an idempotency key is stored with it there:
    // the answer less its payload, which the message row holds already (a repeat reads it
    // back, see `repeated`), so that a keyed publish does not write its payload twice.
    let with_content = params.with_content.unwrap_or(true);
    let out = MessageOut::new(message.stored(&app.id), with_content);
    let body = serde_json::to_string(&out).expect("a message serializes");
    let key = once.map(|Extension(once)| PublishKey {
        scope: once.scope,
        key: once.key,
        status_code: StatusCode::ACCEPTED.as_u16(),
        body: serde_json::to_string(&MessageOut { payload: serde_json::json!({}), ..out })
            .expect("a message serializes"),
    });
    match state.service.publish(&app, &message, key).await? {
        Published::Created(_) => Ok(crate::idempotency::replay(StatusCode::ACCEPTED.as_u16(), body)),
        Published::Repeated { status_code, body } => {
            Ok(crate::idempotency::replay(status_code, repeated(&state, &app, body, with_content).await?))
        }
    }
}

/// The answer to a repeated keyed publish: the first answer, kept without its payload, with
/// the payload read back from the message. (A message gone meanwhile, past its retention,
/// is answered as kept.)
async fn repeated(state: &AppState, app: &Application, kept: String, with_content: bool) -> ApiResult<String> {
    let Some(id) = serde_json::from_str::<serde_json::Value>(&kept)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
        .filter(|_| with_content)
    else {
        return Ok(kept);
    };
    match state.service.message(app, &id).await {
        Ok(message) => Ok(serde_json::to_string(&MessageOut::new(message, true)).expect("a message serializes")),
        Err(crate::service::ServiceError::Store(hookd_store::StoreError::NotFound(_))) => Ok(kept),
        Err(e) => Err(e.into()),
    }
}

/// What a message must be to be listed: Svix's `channel`, `tag`, `before`, `after` and
/// `event_types` (the times are of what the list holds: messages, or attempts).
#[derive(Deserialize)]
pub struct MessageFilterParams {
    channel: Option<String>,
    tag: Option<String>,
    before: Option<Timestamp>,
    after: Option<Timestamp>,
}

/// The message filter of a list's query (`MessageFilterParams` and `event_types`), checked.
pub struct MessageFilterQuery(pub MessageFilter);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for MessageFilterQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> ApiResult<Self> {
        let ApiQuery(params) = ApiQuery::<MessageFilterParams>::from_request_parts(parts, state).await?;
        params.filter(parts.uri.query()).map(Self)
    }
}

impl MessageFilterParams {
    /// The filter, with the `event_types` of the raw query, each value checked.
    fn filter(self, query: Option<&str>) -> ApiResult<MessageFilter> {
        let mut problems = Vec::new();
        if let Some(c) = &self.channel {
            if let Err(e) = Channel::parse(c) {
                problems.push(ValidationItem::query("channel", e.to_string()));
            }
        }
        if let Some(t) = &self.tag {
            if let Err(e) = Tag::parse(t) {
                problems.push(ValidationItem::query("tag", e.to_string()));
            }
        }
        let event_types = event_types_filter(query);
        for t in event_types.iter().flatten() {
            if let Err(e) = EventTypeName::parse(t) {
                problems.push(ValidationItem::query("event_types", format!("'{t}' {e}")));
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::Validation(problems));
        }
        Ok(MessageFilter {
            event_types,
            channel: self.channel,
            tag: self.tag,
            before: self.before.map(Timestamp::millis),
            after: self.after.map(Timestamp::millis),
        })
    }
}

/// The `event_types` filter, comma-separated (`event_types=a,b`, as the Rust SDK sends it) or
/// repeated (`event_types=a&event_types=b`), or both; `None` without one.
fn event_types_filter(query: Option<&str>) -> Option<Vec<String>> {
    let values: Vec<String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == "event_types")
        .map(|(_, value)| value.into_owned())
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(values.iter().flat_map(|v| v.split(',')).filter(|t| !t.is_empty()).map(str::to_owned).collect())
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg",
    operation_id = "listMessages",
    tag = "message",
    summary = "List messages",
    description = "Newest first, with optional filters.",
    params(crate::openapi::params::AppId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Channel, crate::openapi::params::Tag, crate::openapi::params::Before, crate::openapi::params::After, crate::openapi::params::EventTypes, crate::openapi::params::WithContent),
    responses(
        (status = 200, description = "A page of messages.", body = ListResponse<MessageOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    ApiQuery(list): ApiQuery<ListParams>,
    MessageFilterQuery(filter): MessageFilterQuery,
    ApiQuery(params): ApiQuery<ContentParams>,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let page = state.store.list_messages(&app.id, &filter, &list.to_query()?).await?;
    let with_content = params.with_content.unwrap_or(true);
    Ok(Json(ListResponse::from_page(page, |m| MessageOut::new(m, with_content))))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}",
    operation_id = "getMessage",
    tag = "message",
    summary = "Get a message",
    params(crate::openapi::params::AppId, crate::openapi::params::MsgId, crate::openapi::params::WithContent),
    responses(
        (status = 200, description = "The message.", body = MessageOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ContentParams>,
) -> ApiResult<Json<MessageOut>> {
    let app = caller.application(&state, &app_id).await?;
    let message = state.service.message(&app, &msg_id).await?;
    Ok(Json(MessageOut::new(message, params.with_content.unwrap_or(true))))
}

/// Expunges a message's payload: the message, its deliveries and attempts stay, and reads
/// show the payload as `{}`. Deliveries still pending are canceled (status 4), and the message
/// can no longer be resent; an attempt already under way completes.
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/content",
    operation_id = "expungeMessageContent",
    tag = "message",
    summary = "Expunge a message's payload",
    description = "The message, its deliveries and attempts stay; reads show its payload as {}. Its deliveries still pending are canceled (status 4) and it can no longer be resent (409); an attempt already under way completes.",
    params(crate::openapi::params::AppId, crate::openapi::params::MsgId),
    responses(
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
        (status = 204, description = "Expunged (also when it already was)."),
    ),
)]
pub async fn expunge_content(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    state.service.expunge_message(&app, &msg_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
