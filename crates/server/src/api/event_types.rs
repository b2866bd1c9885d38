//! `/api/v1/event-type`: the catalogue of event types endpoints subscribe to.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use hookd_store::{EventType, EventTypeData};
use serde::{Deserialize, Serialize};

use super::{nullable, time, ListResponse, Problems};
use crate::auth::Admin;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, ListParams};
use crate::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeIn {
    name: String,
    #[serde(flatten)]
    update: EventTypeUpdate,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeUpdate {
    description: String,
    schemas: Option<serde_json::Value>,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    deprecated: bool,
    feature_flag: Option<String>,
    feature_flags: Option<Vec<String>>,
    group_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypePatch {
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    schemas: Option<Option<serde_json::Value>>,
    archived: Option<bool>,
    deprecated: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    feature_flag: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    feature_flags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    group_name: Option<Option<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    name: String,
    description: String,
    schemas: Option<serde_json::Value>,
    archived: bool,
    deprecated: bool,
    feature_flag: Option<String>,
    feature_flags: Option<Vec<String>>,
    group_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EventType> for EventTypeOut {
    fn from(t: EventType) -> Self {
        Self {
            name: t.name,
            description: t.description,
            schemas: t.schemas,
            archived: t.archived,
            deprecated: t.deprecated,
            feature_flag: t.feature_flag,
            feature_flags: t.feature_flags,
            group_name: t.group_name,
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
        }
    }
}

impl EventTypeUpdate {
    fn into_data(self) -> EventTypeData {
        EventTypeData {
            description: self.description,
            schemas: self.schemas,
            archived: self.archived,
            deprecated: self.deprecated,
            feature_flag: self.feature_flag,
            feature_flags: self.feature_flags,
            group_name: self.group_name,
        }
    }
}

#[derive(Deserialize)]
pub struct ListEventTypeParams {
    #[serde(default)]
    include_archived: bool,
    /// Svix leaves the schemas out of a list unless asked (`with_content=true`).
    #[serde(default)]
    with_content: bool,
}

pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(params): ApiQuery<ListEventTypeParams>,
) -> ApiResult<Json<ListResponse<EventTypeOut>>> {
    let page = state.store.list_event_types(&list.to_query()?, params.include_archived).await?;
    Ok(Json(ListResponse::from_page(page, |mut t| {
        if !params.with_content {
            t.schemas = None;
        }
        EventTypeOut::from(t)
    })))
}

pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let created = state.service.create_event_type(&body.name, &body.update.into_data()).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

pub async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    Ok(Json(state.store.get_event_type(&name).await?.into()))
}

/// Updates an event type, or creates it (201).
pub async fn put(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<EventTypeUpdate>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let (event_type, created) = state.service.put_event_type(&name, &body.into_data()).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(event_type.into())))
}

pub async fn patch(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<EventTypePatch>,
) -> ApiResult<Json<EventTypeOut>> {
    let current = state.store.get_event_type(&name).await?.data();
    let data = EventTypeData {
        description: body.description.unwrap_or(current.description),
        schemas: body.schemas.unwrap_or(current.schemas),
        archived: body.archived.unwrap_or(current.archived),
        deprecated: body.deprecated.unwrap_or(current.deprecated),
        feature_flag: body.feature_flag.unwrap_or(current.feature_flag),
        feature_flags: body.feature_flags.unwrap_or(current.feature_flags),
        group_name: body.group_name.unwrap_or(current.group_name),
    };
    Ok(Json(state.service.update_event_type(&name, &data).await?.into()))
}

#[derive(Deserialize)]
pub struct DeleteParams {
    #[serde(default)]
    expunge: bool,
}

/// Archives an event type (Svix semantics): it stays readable, endpoints can no longer
/// subscribe to it, and messages of that type are still delivered. With `expunge=true` it is
/// deleted for good instead.
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> ApiResult<StatusCode> {
    state.service.delete_event_type(&name, params.expunge).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Svix's `Duration`: whole seconds and nanoseconds.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationJson {
    secs: u64,
    nanos: u32,
}

/// Svix's `RetryScheduleInOut`: the delays before each retry, or `null` for the server's.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryScheduleInOut {
    #[serde(default)]
    retry_schedule: Option<Vec<DurationJson>>,
}

/// Retries an event type's schedule may have, and the longest delay of one.
const MAX_RETRIES: usize = 50;
const MAX_DELAY_MS: u64 = 7 * 24 * 3600 * 1000;

impl RetryScheduleInOut {
    fn of(delays_ms: Option<Vec<i64>>) -> Self {
        let delays = delays_ms.map(|delays| {
            delays
                .into_iter()
                .map(|ms| DurationJson { secs: ms as u64 / 1000, nanos: (ms as u64 % 1000) as u32 * 1_000_000 })
                .collect()
        });
        Self { retry_schedule: delays }
    }

    /// The delays in milliseconds (hookd's precision), checked.
    fn delays_ms(&self) -> ApiResult<Option<Vec<i64>>> {
        let Some(delays) = &self.retry_schedule else { return Ok(None) };
        let mut p = Problems::default();
        if delays.len() > MAX_RETRIES {
            p.add("retrySchedule", format!("at most {MAX_RETRIES} retries"));
        }
        let mut out = Vec::with_capacity(delays.len());
        for (i, d) in delays.iter().enumerate() {
            let ms = d.secs.saturating_mul(1000).saturating_add(u64::from(d.nanos / 1_000_000));
            if d.nanos >= 1_000_000_000 {
                p.add(&format!("retrySchedule.{i}.nanos"), "must be below 1,000,000,000");
            } else if ms > MAX_DELAY_MS {
                p.add(&format!("retrySchedule.{i}"), "must be at most 7 days");
            }
            out.push(ms as i64);
        }
        p.finish()?;
        Ok(Some(out))
    }
}

/// `GET /api/v1/event-type/{name}/retry-schedule`: the event type's own retry schedule, or
/// `null` when its messages follow the server's (`--retry-schedule`).
pub async fn get_retry_schedule(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<RetryScheduleInOut>> {
    Ok(Json(RetryScheduleInOut::of(state.store.event_type_retry_schedule(&name).await?)))
}

/// `PUT /api/v1/event-type/{name}/retry-schedule`: sets the delays before each retry of this
/// event type's deliveries (one attempt plus one per delay), or with `null` goes back to the
/// server's schedule. Deliveries already waiting keep the time of their next attempt; the
/// schedule applies from their next failure, within 5 seconds on every node.
pub async fn put_retry_schedule(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<RetryScheduleInOut>,
) -> ApiResult<Json<RetryScheduleInOut>> {
    let delays = body.delays_ms()?;
    state.service.set_event_type_retry_schedule(&name, delays.as_deref()).await?;
    Ok(Json(RetryScheduleInOut::of(delays)))
}
