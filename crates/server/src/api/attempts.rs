//! Delivery attempts, each endpoint's delivery state for a message (and each message's for
//! an endpoint), and manual resends.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use hookd_core::{ApplicationId, AttemptId, EndpointId, MessageId};
use hookd_store::{Attempt, AttemptFilter, DeliveryFilter, DeliveryStatus, Destination, Message, MessageFilter, Page};
use serde::{Deserialize, Serialize};

use super::messages::{MessageFilterQuery, MessageOut};
use super::{time, ListResponse};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ValidationItem};
use crate::extract::{ApiQuery, ListParams};
use crate::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    id: AttemptId,
    msg_id: MessageId,
    endpoint_id: EndpointId,
    url: String,
    status: i64,
    status_text: &'static str,
    response_status_code: i64,
    response: String,
    response_duration_ms: i64,
    trigger_type: i64,
    timestamp: DateTime<Utc>,
    /// Why there was no response (timeout, refused connection, SSRF guard…); a hookd addition.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The message, without its payload (`with_msg=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    msg: Option<MessageOut>,
}

impl From<Attempt> for MessageAttemptOut {
    fn from(a: Attempt) -> Self {
        Self {
            id: a.id,
            msg_id: a.msg_id,
            endpoint_id: a.endpoint_id,
            url: a.url,
            status: a.status as i64,
            status_text: a.status.text(),
            response_status_code: a.response_status_code,
            response: a.response,
            response_duration_ms: a.duration_ms,
            trigger_type: a.trigger_type as i64,
            timestamp: time(a.created_at),
            error: a.error,
            msg: None,
        }
    }
}

impl MessageAttemptOut {
    /// The attempt, canceled shown as success unless `expanded_statuses` (as Svix answers
    /// older clients).
    fn shown(a: Attempt, expanded_statuses: bool) -> Self {
        let canceled = a.status == DeliveryStatus::Canceled;
        let mut out = Self::from(a);
        if canceled && !expanded_statuses {
            out.status = DeliveryStatus::Success as i64;
            out.status_text = DeliveryStatus::Success.text();
        }
        out
    }
}

/// Svix's `MessageStatus` in a query: 0 to 4.
fn status_param(status: Option<i64>) -> ApiResult<Option<DeliveryStatus>> {
    match status {
        None => Ok(None),
        Some(code @ 0..=4) => Ok(Some(DeliveryStatus::from_code(code))),
        Some(_) => Err(ApiError::validation(ValidationItem::query(
            "status",
            "must be 0 (success), 1 (pending), 2 (fail), 3 (sending) or 4 (canceled)",
        ))),
    }
}

/// The parameters of Svix's attempt lists besides the message filter.
#[derive(Deserialize)]
pub struct AttemptListParams {
    status: Option<i64>,
    status_code_class: Option<i64>,
    with_content: Option<bool>,
    #[serde(default)]
    with_msg: bool,
    #[serde(default)]
    expanded_statuses: bool,
    /// Only on the list by message: attempts to this endpoint.
    endpoint_id: Option<String>,
}

impl AttemptListParams {
    fn filter(&self, message: MessageFilter) -> ApiResult<AttemptFilter> {
        let status_code_class = match self.status_code_class {
            None => None,
            Some(class @ (0 | 100 | 200 | 300 | 400 | 500)) => Some(class),
            Some(_) => {
                return Err(ApiError::validation(ValidationItem::query(
                    "status_code_class",
                    "must be 0 (no response), 100, 200, 300, 400 or 500",
                )))
            }
        };
        Ok(AttemptFilter { message, status: status_param(self.status)?, status_code_class })
    }

    /// The page as the parameters ask: without the response bodies (`with_content=false`),
    /// with each attempt's message (`with_msg=true`), canceled shown as success unless
    /// `expanded_statuses=true` (as Svix answers older clients; hookd records no canceled
    /// attempt today: a canceled delivery is one that is not attempted).
    async fn answer(
        &self,
        state: &AppState,
        app_id: &ApplicationId,
        page: Page<Attempt>,
    ) -> ApiResult<ListResponse<MessageAttemptOut>> {
        let with_content = self.with_content.unwrap_or(true);
        let mut messages: HashMap<MessageId, Message> = HashMap::new();
        if self.with_msg {
            let mut ids: Vec<&str> = page.data.iter().map(|a| a.msg_id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            for m in state.store.get_messages(app_id, &ids).await? {
                messages.insert(m.id.clone(), m);
            }
        }
        Ok(ListResponse::from_page(page, |a| {
            let msg = messages.get(&a.msg_id).map(|m| MessageOut::new(m.clone(), false));
            let mut out = MessageAttemptOut::shown(a, self.expanded_statuses);
            if !with_content {
                out.response = String::new();
            }
            out.msg = msg;
            out
        }))
    }
}

pub async fn list_by_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
    ApiQuery(list): ApiQuery<ListParams>,
    MessageFilterQuery(filter): MessageFilterQuery,
    ApiQuery(params): ApiQuery<AttemptListParams>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let message = state.service.message(&app, &msg_id).await?;
    let endpoint_id = match &params.endpoint_id {
        Some(ep) => Some(state.service.endpoint(&app, ep).await?.id),
        None => None,
    };
    let filter = params.filter(filter)?;
    let page =
        state.store.list_attempts_by_message(&message.id, endpoint_id.as_ref(), &filter, &list.to_query()?).await?;
    Ok(Json(params.answer(&state, &app.id, page).await?))
}

