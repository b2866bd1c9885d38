//! `/api/v1/app`: applications (tenants).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use hookd_core::{ApplicationId, Uid};
use hookd_store::{Application, ApplicationData, ApplicationFilter, Metadata};
use serde::{Deserialize, Serialize};

use super::{nullable, time, ListResponse, Problems, RateLimit};
use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ApiResult};
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
    id: String,
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

/// Validates the writable fields of an application.
pub fn validate(name: &str, uid: Option<&str>) -> ApiResult<()> {
    let mut p = Problems::default();
    if name.trim().is_empty() {
        p.add("name", "must not be empty");
    }
    if let Some(uid) = uid {
        if p.name("uid", Uid::parse(uid)).is_some() && ApplicationId::looks_like(uid) {
            p.add("uid", "must not look like an application id (app_…)");
        }
    }
    p.finish()
}

impl ApplicationIn {
    pub fn into_data(self) -> ApiResult<ApplicationData> {
        validate(&self.name, self.uid.as_deref())?;
        Ok(ApplicationData {
            uid: self.uid,
            name: self.name,
            metadata: self.metadata.unwrap_or_default(),
            throttle_rate: self.throttle_rate.map(RateLimit::get),
        })
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
    let data = body.into_data()?;
    if params.get_if_exists {
        if let Some(uid) = &data.uid {
            if let Ok(existing) = state.store.get_application(uid).await {
                return Ok((StatusCode::OK, Json(existing.into())));
            }
        }
    }
    let app = state.store.create_application(ApplicationId::generate().as_str(), &data).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
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
    let mut data = body.into_data()?;
    match existing {
        Some(app) => {
            data.uid = data.uid.or(app.uid);
            let app = state.store.update_application(&app.id, &data).await?;
            state.apps.forget();
            Ok((StatusCode::OK, Json(app.into())))
        }
        None => {
            caller.require_admin()?;
            if data.uid.is_none() && !ApplicationId::looks_like(&app_id) {
                validate(&data.name, Some(&app_id))?;
                data.uid = Some(app_id);
            }
            let app = state.store.create_application(ApplicationId::generate().as_str(), &data).await?;
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
        name: body.name.unwrap_or(app.name),
        uid: body.uid.unwrap_or(app.uid),
        metadata: body.metadata.unwrap_or(app.metadata),
        throttle_rate: body.throttle_rate.map_or(app.throttle_rate, |rate| rate.map(RateLimit::get)),
    };
    validate(&data.name, data.uid.as_deref())?;
    let app = state.store.update_application(&app.id, &data).await?;
    state.apps.forget();
    Ok(Json(app.into()))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    state.store.delete_application(&app.id).await?;
    state.apps.forget();
    Ok(StatusCode::NO_CONTENT)
}

/// Creates the application a request names by `path` (an id or uid) and did not find, as a
/// publish or a portal link may ask (Svix's `application` field): under the path's uid, which
/// must then be a valid one, unless `new` has its own. An id cannot be chosen, so a path that
/// looks like an application id stays a 404.
pub async fn create_at_path(state: &AppState, path: &str, new: ApplicationIn) -> ApiResult<Application> {
    if ApplicationId::looks_like(path) {
        return Err(ApiError::not_found("application"));
    }
    let mut data = new.into_data()?;
    if data.uid.is_none() {
        validate(&data.name, Some(path))?;
        data.uid = Some(path.to_owned());
    }
    Ok(state.store.create_application(ApplicationId::generate().as_str(), &data).await?)
}
