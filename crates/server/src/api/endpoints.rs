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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "Fields to create or replace an endpoint.")]
pub struct EndpointIn {
    /// Where deliveries are sent. An absolute http or https URL with a host, at most 65536 characters. The server parses it as a WHATWG URL and accepts some forms the pattern leaves out (non-ASCII, IDNA labels, other host spellings).
    #[schema(
        max_length = 65536,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9._~!$&'()*+,;=:%-]*@)?(?:(?:(?![Xx][Nn]--)[A-Za-z0-9_-]+\\.)*(?![Xx][Nn]--)[A-Za-z_-][A-Za-z0-9_-]*\\.?|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|\\[(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)\\])(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(?:[/?#][!-~]*)?$"
    )]
    url: String,
    /// Free text.
    #[serde(default)]
    description: String,
    /// A unique identifier chosen by the caller, usable in paths instead of the id. 1 to 256 characters of letters, digits, '-', '_' and '.'; must not look like an endpoint id (ep_…).
    #[schema(min_length = 1, max_length = 256, pattern = "^(?!ep_[0-9A-HJKMNP-TV-Z]{26}$)[a-zA-Z0-9_.-]+$")]
    uid: Option<String>,
    /// Event types this endpoint receives; each must exist. Absent, null or empty means every event type. Repeats are dropped. `filterTypes` is accepted as an alias (send only one of the two).
    #[serde(alias = "filterTypes")]
    event_types: Option<Vec<String>>,
    /// Channels this endpoint receives: at most 10 distinct channels, each 1 to 128 letters, digits, '-', '_', '.', ':' and '+'. Absent, null or empty means every message. Repeats are dropped before counting.
    #[schema(max_items = 10)]
    channels: Option<Vec<String>>,
    /// A disabled endpoint gets no deliveries; they wait until it is enabled again.
    #[serde(default)]
    disabled: bool,
    /// Free-form string key/value pairs. Absent or null stores an empty map.
    #[schema(value_type = Option<crate::openapi::schemas::Metadata>)]
    metadata: Option<Metadata>,
    /// Maximum deliveries per second for this endpoint (1 to 65535); null means no limit. `rateLimit` is accepted as an alias of this field (send only one of the two).
    #[serde(alias = "rateLimit")]
    #[schema(minimum = 1, maximum = 65535)]
    throttle_rate: Option<RateLimit>,
    /// hookd extension: deliver strictly in publish order.
    #[serde(default)]
    fifo: bool,
    /// Extra headers sent with every delivery (rules in EndpointHeaders). Absent or null means none.
    #[schema(value_type = Option<crate::openapi::schemas::EndpointHeaders>)]
    headers: Option<Metadata>,
    /// The signing secret: a whsec_ key (HMAC-SHA256, v1 signatures; generated when absent), or a whsk_ ed25519 secret key (v1a signatures; hookd keygen makes one). A whpk_ public key is refused.
    #[schema(pattern = "^(whsec_|whsk_)?[a-zA-Z0-9+/=]{32,100}$")]
    secret: Option<String>,
    /// hookd extension: this endpoint's own time limit for one attempt, in milliseconds, from 100 to the server's --request-timeout; absent or null: the server's.
    #[schema(minimum = 100)]
    request_timeout_ms: Option<u64>,
    /// hookd extension: the endpoint's payload filter. A CEL expression (https://cel.dev) over eventType, eventId, payload, channels and tags, at most 4096 bytes; a message for which it is not true gets no delivery to this endpoint (see the README's 'Payload filters'). Absent or null: none.
    #[schema(max_length = 4096)]
    filter: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(
    description = "Fields to change on an endpoint; absent fields are kept. Headers and the secret have their own routes."
)]
pub struct EndpointPatch {
    /// New URL; absent or null keeps it. An absolute http or https URL with a host, at most 65536 characters. The server parses it as a WHATWG URL and accepts some forms the pattern leaves out (non-ASCII, IDNA labels, other host spellings).
    #[schema(
        max_length = 65536,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9._~!$&'()*+,;=:%-]*@)?(?:(?:(?![Xx][Nn]--)[A-Za-z0-9_-]+\\.)*(?![Xx][Nn]--)[A-Za-z_-][A-Za-z0-9_-]*\\.?|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|\\[(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)\\])(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(?:[/?#][!-~]*)?$"
    )]
    url: Option<String>,
    /// New description; absent or null keeps it.
    description: Option<String>,
    /// New uid; null removes it, absent keeps it. Same rules as on create (must not look like ep_…).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_length = 1, max_length = 256, pattern = "^(?!ep_[0-9A-HJKMNP-TV-Z]{26}$)[a-zA-Z0-9_.-]+$")]
    uid: Option<Option<String>>,
    /// New event type filter; null or [] removes the filter (every type), absent keeps it. Each type must exist. `filterTypes` is accepted as an alias.
    #[serde(default, deserialize_with = "nullable", alias = "filterTypes")]
    event_types: Option<Option<Vec<String>>>,
    /// New channel filter (at most 10 distinct channels, same rules as on create); null or [] removes the filter, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(max_items = 10)]
    channels: Option<Option<Vec<String>>>,
    /// Disable or enable; absent or null keeps it. Enabling queues the deliveries that waited.
    disabled: Option<bool>,
    /// Replaces the metadata; absent or null keeps it.
    #[schema(value_type = Option<crate::openapi::schemas::Metadata>)]
    metadata: Option<Metadata>,
    /// New rate limit (1 to 65535 per second); null removes it, absent keeps it. `rateLimit` is accepted as an alias.
    #[serde(default, deserialize_with = "nullable", alias = "rateLimit")]
    #[schema(minimum = 1, maximum = 65535)]
    throttle_rate: Option<Option<RateLimit>>,
    /// hookd extension: strict publish order; absent or null keeps it.
    fifo: Option<bool>,
    /// New time limit for one attempt (same rules as on create); null goes back to the server's, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(minimum = 100)]
    request_timeout_ms: Option<Option<u64>>,
    /// New payload filter (same rules as on create); null removes it, absent keeps it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(max_length = 4096)]
    filter: Option<Option<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "An endpoint of an application.")]