pub async fn list_by_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiQuery(list): ApiQuery<ListParams>,
    MessageFilterQuery(filter): MessageFilterQuery,
    ApiQuery(params): ApiQuery<AttemptListParams>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint_id = state.service.endpoint(&app, &endpoint_id).await?.id;
    let filter = params.filter(filter)?;
    let page = state.store.list_attempts_by_endpoint(&endpoint_id, &filter, &list.to_query()?).await?;
    Ok(Json(params.answer(&state, &app.id, page).await?))
}

/// `GET …/msg/{msg}/endpoint/{ep}/attempt`, which Svix's older SDKs still call: the attempts
/// of one message to one endpoint.
pub async fn list_by_message_and_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, endpoint_id)): Path<(String, String, String)>,
    ApiQuery(list): ApiQuery<ListParams>,
    MessageFilterQuery(filter): MessageFilterQuery,
    ApiQuery(params): ApiQuery<AttemptListParams>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let message = state.service.message(&app, &msg_id).await?;
    let endpoint_id = state.service.endpoint(&app, &endpoint_id).await?.id;
    let filter = params.filter(filter)?;
    let page =
        state.store.list_attempts_by_message(&message.id, Some(&endpoint_id), &filter, &list.to_query()?).await?;
    Ok(Json(params.answer(&state, &app.id, page).await?))
}

/// Expunges the response body stored with an attempt.
pub async fn expunge_content(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    state.service.expunge_attempt(&app, &msg_id, &attempt_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A message routed to an endpoint, with its delivery's state (Svix's `EndpointMessageOut`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointMessageOut {
    #[serde(flatten)]
    message: MessageOut,
    status: i64,
    status_text: &'static str,
    next_attempt: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
pub struct EndpointMessageParams {
    status: Option<i64>,
    /// Svix's SDKs v2+ send `false`; without it, payloads are shown.
    with_content: Option<bool>,
    /// Without it, a canceled delivery shows as success (0), as Svix answers older clients.
    #[serde(default)]
    expanded_statuses: bool,
}

/// `GET …/endpoint/{ep}/msg`: the messages routed to an endpoint, newest first, each with
/// its delivery's state.
pub async fn list_endpoint_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiQuery(list): ApiQuery<ListParams>,
    MessageFilterQuery(filter): MessageFilterQuery,
    ApiQuery(params): ApiQuery<EndpointMessageParams>,
) -> ApiResult<Json<ListResponse<EndpointMessageOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint_id = state.service.endpoint(&app, &endpoint_id).await?.id;
    let filter = DeliveryFilter { message: filter, status: status_param(params.status)? };
    let page = state.store.list_endpoint_messages(&endpoint_id, &filter, &list.to_query()?).await?;
    let with_content = params.with_content.unwrap_or(true);
    Ok(Json(ListResponse::from_page(page, |m| {
        let status = match m.status {
            DeliveryStatus::Canceled if !params.expanded_statuses => DeliveryStatus::Success,
            status => status,
        };
        EndpointMessageOut {
            message: MessageOut::new(m.message, with_content),
            status: status as i64,
            status_text: status.text(),
            next_attempt: m.next_attempt_at.map(time),
        }
    })))
}

#[derive(Deserialize)]
pub struct GetAttemptParams {
    #[serde(default)]
    expanded_statuses: bool,
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
    ApiQuery(params): ApiQuery<GetAttemptParams>,
) -> ApiResult<Json<MessageAttemptOut>> {
    let app = caller.application(&state, &app_id).await?;
    let message = state.service.message(&app, &msg_id).await?;
    let attempt = state.store.get_attempt(&message.id, &attempt_id).await?;
    Ok(Json(MessageAttemptOut::shown(attempt, params.expanded_statuses)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    id: EndpointId,
    uid: Option<String>,
    url: String,
    description: String,
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    disabled: bool,
    throttle_rate: Option<i64>,
    status: i64,
    status_text: &'static str,
    next_attempt: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Destination> for MessageEndpointOut {
    fn from(d: Destination) -> Self {
        let e = d.endpoint;
        Self {
            id: e.id,
            uid: e.uid,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            channels: e.channels,
            disabled: e.disabled,
            throttle_rate: e.throttle_rate,
            status: d.status as i64,
            status_text: d.status.text(),
            next_attempt: d.next_attempt_at.map(time),
            created_at: time(e.created_at),
            updated_at: time(e.updated_at),
        }
    }
}

pub async fn list_destinations(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
    ApiQuery(list): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<MessageEndpointOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let message = state.service.message(&app, &msg_id).await?;
    let page = state.store.list_destinations(&message.id, &list.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, MessageEndpointOut::from)))
}

/// Queues one manual attempt of a message to an endpoint (never retried); 202 at once.
pub async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, endpoint_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let app = caller.application(&state, &app_id).await?;
    state.service.resend(&app, &msg_id, &endpoint_id).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
}
