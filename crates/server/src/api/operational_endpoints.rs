//! `/api/v1/operational-webhook/endpoint…`: the endpoints that receive operational webhooks
//! (events about hookd itself), as Svix's SDKs manage them. They are the endpoints of the
//! reserved application (`hookd.operational`, see `operational.rs`), so each route is the
//! application endpoint route of the same name on that application: same fields (a superset of
//! Svix's `OperationalWebhookEndpoint…` shapes), same rules, except that `eventTypes` are
//! operational event types. Admin token only. The reserved application is made by the first
//! create (or by `--operational-webhook-url`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use hookd_store::{Application, Endpoint, Entity, Page, StoreError};

use super::endpoints::{
    self as eps, EndpointHeadersIn, EndpointHeadersOut, EndpointIn, EndpointOut, EndpointSecretOut,
    EndpointSecretRotateIn,
};
use super::ListResponse;
use crate::auth::Admin;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, ListParams, OptionalJson};
use crate::AppState;

/// The reserved application, made at once.
async fn made(state: &AppState) -> ApiResult<Application> {
    Ok(state.operational.application().await?)
}

/// The reserved application, `None` if it does not exist (yet).
async fn existing(state: &AppState) -> ApiResult<Option<Application>> {
    match state.store.get_application(hookd_core::operational::APP_UID).await {
        Ok(app) => Ok(Some(app)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The reserved application, for a route below one of its endpoints: without it, there is
/// no such endpoint (404).
async fn of_endpoint(state: &AppState) -> ApiResult<Application> {
    existing(state).await?.ok_or_else(|| StoreError::NotFound(Entity::Endpoint).into())
}

#[utoipa::path(
    get,
    path = "/api/v1/operational-webhook/endpoint",
    operation_id = "operationalWebhookListEndpoints",
    tag = "operational-webhook",
    summary = "List operational-webhook endpoints",
    description = "An endpoint of the reserved operational-webhook application (hookd.operational), which receives events about hookd itself: the same as the application endpoint route, with eventTypes among endpoint.created, endpoint.updated, endpoint.deleted, endpoint.disabled, message.attempt.failing, message.attempt.exhausted and message.attempt.recovered. Admin token only.",
    params(crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Order),
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
    _admin: Admin,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    match existing(&state).await? {
        Some(app) => eps::list_in(&state, &app, &params).await,
        None => {
            params.to_query()?; // a bad limit is refused all the same
            let empty: Page<Endpoint> = Page { data: vec![], iterator: None, prev_iterator: None, done: true };
            Ok(Json(ListResponse::from_page(empty, EndpointOut::from)))
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/operational-webhook/endpoint",
    operation_id = "operationalWebhookCreateEndpoint",
    tag = "operational-webhook",
    summary = "Create an operational-webhook endpoint",
    description = "An endpoint of the reserved operational-webhook application (hookd.operational), which receives events about hookd itself: the same as the application endpoint route, with eventTypes among endpoint.created, endpoint.updated, endpoint.deleted, endpoint.disabled, message.attempt.failing, message.attempt.exhausted and message.attempt.recovered. Admin token only. The reserved application is made by the first create.",
    params(crate::openapi::params::IdempotencyKey),
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
    _admin: Admin,
    ApiJson(body): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    eps::create_in(&state, &made(&state).await?, body).await
}

#[utoipa::path(
    get,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}",
    operation_id = "operationalWebhookGetEndpoint",
    tag = "operational-webhook",
    summary = "Get an operational-webhook endpoint",
    description = "An endpoint of the reserved operational-webhook application (hookd.operational), which receives events about hookd itself: the same as the application endpoint route, with eventTypes among endpoint.created, endpoint.updated, endpoint.deleted, endpoint.disabled, message.attempt.failing, message.attempt.exhausted and message.attempt.recovered. Admin token only.",
    params(crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The endpoint.", body = EndpointOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<EndpointOut>> {
    eps::get_in(&state, &of_endpoint(&state).await?, &endpoint_id).await
}

/// Svix's `upsert`: replaces the endpoint's fields, or creates it with the path as its uid.
#[utoipa::path(
    put,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}",
    operation_id = "operationalWebhookUpdateEndpoint",
    tag = "operational-webhook",
    summary = "Update or create an operational-webhook endpoint",
    description = "An endpoint of the reserved operational-webhook application (hookd.operational), which receives events about hookd itself: the same as the application endpoint route, with eventTypes among endpoint.created, endpoint.updated, endpoint.deleted, endpoint.disabled, message.attempt.failing, message.attempt.exhausted and message.attempt.recovered. Admin token only. The reserved application is made by the first create.",
    params(crate::openapi::params::EndpointId),
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
    _admin: Admin,
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    eps::put_in(&state, &made(&state).await?, &endpoint_id, body).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}",
    operation_id = "operationalWebhookDeleteEndpoint",
    tag = "operational-webhook",
    summary = "Delete an operational-webhook endpoint",
    description = "An endpoint of the reserved operational-webhook application (hookd.operational), which receives events about hookd itself: the same as the application endpoint route, with eventTypes among endpoint.created, endpoint.updated, endpoint.deleted, endpoint.disabled, message.attempt.failing, message.attempt.exhausted and message.attempt.recovered. Admin token only.",
    params(crate::openapi::params::EndpointId),
    responses(
        (status = 204, description = "The endpoint was deleted."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    Path(endpoint_id): Path<String>,
) -> ApiResult<StatusCode> {
    eps::delete_in(&state, &of_endpoint(&state).await?, &endpoint_id).await
}

#[utoipa::path(
    get,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret",
    operation_id = "operationalWebhookGetEndpointSecret",
    tag = "operational-webhook",
    summary = "Get an operational-webhook endpoint's signing secret",
    description = "An endpoint of the reserved operational-webhook application (hookd.operational), which receives events about hookd itself: the same as the application endpoint route, with eventTypes among endpoint.created, endpoint.updated, endpoint.deleted, endpoint.disabled, message.attempt.failing, message.attempt.exhausted and message.attempt.recovered. Admin token only.",
    params(crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The current secret.", body = EndpointSecretOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_secret(
    State(state): State<AppState>,
    _admin: Admin,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<EndpointSecretOut>> {
    eps::get_secret_in(&state, &of_endpoint(&state).await?, &endpoint_id).await
}

#[utoipa::path(
    post,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate",
    operation_id = "operationalWebhookRotateEndpointSecret",
    tag = "operational-webhook",
    summary = "Rotate an operational-webhook endpoint's signing secret",
    description = "An endpoint of the reserved operational-webhook application (hookd.operational), which receives events about hookd itself: the same as the application endpoint route, with eventTypes among endpoint.created, endpoint.updated, endpoint.deleted, endpoint.disabled, message.attempt.failing, message.attempt.exhausted and message.attempt.recovered. Admin token only. The reserved application is made by the first create.",
    params(crate::openapi::params::EndpointId, crate::openapi::params::IdempotencyKey),
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
    _admin: Admin,
    Path(endpoint_id): Path<String>,
    OptionalJson(body): OptionalJson<EndpointSecretRotateIn>,
) -> ApiResult<Json<EndpointSecretOut>> {
    eps::rotate_secret_in(&state, &of_endpoint(&state).await?, &endpoint_id, body).await
}

#[utoipa::path(
    get,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers",
    operation_id = "operationalWebhookGetEndpointHeaders",
    tag = "operational-webhook",
    summary = "Get an operational-webhook endpoint's extra headers",
    description = "An endpoint of the reserved operational-webhook application (hookd.operational), which receives events about hookd itself: the same as the application endpoint route, with eventTypes among endpoint.created, endpoint.updated, endpoint.deleted, endpoint.disabled, message.attempt.failing, message.attempt.exhausted and message.attempt.recovered. Admin token only.",
    params(crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The extra headers.", body = EndpointHeadersOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_headers(
    State(state): State<AppState>,
    _admin: Admin,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    eps::get_headers_in(&state, &of_endpoint(&state).await?, &endpoint_id).await
}

#[utoipa::path(
    put,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers",
    operation_id = "operationalWebhookUpdateEndpointHeaders",
    tag = "operational-webhook",
    summary = "Replace an operational-webhook endpoint's extra headers",
    description = "An endpoint of the reserved operational-webhook application (hookd.operational), which receives events about hookd itself: the same as the application endpoint route, with eventTypes among endpoint.created, endpoint.updated, endpoint.deleted, endpoint.disabled, message.attempt.failing, message.attempt.exhausted and message.attempt.recovered. Admin token only. The reserved application is made by the first create.",
    params(crate::openapi::params::EndpointId),
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
    _admin: Admin,
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    eps::put_headers_in(&state, &of_endpoint(&state).await?, &endpoint_id, body).await
}
