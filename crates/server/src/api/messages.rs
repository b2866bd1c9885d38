//! `/api/v1/app/{app}/msg`: publishing and reading messages.

use std::collections::BTreeSet;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use hookd_core::names::EventId;
use hookd_core::time::now_ms;
use hookd_core::{Channel, EventTypeName, MessageId};
use hookd_store::{IdempotentResponse, Message, MessageFilter, NewMessage, Publish, PublishKey};
use serde::{Deserialize, Serialize};

use super::applications::ApplicationIn;
use super::{time, ListResponse, Problems, Timestamp};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ValidationItem};
use crate::extract::{ApiJson, ApiQuery, ListParams};
use crate::idempotency::PublishOnce;
use crate::AppState;

const MAX_MESSAGE_CHANNELS: usize = 5;

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
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    id: String,
    event_type: String,
    event_id: Option<String>,
    payload: serde_json::Value,
    channels: Option<Vec<String>>,
    timestamp: DateTime<Utc>,
}

impl MessageOut {
    /// `with_content: false` leaves the payload out (as `{}`), as Svix does.
    pub fn new(m: Message, with_content: bool) -> Self {
        let payload =
            if with_content { serde_json::from_str(&m.payload).unwrap_or_default() } else { serde_json::json!({}) };
        Self {
            id: m.id,
            event_type: m.event_type,
            event_id: m.event_id,
            payload,
            channels: m.channels,
            timestamp: time(m.created_at),
        }
    }
}

#[derive(Deserialize)]
pub struct ContentParams {
    with_content: Option<bool>,
}

impl MessageIn {
    fn validate(&self) -> ApiResult<()> {
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
        p.finish()
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
    body.validate()?;
    let app = match (caller.application_to_publish(&state, &app_id).await, body.application) {
        (Err(ApiError::NotFound(_)), Some(new)) => {
            caller.require_admin()?;
            super::applications::create_at_path(&state, &app_id, new).await?
        }
        (found, _) => found?,
    };
    let now = now_ms();
    let message = NewMessage {
        id: MessageId::generate_at(now).into_string(),
        event_type: body.event_type,
        event_id: body.event_id,
        payload: body.payload.to_string(),
        channels: body.channels.filter(|c| !c.is_empty()).map(|c| c.into_iter().collect()),
        created_at: now,
        deliver_at: body.deliver_at.map_or(now, |t| t.millis().max(now)),
    };
    // The answer is known before the commit, so an idempotency key is stored with it there;
    // it is serialized once, for the key and the response alike.
    let out = MessageOut::new(message.stored(&app.id), params.with_content.unwrap_or(true));
    let body = serde_json::to_string(&out).expect("a message serializes");
    let key = once.map(|Extension(once)| PublishKey {
        scope: once.scope,
        key: once.key,
        status_code: StatusCode::ACCEPTED.as_u16(),
        body: body.clone(),
    });
    match state.store.publish(&app.id, &message, key).await? {
        Publish::Created(stored) => {
            crate::failpoint("publish-committed");
            state.metrics.message_published();
            tracing::debug!(msg_id = %stored.id, app_id = %app.id, "message accepted");
            Ok(crate::idempotency::replay(StatusCode::ACCEPTED.as_u16(), body))
        }
        Publish::Repeated(IdempotentResponse::Done { status_code, body }) => {
            Ok(crate::idempotency::replay(status_code, body))
        }
        Publish::Repeated(IdempotentResponse::InProgress) => {
            Err(ApiError::Conflict("a request with this idempotency-key is still being processed".into()))
        }
    }
}

#[derive(Deserialize)]
pub struct ListMessageParams {
    channel: Option<String>,
    before: Option<Timestamp>,
    after: Option<Timestamp>,
    with_content: Option<bool>,
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
    RawQuery(query): RawQuery,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(params): ApiQuery<ListMessageParams>,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let filter = MessageFilter {
        event_types: event_types_filter(query.as_deref()),
        channel: params.channel,
        before: params.before.map(Timestamp::millis),
        after: params.after.map(Timestamp::millis),
    };
    if let Some(c) = &filter.channel {
        Channel::parse(c).map_err(|e| ApiError::validation(ValidationItem::query("channel", e.to_string())))?;
    }
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
    let message = find(&state, &app.id, &msg_id).await?;
    Ok(Json(MessageOut::new(message, params.with_content.unwrap_or(true))))
}

/// A message of an application, by id or eventId.
pub async fn find(state: &AppState, app_id: &str, msg_id: &str) -> ApiResult<Message> {
    Ok(state.store.get_message(app_id, msg_id).await?)
}
