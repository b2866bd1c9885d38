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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "Fields to create an event type.")]
pub struct EventTypeIn {
    /// Event type name, such as invoice.paid: 1 to 256 characters of letters, digits, '-', '_' and '.'.
    #[schema(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    name: String,
    #[serde(flatten)]
    update: EventTypeUpdate,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "Fields to replace an event type.")]
pub struct EventTypeUpdate {
    /// What the event means.
    description: String,
    /// JSON Schemas of the payload, keyed by schema version (for example {"1": {"type": "object", …}}): an object whose every value is an object, else 422 naming the version. An `examples` array in the latest version feeds send-example.
    schemas: Option<serde_json::Value>,
    /// Archived event types are hidden from lists by default and cannot be subscribed to.
    #[serde(default)]
    archived: bool,
    /// Marks the event type as deprecated.
    #[serde(default)]
    deprecated: bool,
    /// Name of a feature flag (same character rules as an event type name).
    #[schema(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    feature_flag: Option<String>,
    /// Feature flags (Svix's newer list form of featureFlag): at least one, each a name, none repeated.
    #[schema(min_items = 1)]
    feature_flags: Option<Vec<String>>,
    /// The group the event type belongs to (a name).
    #[schema(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    group_name: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "Fields to change on an event type; absent fields are kept.")]
pub struct EventTypePatch {
    /// New description; absent or null keeps it.
    description: Option<String>,
    /// New schemas (same rules as on create); null removes them, absent keeps them.
    #[serde(default, deserialize_with = "nullable")]
    schemas: Option<Option<serde_json::Value>>,
    /// Archive or unarchive; absent or null keeps the current value.
    archived: Option<bool>,
    /// Deprecate or undeprecate; absent or null keeps the current value.
    deprecated: Option<bool>,
    /// New feature flag; null removes it, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    feature_flag: Option<Option<String>>,
    /// New feature flags; null removes them, absent keeps them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_items = 1)]
    feature_flags: Option<Option<Vec<String>>>,
    /// New group name; null removes it, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    group_name: Option<Option<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "An event type of the catalogue.")]
pub struct EventTypeOut {
    name: String,
    description: String,
    /// Payload schemas by version, or null (also null in a list without with_content=true).
    #[schema(required = true)]
    schemas: Option<serde_json::Value>,
    archived: bool,
    deprecated: bool,
    #[schema(required = true)]
    feature_flag: Option<String>,
    #[schema(required = true)]
    feature_flags: Option<Vec<String>>,
    #[schema(required = true)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEventTypeParams {
    /// Include archived event types.
    #[param(default = false)]
    #[serde(default)]
    include_archived: bool,
    /// true includes each event type's schemas; without it they are left out (null), as Svix does.
    #[param(default = false)]
    #[serde(default)]
    with_content: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/event-type",
    operation_id = "listEventTypes",
    tag = "event-type",
    summary = "List event types",
    description = "Admin token only. Sorted by name; the iterator is an event type name.",
    params(crate::openapi::params::Limit, crate::openapi::params::Iterator, ListEventTypeParams, crate::openapi::params::Order),
    responses(
        (status = 200, description = "A page of event types.", body = ListResponse<EventTypeOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/event-type",
    operation_id = "createEventType",
    tag = "event-type",
    summary = "Create an event type",
    description = "Admin token only.",
    params(crate::openapi::params::IdempotencyKey),
    request_body = EventTypeIn,
    responses(
        (status = 201, description = "The event type was created.", body = EventTypeOut),
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
    ApiJson(body): ApiJson<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let created = state.service.create_event_type(&body.name, &body.update.into_data()).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/event-type/{name}",
    operation_id = "getEventType",
    tag = "event-type",
    summary = "Get an event type",
    description = "Admin token only. Archived event types can be read too.",
    params(crate::openapi::params::EventTypeName),
    responses(
        (status = 200, description = "The event type.", body = EventTypeOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    Ok(Json(state.store.get_event_type(&name).await?.into()))
}

/// Updates an event type, or creates it (201).
#[utoipa::path(
    put,
    path = "/api/v1/event-type/{name}",
    operation_id = "updateEventType",
    tag = "event-type",
    summary = "Update or create an event type",
    description = "Admin token only. Replaces the event type's fields, or creates it with the path's name when it does not exist.",
    params(crate::openapi::params::EventTypeName),
    request_body = EventTypeUpdate,
    responses(
        (status = 200, description = "The event type was updated.", body = EventTypeOut),
        (status = 201, description = "The event type was created.", body = EventTypeOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn put(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<EventTypeUpdate>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let (event_type, created) = state.service.put_event_type(&name, &body.into_data()).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(event_type.into())))
}

#[utoipa::path(
    patch,
    path = "/api/v1/event-type/{name}",
    operation_id = "patchEventType",
    tag = "event-type",
    summary = "Partially update an event type",
    description = "Admin token only.",
    params(crate::openapi::params::EventTypeName),
    request_body = EventTypePatch,
    responses(
        (status = 200, description = "The updated event type.", body = EventTypeOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// true deletes the event type for good instead of archiving it.
    #[param(default = false)]
    #[serde(default)]
    expunge: bool,
}

/// Archives an event type (Svix semantics): it stays readable, endpoints can no longer
/// subscribe to it, and messages of that type are still delivered. With `expunge=true` it is
/// deleted for good instead.
#[utoipa::path(
    delete,
    path = "/api/v1/event-type/{name}",
    operation_id = "deleteEventType",
    tag = "event-type",
    summary = "Archive an event type",
    description = "Archives the event type (it stays readable; endpoints can no longer subscribe to it; messages of that type are still delivered). With expunge=true it is deleted for good.",
    params(crate::openapi::params::EventTypeName, DeleteParams),
    responses(
        (status = 204, description = "The event type was archived."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
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
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Duration, description = "Svix's duration: whole seconds and nanoseconds (hookd keeps milliseconds).")]
pub struct DurationJson {
    #[schema(minimum = 0)]
    secs: u64,
    #[schema(minimum = 0, maximum = 999999999)]
    nanos: u32,
}

/// Svix's `RetryScheduleInOut`: the delays before each retry, or `null` for the server's.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryScheduleInOut {
    /// The delay before each retry (at most 50, each at most 7 days); null: the server's schedule applies.
    #[serde(default)]
    #[schema(max_items = 50)]
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
#[utoipa::path(
    get,
    path = "/api/v1/event-type/{name}/retry-schedule",
    operation_id = "getEventTypeRetrySchedule",
    tag = "event-type",
    summary = "Get an event type's retry schedule",
    description = "The delays before each retry of this event type's deliveries, or null when they follow the server's schedule (--retry-schedule).",
    params(crate::openapi::params::EventTypeName),
    responses(
        (status = 200, description = "The schedule.", body = RetryScheduleInOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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
#[utoipa::path(
    put,
    path = "/api/v1/event-type/{name}/retry-schedule",
    operation_id = "setEventTypeRetrySchedule",
    tag = "event-type",
    summary = "Set an event type's retry schedule",
    description = "Sets the delays before each retry of this event type's deliveries (one attempt, then one per delay), or with null goes back to the server's schedule. Deliveries already waiting keep the time of their next attempt; the new schedule applies from their next failure, on every node within 5 seconds.",
    params(crate::openapi::params::EventTypeName, crate::openapi::params::IdempotencyKey),
    request_body = RetryScheduleInOut,
    responses(
        (status = 200, description = "The schedule as stored (to the millisecond).", body = RetryScheduleInOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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
