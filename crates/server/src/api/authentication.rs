//! Consumer portal access (Svix's authentication routes): an admin asks for a link that lets
//! one application's owner into the dashboard, and that owner can log the link's token out.
//!
//! The link carries an application token that expires (1 hour to 7 days, 7 by default) in its
//! URL fragment (`/#key=…&app=…`), which browsers never send to the server, so it does not end
//! up in access logs; the dashboard moves it into the tab's session storage and out of the URL.

use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use hookd_store::Scope;
use serde::{Deserialize, Serialize};

use super::applications::ApplicationIn;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{bearer, ApiJson};
use crate::AppState;

/// What Svix's SDKs send. `capabilities`, `featureFlags`, `readOnly` and `sessionId` are
/// accepted and not enforced: the token reaches the whole application, like one made with
/// `hookd token create --app`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(
    description = "Svix's other fields (`capabilities`, `featureFlags`, `readOnly`, `sessionId`) are accepted and not enforced: the token reaches the whole application."
)]
pub struct AppPortalAccessIn {
    /// Creates the application when the path names none (under the path's uid, which must then be valid).
    application: Option<ApplicationIn>,
    /// Lifetime of the token in seconds: 1 hour to 7 days. Default: 7 days.
    #[schema(minimum = 3600, maximum = 604800)]
    expiry: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AppPortalAccessOut {
    /// The dashboard, signed in as the application's owner.
    url: String,
    /// The application token in the link (`sk_app_…`).
    token: String,
}

/// `POST /api/v1/auth/app-portal-access/{app_id}`: a link into the dashboard for one
/// application, with a new token scoped to it. Admin token only.
#[utoipa::path(
    post,
    path = "/api/v1/auth/app-portal-access/{app_id}",
    operation_id = "appPortalAccess",
    tag = "authentication",
    summary = "Make a consumer portal link",
    description = "Makes a new token that reaches only this application and expires (after `expiry` seconds, 7 days by default), and a link into the dashboard that signs in with it: `{base}/#key={token}&app={app id}`. The token travels in the URL fragment, which browsers do not send to the server. Admin token only. When the application does not exist and `application` is given, it is created under the path's uid.",
    params(crate::openapi::params::AppId, crate::openapi::params::IdempotencyKey),
    request_body = AppPortalAccessIn,
    responses(
        (status = 200, description = "The link and its token.", body = AppPortalAccessOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn app_portal_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AppPortalAccessIn>,
) -> ApiResult<Json<AppPortalAccessOut>> {
    portal_link(&state, &caller, &app_id, &headers, body).await.map(Json)
}

/// `POST /api/v1/auth/dashboard-access/{app_id}`, the older form of the same that Svix's
/// SDKs still offer: no body, a link valid for 7 days.
#[utoipa::path(
    post,
    path = "/api/v1/auth/dashboard-access/{app_id}",
    operation_id = "dashboardAccess",
    tag = "authentication",
    summary = "Get a dashboard link for an application (older form)",
    description = "The older form of app-portal-access that Svix's SDKs still offer: no body; the link's token expires in 7 days.",
    params(crate::openapi::params::AppId, crate::openapi::params::IdempotencyKey),
    responses(
        (status = 200, description = "The link and its token.", body = AppPortalAccessOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn dashboard_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<AppPortalAccessOut>> {
    portal_link(&state, &caller, &app_id, &headers, AppPortalAccessIn::default()).await.map(Json)
}

async fn portal_link(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    headers: &HeaderMap,
    body: AppPortalAccessIn,
) -> ApiResult<AppPortalAccessOut> {
    caller.require_admin()?;
    let create = body.application.map(ApplicationIn::into_data);
    let (app, token) = state.service.portal_token(app_id, create, body.expiry).await?;
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let url = format!("{}/#key={token}&app={}", state.tester.base_url(&state.config, host), app.id);
    Ok(AppPortalAccessOut { url, token })
}

/// `POST /api/v1/auth/logout`: deletes the application token the request carries. The admin
/// token is configuration, not a session: it cannot be logged out.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    operation_id = "logout",
    tag = "authentication",
    summary = "Log out an application token",
    description = "Deletes the application token the request is made with; it stops working at once on this node and within 10 seconds on the others. The admin token cannot be logged out (403).",
    params(crate::openapi::params::IdempotencyKey),
    responses(
        (status = 204, description = "The token is deleted."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn logout(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult<StatusCode> {
    if caller.0 == Scope::Admin {
        return Err(ApiError::Forbidden("the admin token cannot be logged out; only application tokens can"));
    }
    let token = bearer(headers.get(AUTHORIZATION)).ok_or(ApiError::Unauthorized("missing bearer token"))?;
    state.service.revoke_token(&token).await?;
    state.auth.forget(&token);
    Ok(StatusCode::NO_CONTENT)
}
