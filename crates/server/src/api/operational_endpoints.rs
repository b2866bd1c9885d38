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
use hookd_store::{Endpoint, Entity, Page, StoreError};

use super::endpoints::{
    self as eps, EndpointHeadersIn, EndpointHeadersOut, EndpointIn, EndpointOut, EndpointSecretOut,
    EndpointSecretRotateIn,
};
use super::ListResponse;
use crate::auth::Admin;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, ListParams, OptionalJson};
use crate::AppState;

/// The reserved application's id, made if `create`; `None` if it does not exist (yet).
async fn app_id(state: &AppState, create: bool) -> ApiResult<Option<String>> {
    if create {
        return Ok(Some(state.operational.application().await?.id.into_string()));
    }
    match state.store.get_application(hookd_core::operational::APP_UID).await {
        Ok(app) => Ok(Some(app.id.into_string())),
        Err(hookd_store::StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The reserved application's id and an endpoint's, or 404 for the endpoint.
async fn endpoint_path(state: &AppState, endpoint_id: String) -> ApiResult<Path<(String, String)>> {
    match app_id(state, false).await? {
        Some(app) => Ok(Path((app, endpoint_id))),
        None => Err(StoreError::NotFound(Entity::Endpoint).into()),
    }
}

pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    match app_id(&state, false).await? {
        Some(app) => eps::list(State(state), admin.into(), Path(app), ApiQuery(params)).await,
        None => {
            params.to_query()?; // a bad limit is refused all the same
            let empty: Page<Endpoint> = Page { data: vec![], iterator: None, prev_iterator: None, done: true };
            Ok(Json(ListResponse::from_page(empty, EndpointOut::from)))
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = app_id(&state, true).await?.expect("made");
    eps::create(State(state), admin.into(), Path(app), body).await
}

pub async fn get(
    State(state): State<AppState>,
    admin: Admin,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<EndpointOut>> {
    let path = endpoint_path(&state, endpoint_id).await?;
    eps::get(State(state), admin.into(), path).await
}

/// Svix's `upsert`: replaces the endpoint's fields, or creates it with the path as its uid.
pub async fn put(
    State(state): State<AppState>,
    admin: Admin,
    Path(endpoint_id): Path<String>,
    body: ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = app_id(&state, true).await?.expect("made");
    eps::put(State(state), admin.into(), Path((app, endpoint_id)), body).await
}

pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(endpoint_id): Path<String>,
) -> ApiResult<StatusCode> {
    let path = endpoint_path(&state, endpoint_id).await?;
    eps::delete(State(state), admin.into(), path).await
}

pub async fn get_secret(
    State(state): State<AppState>,
    admin: Admin,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let path = endpoint_path(&state, endpoint_id).await?;
    eps::get_secret(State(state), admin.into(), path).await
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    admin: Admin,
    Path(endpoint_id): Path<String>,
    body: OptionalJson<EndpointSecretRotateIn>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let path = endpoint_path(&state, endpoint_id).await?;
    eps::rotate_secret(State(state), admin.into(), path, body).await
}

pub async fn get_headers(
    State(state): State<AppState>,
    admin: Admin,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let path = endpoint_path(&state, endpoint_id).await?;
    eps::get_headers(State(state), admin.into(), path).await
}

pub async fn put_headers(
    State(state): State<AppState>,
    admin: Admin,
    Path(endpoint_id): Path<String>,
    body: ApiJson<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    let path = endpoint_path(&state, endpoint_id).await?;
    eps::put_headers(State(state), admin.into(), path, body).await
}
