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

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "One delivery attempt.")]
pub struct MessageAttemptOut {
    /// Attempt id (atmpt_…).
    id: AttemptId,
    msg_id: MessageId,
    endpoint_id: EndpointId,
    /// The URL the attempt was sent to.
    url: String,
    #[schema(value_type = crate::openapi::schemas::MessageStatus)]
    status: i64,
    #[schema(value_type = crate::openapi::schemas::MessageStatusText)]
    status_text: &'static str,
    /// HTTP status of the response; 0 when there was none.
    response_status_code: i64,
    /// The start of the response body.
    response: String,
    /// How long the attempt took, in milliseconds.
    response_duration_ms: i64,
    #[schema(value_type = crate::openapi::schemas::MessageAttemptTriggerType)]
    trigger_type: i64,
    /// When the attempt was made.
    timestamp: DateTime<Utc>,
    /// hookd addition, present only when there was no response: why (timeout, refused connection, DNS failure, SSRF guard…).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The message, without its payload (with_msg=true).
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

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
    operation_id = "listAttemptsByMessage",
    tag = "attempt",
    summary = "List a message's attempts",
    description = "Newest first. The filters combine: an attempt is listed when it passes all of them (before/after are the attempt's time; channel, tag and event_types are its message's).",
    params(crate::openapi::params::AppId, crate::openapi::params::MsgId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::EndpointIdFilter, crate::openapi::params::Status, crate::openapi::params::StatusCodeClass, crate::openapi::params::Channel, crate::openapi::params::Tag, crate::openapi::params::Before, crate::openapi::params::After, crate::openapi::params::EventTypes, crate::openapi::params::AttemptWithContent, crate::openapi::params::ExpandedStatuses),
    responses(
        (status = 200, description = "A page of attempts.", body = ListResponse<MessageAttemptOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
    operation_id = "listAttemptsByEndpoint",
    tag = "attempt",
    summary = "List an endpoint's attempts",
    description = "Newest first. The filters combine: an attempt is listed when it passes all of them (before/after are the attempt's time; channel, tag and event_types are its message's).",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Status, crate::openapi::params::StatusCodeClass, crate::openapi::params::Channel, crate::openapi::params::Tag, crate::openapi::params::Before, crate::openapi::params::After, crate::openapi::params::EventTypes, crate::openapi::params::AttemptWithContent, crate::openapi::params::ExpandedStatuses, crate::openapi::params::WithMsg),
    responses(
        (status = 200, description = "A page of attempts.", body = ListResponse<MessageAttemptOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/attempt",
    operation_id = "listAttemptsByMessageAndEndpoint",
    tag = "attempt",
    summary = "List a message's attempts to one endpoint (older form)",
    description = "The attempts of one message to one endpoint, newest first, as Svix's older SDKs ask for them.",
    params(crate::openapi::params::AppId, crate::openapi::params::MsgId, crate::openapi::params::EndpointId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Status, crate::openapi::params::StatusCodeClass, crate::openapi::params::Channel, crate::openapi::params::Tag, crate::openapi::params::Before, crate::openapi::params::After, crate::openapi::params::EventTypes, crate::openapi::params::AttemptWithContent, crate::openapi::params::ExpandedStatuses),
    responses(
        (status = 200, description = "A page of attempts.", body = ListResponse<MessageAttemptOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
    operation_id = "expungeAttemptContent",
    tag = "attempt",
    summary = "Expunge an attempt's response body",
    description = "The attempt stays; its response reads as \"\".",
    params(crate::openapi::params::AppId, crate::openapi::params::MsgId, crate::openapi::params::AttemptId),
    responses(
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
        (status = 204, description = "Expunged."),
    ),
)]
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
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A message routed to an endpoint, with its delivery's state.")]
pub struct EndpointMessageOut {
    #[serde(flatten)]
    message: MessageOut,
    #[schema(value_type = crate::openapi::schemas::MessageStatus)]
    status: i64,
    #[schema(value_type = crate::openapi::schemas::MessageStatusText)]
    status_text: &'static str,
    /// When the delivery is next attempted, if it is waiting.
    #[schema(required = true)]
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
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
    operation_id = "listEndpointMessages",
    tag = "endpoint",
    summary = "List an endpoint's messages",
    description = "The messages routed to this endpoint, newest first, each with its delivery's state (status, next attempt). The filters combine.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Channel, crate::openapi::params::Tag, crate::openapi::params::Status, crate::openapi::params::Before, crate::openapi::params::After, crate::openapi::params::WithContent, crate::openapi::params::ExpandedStatuses, crate::openapi::params::EventTypes),
    responses(
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
        (status = 200, description = "A page of messages with their delivery's state.", body = ListResponse<EndpointMessageOut>),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
    operation_id = "getAttempt",
    tag = "attempt",
    summary = "Get an attempt",
    params(crate::openapi::params::AppId, crate::openapi::params::MsgId, crate::openapi::params::AttemptId, crate::openapi::params::ExpandedStatuses),
    responses(
        (status = 200, description = "The attempt.", body = MessageAttemptOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
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

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "An endpoint a message is routed to, with the state of that delivery.")]
pub struct MessageEndpointOut {
    id: EndpointId,
    #[schema(required = true)]
    uid: Option<String>,
    url: String,
    description: String,
    #[schema(required = true)]
    event_types: Option<Vec<String>>,
    #[schema(required = true)]
    channels: Option<Vec<String>>,
    disabled: bool,
    #[schema(required = true)]
    throttle_rate: Option<i64>,
    #[schema(value_type = crate::openapi::schemas::MessageStatus)]
    status: i64,
    #[schema(value_type = crate::openapi::schemas::MessageStatusText)]
    status_text: &'static str,
    /// When the next attempt is due; null when none is planned.
    #[schema(required = true)]
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

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
    operation_id = "listAttemptedDestinations",
    tag = "attempt",
    summary = "List a message's destinations",
    description = "The endpoints the message is routed to, each with the state of its delivery.",
    params(crate::openapi::params::AppId, crate::openapi::params::MsgId, crate::openapi::params::Limit, crate::openapi::params::Iterator),
    responses(
        (status = 200, description = "A page of destinations.", body = ListResponse<MessageEndpointOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
    operation_id = "resendMessage",
    tag = "attempt",
    summary = "Resend a message to an endpoint",
    description = "Queues one manual attempt (never retried) and answers at once.",
    params(crate::openapi::params::AppId, crate::openapi::params::MsgId, crate::openapi::params::EndpointId, crate::openapi::params::IdempotencyKey),
    responses(
        (status = 202, description = "The attempt was queued.", body = crate::openapi::EmptyResponse),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, endpoint_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let app = caller.application(&state, &app_id).await?;
    state.service.resend(&app, &msg_id, &endpoint_id).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
}
