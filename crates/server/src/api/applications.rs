//! `/api/v1/app`: applications (tenants).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use hookd_core::ApplicationId;
use hookd_store::{Application, ApplicationData, ApplicationFilter, Metadata};
use serde::{Deserialize, Serialize};

use super::{nullable, time, ListResponse, RateLimit};
use crate::auth::{Admin, Caller};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, ListParams};
use crate::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    pub name: String,
    pub uid: Option<String>,
    pub metadata: Option<Metadata>,
    #[serde(alias = "rateLimit")]
    pub throttle_rate: Option<RateLimit>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    uid: Option<Option<String>>,
    metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "nullable", alias = "rateLimit")]
    throttle_rate: Option<Option<RateLimit>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    id: ApplicationId,
    uid: Option<String>,
    name: String,
    metadata: Metadata,
    throttle_rate: Option<i64>,
    rate_limit: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Application> for ApplicationOut {
    fn from(a: Application) -> Self {
        Self {
            id: a.id,
            uid: a.uid,
            name: a.name,
            metadata: a.metadata,
            throttle_rate: a.throttle_rate,
            rate_limit: a.throttle_rate,
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

impl ApplicationIn {
    /// The fields to store (the service checks them).
    pub fn into_data(self) -> ApplicationData {
        ApplicationData {
            uid: self.uid,
            name: self.name,
            metadata: self.metadata.unwrap_or_default(),
            throttle_rate: self.throttle_rate.map(RateLimit::get),
        }
    }
}

#[derive(Deserialize)]
pub struct CreateParams {
    #[serde(default)]
    get_if_exists: bool,
}

/// Svix's filters of the application list. hookd has no Svix Play endpoints, so
/// `exclude_apps_with_svix_play_endpoints` leaves nothing out (and is read, so that a
/// malformed value is refused).
#[derive(Deserialize)]
pub struct ListAppParams {
    #[serde(default)]
    exclude_apps_with_no_endpoints: bool,
    #[serde(default)]
    exclude_apps_with_disabled_endpoints: bool,
    #[serde(default)]
    #[allow(dead_code)]
    exclude_apps_with_svix_play_endpoints: bool,
}

pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(filter): ApiQuery<ListAppParams>,
) -> ApiResult<Json<ListResponse<ApplicationOut>>> {
    let filter = ApplicationFilter {
        exclude_without_endpoints: filter.exclude_apps_with_no_endpoints,
        exclude_only_disabled: filter.exclude_apps_with_disabled_endpoints,
    };
    let page = state.store.list_applications(&params.to_query()?, &filter).await?;
    Ok(Json(ListResponse::from_page(page, ApplicationOut::from)))
}

pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<CreateParams>,
    ApiJson(body): ApiJson<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let (app, created) = state.service.create_application(body.into_data(), params.get_if_exists).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(app.into())))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(caller.application(&state, &app_id).await?.into()))
}

/// Updates an application, or creates it (201) with the path as its uid.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let existing = match caller.application(&state, &app_id).await {
        Ok(app) => Some(app),
        Err(crate::error::ApiError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let mut data = body.into_data();
    match existing {
        Some(app) => {
            data.uid = data.uid.or(app.uid.clone());
            Ok((StatusCode::OK, Json(state.service.update_application(&app, data).await?.into())))
        }
        None => {
            caller.require_admin()?;
            if data.uid.is_none() && !ApplicationId::looks_like(&app_id) {
                data.uid = Some(app_id);
            }
            let (app, _) = state.service.create_application(data, false).await?;
            Ok((StatusCode::CREATED, Json(app.into())))
        }
    }
}

pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<ApplicationPatch>,
) -> ApiResult<Json<ApplicationOut>> {
    let app = caller.application(&state, &app_id).await?;
    let data = ApplicationData {
        name: body.name.unwrap_or_else(|| app.name.clone()),
        uid: body.uid.unwrap_or_else(|| app.uid.clone()),
        metadata: body.metadata.unwrap_or_else(|| app.metadata.clone()),
        throttle_rate: body.throttle_rate.map_or(app.throttle_rate, |rate| rate.map(RateLimit::get)),
    };
    Ok(Json(state.service.update_application(&app, data).await?.into()))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    state.service.delete_application(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}
