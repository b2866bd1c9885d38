//! Delivery attempts, each endpoint's delivery state for a message, and manual resends.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use hookd_store::{Attempt, Destination};
use serde::{Deserialize, Serialize};

use super::{time, ListResponse};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiQuery, ListParams};
use crate::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    id: String,
    msg_id: String,
    endpoint_id: String,
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
        }
    }
}

#[derive(Deserialize)]
pub struct ByMessageParams {
    endpoint_id: Option<String>,
}

pub async fn list_by_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(params): ApiQuery<ByMessageParams>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let message = super::messages::find(&state, &app.id, &msg_id).await?;
    let endpoint_id = match &params.endpoint_id {
        Some(ep) => Some(endpoint(&state, &app.id, ep).await?),
        None => None,
    };
    let page = state.store.list_attempts_by_message(&message.id, endpoint_id.as_deref(), &list.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, MessageAttemptOut::from)))
}

pub async fn list_by_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiQuery(list): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = caller.application(&state, &app_id).await?;
    let endpoint_id = endpoint(&state, &app.id, &endpoint_id).await?;
    let page = state.store.list_attempts_by_endpoint(&endpoint_id, &list.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, MessageAttemptOut::from)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptOut>> {
    let app = caller.application(&state, &app_id).await?;
    let message = super::messages::find(&state, &app.id, &msg_id).await?;
    let attempt = state.store.get_attempt(&message.id, &attempt_id).await?;
    Ok(Json(attempt.into()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    id: String,
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
    let message = super::messages::find(&state, &app.id, &msg_id).await?;
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
    let message = super::messages::find(&state, &app.id, &msg_id).await?;
    let endpoint_id = endpoint(&state, &app.id, &endpoint_id).await?;
    state.store.queue_resend(&app.id, &message.id, &endpoint_id).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
}

/// An endpoint's id from its id or uid.
async fn endpoint(state: &AppState, app_id: &str, id_or_uid: &str) -> ApiResult<String> {
    Ok(state.store.get_endpoint(app_id, id_or_uid).await?.id)
}