pub struct EndpointOut {
    /// Endpoint id (ep_…).
    id: EndpointId,
    #[schema(required = true)]
    uid: Option<String>,
    url: String,
    description: String,
    /// Subscribed event types; null means all.
    #[schema(required = true)]
    event_types: Option<Vec<String>>,
    /// Subscribed channels; null means all.
    #[schema(required = true)]
    channels: Option<Vec<String>>,
    disabled: bool,
    #[schema(value_type = crate::openapi::schemas::Metadata)]
    metadata: Metadata,
    /// Deliveries per second; null when unlimited.
    #[schema(required = true)]
    throttle_rate: Option<i64>,
    /// Same value as throttleRate (older Svix name).
    #[schema(required = true)]
    rate_limit: Option<i64>,
    /// hookd extension: strict publish order.
    fifo: bool,
    /// hookd extension: the endpoint's own time limit for one attempt, in milliseconds; null: the server's.
    #[schema(required = true)]
    request_timeout_ms: Option<i64>,
    /// hookd extension: the endpoint's payload filter; null: none.
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

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint",
    operation_id = "listEndpoints",
    tag = "endpoint",
    summary = "List endpoints",
    description = "Newest first.",
    params(crate::openapi::params::AppId, crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Order),
    responses(
        (status = 200, description = "A page of endpoints.", body = ListResponse<EndpointOut>),
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
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    list_in(&state, &caller.application(&state, &app_id).await?, &params).await
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint",
    operation_id = "createEndpoint",
    tag = "endpoint",
    summary = "Create an endpoint",
    params(crate::openapi::params::AppId, crate::openapi::params::IdempotencyKey),
    request_body = EndpointIn,
    responses(
        (status = 201, description = "The endpoint was created.", body = EndpointOut),
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
    ApiJson(body): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    create_in(&state, &caller.application(&state, &app_id).await?, body).await
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "getEndpoint",
    tag = "endpoint",
    summary = "Get an endpoint",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The endpoint.", body = EndpointOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    get_in(&state, &caller.application(&state, &app_id).await?, &endpoint_id).await
}

/// Replaces an endpoint's fields, or creates it (201) with the path as its uid.
#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "updateEndpoint",
    tag = "endpoint",
    summary = "Update or create an endpoint",
    description = "Replaces the endpoint's fields (a uid not given keeps the current one; secret is ignored on update). When the endpoint does not exist it is created, with the path value as its uid unless the body has one or the value looks like an endpoint id.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    request_body = EndpointIn,
    responses(
        (status = 200, description = "The endpoint was updated.", body = EndpointOut),
        (status = 201, description = "The endpoint was created.", body = EndpointOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    put_in(&state, &caller.application(&state, &app_id).await?, &endpoint_id, body).await
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "patchEndpoint",
    tag = "endpoint",
    summary = "Partially update an endpoint",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    request_body = EndpointPatch,
    responses(
        (status = 200, description = "The updated endpoint.", body = EndpointOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "deleteEndpoint",
    tag = "endpoint",
    summary = "Delete an endpoint",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 204, description = "The endpoint was deleted."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete_in(&state, &caller.application(&state, &app_id).await?, &endpoint_id).await
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(description = "An endpoint's current signing secret.")]
pub struct EndpointSecretOut {
    /// What the receiver verifies with: the whsec_ secret, or for an ed25519 endpoint its public key whpk_ (the secret key never leaves hookd).
    key: String,
}

/// What a receiver verifies with: the shared `whsec_` secret, or for an ed25519 endpoint its
/// public key `whpk_…` (the secret key `whsk_…` never leaves hookd).
fn for_receiver(stored: &str) -> String {
    EndpointSecret::parse(stored).map_or_else(|_| stored.to_owned(), |s| s.for_receiver())
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret",
    operation_id = "getEndpointSecret",
    tag = "endpoint",
    summary = "Get an endpoint's signing secret",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The current secret.", body = EndpointSecretOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    get_secret_in(&state, &caller.application(&state, &app_id).await?, &endpoint_id).await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "Options of a secret rotation.")]
pub struct EndpointSecretRotateIn {
    /// The new secret: whsec_ (HMAC) or whsk_ (ed25519). Absent: a new secret of the endpoint's current kind.
    #[schema(pattern = "^(whsec_|whsk_)?[a-zA-Z0-9+/=]{32,100}$")]
    key: Option<String>,
    /// How long the previous secret keeps signing alongside the new one, in seconds (at most 604800, 7 days). Defaults to the server's setting (86400 unless configured).
    #[schema(minimum = 0, maximum = 604800)]
    grace_period_seconds: Option<u64>,
}

/// The body is optional: an empty one rotates to a generated key.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
    operation_id = "rotateEndpointSecret",
    tag = "endpoint",
    summary = "Rotate an endpoint's signing secret",
    description = "Sets a new secret (given or generated). The previous one keeps signing during the grace period, so deliveries carry both signatures meanwhile. The body is optional: an empty body rotates to a generated key with the default grace period. Unlike Svix (204), the answer carries the new key.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId, crate::openapi::params::IdempotencyKey),
    request_body(content = Option<EndpointSecretRotateIn>, description = "Optional: an empty body takes the defaults."),
    responses(
        (status = 200, description = "The new secret.", body = EndpointSecretOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLargeText),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<EndpointSecretRotateIn>,
) -> ApiResult<Json<EndpointSecretOut>> {
    rotate_secret_in(&state, &caller.application(&state, &app_id).await?, &endpoint_id, body).await
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(description = "Extra delivery headers of an endpoint.")]
pub struct EndpointHeadersOut {
    /// Extra headers sent with every delivery.
    #[schema(value_type = crate::openapi::schemas::Metadata)]
    headers: Metadata,
    /// Always empty in hookd (kept for Svix compatibility).
    sensitive: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(description = "Extra delivery headers of an endpoint.")]
pub struct EndpointHeadersIn {
    /// The complete set of extra delivery headers (rules in EndpointHeaders).
    #[schema(value_type = crate::openapi::schemas::EndpointHeaders)]
    headers: Metadata,
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    operation_id = "getEndpointHeaders",
    tag = "endpoint",
    summary = "Get an endpoint's extra headers",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The extra headers.", body = EndpointHeadersOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    get_headers_in(&state, &caller.application(&state, &app_id).await?, &endpoint_id).await
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    operation_id = "updateEndpointHeaders",
    tag = "endpoint",
    summary = "Replace an endpoint's extra headers",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    request_body = EndpointHeadersIn,
    responses(
        (status = 204, description = "The headers were replaced."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn put_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    put_headers_in(&state, &caller.application(&state, &app_id).await?, &endpoint_id, body).await
}

/// `PATCH …/headers`: Svix's `EndpointHeadersPatchIn`, where a header set to `null` is removed.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(description = "Extra delivery headers to merge into the current ones.")]
pub struct EndpointHeadersPatchIn {
    /// Headers to set; a header set to null (or to an empty string) is removed. Others are kept.
    headers: std::collections::BTreeMap<String, Option<String>>,
}

/// Merges headers; a header set to `null` (Svix's way) or to an empty value is removed.
#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    operation_id = "patchEndpointHeaders",
    tag = "endpoint",
    summary = "Merge an endpoint's extra headers",
    description = "Adds or changes the headers given; a header given with an empty value is removed.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    request_body = EndpointHeadersPatchIn,
    responses(
        (status = 204, description = "The headers were merged."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn patch_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointHeadersPatchIn>,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    set_headers(&state, &app, &endpoint_id, |mut current| {
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
    state: &AppState,
    app: &Application,
    endpoint_id: &str,
    change: impl FnOnce(Metadata) -> Metadata,
) -> ApiResult<StatusCode> {
    let current = find(state, app, endpoint_id).await?;
    let data = EndpointData { headers: change(current.headers.clone()), ..current.data() };
    state.service.update_endpoint(app, &current, data).await?;
    Ok(StatusCode::NO_CONTENT)
}

// The endpoint use cases on an application already resolved: the application endpoint routes
// above resolve it from the path and the caller's scope; the operational-webhook routes
// (`operational_endpoints.rs`) take the reserved application, and the source endpoint routes
// (`sources.rs`) the source's. All map the same wire types the same way.

pub(super) async fn list_in(
    state: &AppState,
    app: &Application,
    params: &ListParams,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let page = state.store.list_endpoints(&app.id, &params.to_query()?).await?;
    Ok(Json(ListResponse::from_page(page, EndpointOut::from)))
}

pub(super) async fn create_in(
    state: &AppState,
    app: &Application,
    body: EndpointIn,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let (data, secret) = body.into_data();
    let created = state.service.create_endpoint(app, data, secret.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

pub(super) async fn get_in(state: &AppState, app: &Application, endpoint_id: &str) -> ApiResult<Json<EndpointOut>> {
    Ok(Json(find(state, app, endpoint_id).await?.into()))
}

pub(super) async fn put_in(
    state: &AppState,
    app: &Application,
    endpoint_id: &str,
    body: EndpointIn,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let (data, secret) = body.into_data();
    let (endpoint, created) = state.service.put_endpoint(app, endpoint_id, data, secret.as_deref()).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(endpoint.into())))
}

pub(super) async fn delete_in(state: &AppState, app: &Application, endpoint_id: &str) -> ApiResult<StatusCode> {
    let endpoint = find(state, app, endpoint_id).await?;
    state.service.delete_endpoint(app, &endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn get_secret_in(
    state: &AppState,
    app: &Application,
    endpoint_id: &str,
) -> ApiResult<Json<EndpointSecretOut>> {
    Ok(Json(EndpointSecretOut { key: for_receiver(&find(state, app, endpoint_id).await?.secret) }))
}

pub(super) async fn rotate_secret_in(
    state: &AppState,
    app: &Application,
    endpoint_id: &str,
    body: EndpointSecretRotateIn,
) -> ApiResult<Json<EndpointSecretOut>> {
    let endpoint = find(state, app, endpoint_id).await?;
    let rotated =
        state.service.rotate_endpoint_secret(&endpoint, body.key.as_deref(), body.grace_period_seconds).await?;
    // Svix's Rust SDK reads the new key from the response; the others ignore the body.
    Ok(Json(EndpointSecretOut { key: for_receiver(&rotated.secret) }))
}

pub(super) async fn get_headers_in(
    state: &AppState,
    app: &Application,
    endpoint_id: &str,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let endpoint = find(state, app, endpoint_id).await?;
    Ok(Json(EndpointHeadersOut { headers: endpoint.headers, sensitive: vec![] }))
}

pub(super) async fn put_headers_in(
    state: &AppState,
    app: &Application,
    endpoint_id: &str,
    body: EndpointHeadersIn,
) -> ApiResult<StatusCode> {
    set_headers(state, app, endpoint_id, |_| body.headers).await
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EndpointStats, description = "An endpoint's deliveries counted by status.")]
pub struct EndpointStatsOut {
    /// Deliveries that succeeded.
    success: i64,
    /// Deliveries waiting for an attempt or a retry.
    pending: i64,
    /// Deliveries being attempted right now.
    sending: i64,
    /// Deliveries that failed for good.
    fail: i64,
    /// Deliveries canceled because their message's payload was expunged while they were pending.
    canceled: i64,
    /// hookd extension: messages the endpoint's filter kept from it (no delivery was created). Counted per hour of publication: a since/until window counts every hour it touches.
    filtered: i64,
    /// hookd extension: of the filtered messages, those the filter failed on (a missing field, a result that is not a bool).
    filter_errors: i64,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Count only the deliveries of messages created at or after this time (RFC 3339).
    #[param(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    since: Option<Timestamp>,
    /// Count only the deliveries of messages created before this time (RFC 3339); must be after since.
    #[param(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    until: Option<Timestamp>,
}

/// Counts of the endpoint's deliveries by state, of the messages created in `[since, until)`
/// when given.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats",
    operation_id = "getEndpointStats",
    tag = "endpoint",
    summary = "Get an endpoint's delivery counts",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId, StatsParams),
    responses(
        (status = 200, description = "Deliveries by status.", body = EndpointStatsOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventExampleIn {
    /// The event type's name.
    #[schema(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9\\-_.]+$")]
    event_type: String,
    /// Which of the schema's examples to send (when it has some).
    #[serde(default)]
    #[schema(minimum = 0)]
    example_index: usize,
}

/// `POST …/endpoint/{ep}/send-example`: publishes a message of `eventType` to this endpoint
/// alone, whatever it subscribes to. Its payload is the event type's example: the
/// `exampleIndex`-th of the `examples` of its schema's latest version; an event type without
/// one (or unregistered) sends `{"type": <eventType>, "example": true}`.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example",
    operation_id = "sendEndpointExample",
    tag = "endpoint",
    summary = "Send an example message to an endpoint",
    description = "Publishes a message of eventType to this endpoint alone, whatever it subscribes to. The payload is the exampleIndex-th entry of the examples array of the event type's schema (its latest version: the largest version number); an event type without examples, or not registered, sends {\"type\": <eventType>, \"example\": true}.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId, crate::openapi::params::IdempotencyKey),
    request_body = EventExampleIn,
    responses(
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
        (status = 202, description = "The message, stored and queued for the endpoint.", body = super::messages::MessageOut),
    ),
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(description = "Which failed deliveries to queue again.")]
pub struct RecoverIn {
    /// Start of the window (inclusive), by message creation time. An RFC 3339 date-time such as 2026-01-31T12:00:00Z (a space may stand for the T).
    #[schema(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    since: Timestamp,
    /// End of the window (exclusive); must be later than since. Absent or null means now. An RFC 3339 date-time such as 2026-01-31T12:00:00Z (a space may stand for the T).
    #[schema(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    until: Option<Timestamp>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "The result of a recovery, as Svix's background task.")]
pub struct RecoverOut {
    /// Task id (qtask_…).
    id: String,
    /// Always running, the one value Svix's open-source schema allows (older SDKs know no other). hookd has in fact already queued the deliveries again when it answers; recovered says how many.
    status: &'static str,
    /// The kind of task.
    task: &'static str,
    updated_at: DateTime<Utc>,
    /// hookd addition: how many failed deliveries were queued again.
    #[schema(minimum = 0)]
    recovered: u64,
}

/// Queues again the endpoint's failed deliveries of messages created in `[since, until)`,
/// each with a fresh retry schedule. The work is one statement, done before the answer.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
    operation_id = "recoverEndpoint",
    tag = "endpoint",
    summary = "Retry an endpoint's failed deliveries",
    description = "Queues again, each with a fresh retry schedule, the endpoint's failed deliveries of messages created in [since, until). The work is done before the answer.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId, crate::openapi::params::IdempotencyKey),
    request_body = RecoverIn,
    responses(
        (status = 202, description = "The recovery was done; the task is reported finished.", body = RecoverOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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
