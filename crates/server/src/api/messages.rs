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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    event_type: String,
    payload: serde_json::Value,
    event_id: Option<String>,
    channels: Option<BTreeSet<String>>,
    /// Creates the application if it does not exist yet (Svix semantics).
    application: Option<ApplicationIn>,
    /// Scheduled delivery: the first attempt is not made before this time.
    deliver_at: Option<Timestamp>,
    tags: Option<BTreeSet<String>>,
    /// Days after which the payload alone is expunged.
    payload_retention_period: Option<i64>,
    /// Hours after which the payload alone is expunged.
    payload_retention_hours: Option<i64>,
    transformations_params: Option<TransformationsParams>,
}

/// `transformationsParams`: Svix's way to publish a payload that is not JSON (its SDKs'
/// raw-payload helpers). `rawPayload` is sent as the body byte for byte, with the
/// `content-type` of `headers` (default `application/json`). Anything else is refused:
/// hookd's transformations are set per endpoint.
#[derive(Deserialize)]
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    id: MessageId,
    event_type: String,
    event_id: Option<String>,
    payload: serde_json::Value,
    channels: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deliver_at: Option<DateTime<Utc>>,
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
pub async fn expunge_content(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    state.service.expunge_message(&app, &msg_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
