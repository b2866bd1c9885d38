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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "Fields to create or replace an application.")]
pub struct ApplicationIn {
    /// Display name; must not be blank (only whitespace).
    #[schema(
        min_length = 1,
        pattern = "^[\\s\\S]*[^\\t\\n\\x0B\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][\\s\\S]*$"
    )]
    pub name: String,
    /// A unique identifier chosen by the caller, usable in paths instead of the id. 1 to 256 characters of letters, digits, '-', '_' and '.'; must not look like an application id (app_…).
    #[schema(min_length = 1, max_length = 256, pattern = "^(?!app_[0-9A-HJKMNP-TV-Z]{26}$)[a-zA-Z0-9_.-]+$")]
    pub uid: Option<String>,
    /// Free-form string key/value pairs. Absent or null stores an empty map.
    #[schema(value_type = Option<crate::openapi::schemas::Metadata>)]
    pub metadata: Option<Metadata>,
    /// Maximum deliveries per second for each endpoint of this application (1 to 65535); null means no limit. `rateLimit` is accepted as an alias of this field (send only one of the two).
    #[serde(alias = "rateLimit")]
    #[schema(minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<RateLimit>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "Fields to change on an application; absent fields are kept.")]
pub struct ApplicationPatch {
    /// New display name, not blank; absent or null keeps the current one.
    #[schema(
        min_length = 1,
        pattern = "^[\\s\\S]*[^\\t\\n\\x0B\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][\\s\\S]*$"
    )]
    name: Option<String>,
    /// New uid; null removes it, absent keeps it. Same rules as on create (must not look like app_…).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_length = 1, max_length = 256, pattern = "^(?!app_[0-9A-HJKMNP-TV-Z]{26}$)[a-zA-Z0-9_.-]+$")]
    uid: Option<Option<String>>,
    /// Replaces the metadata; absent or null keeps it.
    #[schema(value_type = Option<crate::openapi::schemas::Metadata>)]
    metadata: Option<Metadata>,
    /// New rate limit (1 to 65535 deliveries per second); null removes the limit, absent keeps it. `rateLimit` is accepted as an alias.
    #[serde(default, deserialize_with = "nullable", alias = "rateLimit")]
    #[schema(minimum = 1, maximum = 65535)]
    throttle_rate: Option<Option<RateLimit>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "An application (a tenant that owns endpoints and messages).")]
pub struct ApplicationOut {
    /// Application id (app_…).
    id: ApplicationId,
    /// The caller-chosen unique identifier, if any.
    #[schema(required = true)]
    uid: Option<String>,
    /// Display name.
    name: String,
    #[schema(value_type = crate::openapi::schemas::Metadata)]
    metadata: Metadata,
    /// Deliveries per second allowed to each endpoint; null when unlimited.
    #[schema(required = true)]
    throttle_rate: Option<i64>,
    /// Same value as throttleRate (older Svix name).
    #[schema(required = true)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateParams {
    /// Return the existing application when the uid is taken.
    #[param(default = false)]
    #[serde(default)]
    get_if_exists: bool,
}

/// Svix's filters of the application list. hookd has no Svix Play endpoints, so
/// `exclude_apps_with_svix_play_endpoints` leaves nothing out (and is read, so that a
/// malformed value is refused).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAppParams {
    /// true leaves out applications without endpoints.
    #[param(default = false)]
    #[serde(default)]
    exclude_apps_with_no_endpoints: bool,
    /// true leaves out applications whose endpoints are all disabled.
    #[param(default = false)]
    #[serde(default)]
    exclude_apps_with_disabled_endpoints: bool,
    /// Accepted for Svix's SDKs; hookd has no Svix Play endpoints, so it leaves nothing out.
    #[param(default = false)]
    #[serde(default)]
    #[allow(dead_code)]
    exclude_apps_with_svix_play_endpoints: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/app",
    operation_id = "listApplications",
    tag = "application",
    summary = "List applications",
    description = "Admin token only. Newest first.",
    params(crate::openapi::params::Limit, crate::openapi::params::Iterator, crate::openapi::params::Order, ListAppParams),
    responses(
        (status = 200, description = "A page of applications.", body = ListResponse<ApplicationOut>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/app",
    operation_id = "createApplication",
    tag = "application",
    summary = "Create an application",
    description = "Admin token only. With get_if_exists=true and a uid that is already taken, the existing application is returned with 200 instead of a 409.",
    params(CreateParams, crate::openapi::params::IdempotencyKey),
    request_body = ApplicationIn,
    responses(
        (status = 200, description = "The existing application with this uid (only with get_if_exists=true).", body = ApplicationOut),
        (status = 201, description = "The application was created.", body = ApplicationOut),
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
    ApiQuery(params): ApiQuery<CreateParams>,
    ApiJson(body): ApiJson<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let (app, created) = state.service.create_application(body.into_data(), params.get_if_exists).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(app.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}",
    operation_id = "getApplication",
    tag = "application",
    summary = "Get an application",
    params(crate::openapi::params::AppId),
    responses(
        (status = 200, description = "The application.", body = ApplicationOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(caller.application(&state, &app_id).await?.into()))
}

/// Updates an application, or creates it (201) with the path as its uid.
#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}",
    operation_id = "updateApplication",
    tag = "application",
    summary = "Update or create an application",
    description = "Replaces the application's fields; a uid not given keeps the current one. When the application does not exist it is created (admin token only), with the path value as its uid unless the body has one or the value looks like an application id.",
    params(crate::openapi::params::AppId),
    request_body = ApplicationIn,
    responses(
        (status = 200, description = "The application was updated.", body = ApplicationOut),
        (status = 201, description = "The application was created.", body = ApplicationOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
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

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}",
    operation_id = "patchApplication",
    tag = "application",
    summary = "Partially update an application",
    params(crate::openapi::params::AppId),
    request_body = ApplicationPatch,
    responses(
        (status = 200, description = "The updated application.", body = ApplicationOut),
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

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}",
    operation_id = "deleteApplication",
    tag = "application",
    summary = "Delete an application",
    description = "Deletes the application with its endpoints and messages.",
    params(crate::openapi::params::AppId),
    responses(
        (status = 204, description = "The application was deleted."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = caller.application(&state, &app_id).await?;
    state.service.delete_application(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}
