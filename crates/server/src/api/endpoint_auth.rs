//! `/api/v1/app/{app}/endpoint/{ep}/oauth` and `…/mtls`: how hookd proves itself to an
//! endpoint beyond the signature, with Svix's routes and shapes. What is secret (the client
//! secret, the private key) is written here and never read back.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use hookd_core::endpoint_auth::{AuthMethod, GrantType, MtlsConfig, OAuthConfig};
use serde::{Deserialize, Serialize};

use super::endpoints::caller_endpoint;
use super::Problems;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::AppState;

/// Svix's `EndpointOauthConfigIn`. Grant types and authentication methods hookd does not
/// implement are refused by name rather than ignored.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EndpointOauthConfigIn, description = "Svix's OAuth 2.0 settings for an endpoint.")]
pub struct OAuthIn {
    /// clientCredentials; refreshToken is refused with 422 (not supported by hookd).
    grant_type: String,
    /// How hookd authenticates to the token URL: clientSecretBasic (Authorization: Basic) or clientSecretPost (in the form body); clientSecretJwt is refused with 422.
    auth_method: String,
    #[schema(min_length = 1)]
    client_id: String,
    /// Required by clientSecretBasic and clientSecretPost. Never returned.
    client_secret: Option<String>,
    /// The authorization server's token URL (http or https); requested through the SSRF guard.
    token_url: String,
    /// Sent space-separated as scope.
    scopes: Option<Vec<String>>,
    /// Added to the token request's form body.
    extra_params: Option<BTreeMap<String, String>>,
    /// Added to the token request's headers.
    extra_headers: Option<BTreeMap<String, String>>,
    /// Only for clientSecretJwt: refused with 422.
    jwt_params: Option<serde_json::Value>,
    /// Only for the refreshToken grant: refused with 422.
    refresh_token: Option<String>,
}

/// Svix's `EndpointOauthConfigOut`: the settings without the client secret.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EndpointOauthConfigOut)]
pub struct OAuthOut {
    grant_type: GrantType,
    auth_method: AuthMethod,
    client_id: String,
    token_url: String,
    scopes: Option<Vec<String>>,
    extra_params: Option<BTreeMap<String, String>>,
    extra_headers: Option<BTreeMap<String, String>>,
}

impl From<OAuthConfig> for OAuthOut {
    fn from(c: OAuthConfig) -> Self {
        Self {
            grant_type: c.grant_type,
            auth_method: c.auth_method,
            client_id: c.client_id,
            token_url: c.token_url,
            scopes: c.scopes,
            extra_params: c.extra_params,
            extra_headers: c.extra_headers,
        }
    }
}

/// Svix's `EndpointOauthOut` and `EndpointMtlsOut`: whether it is set, and what may be shown.
#[derive(Serialize)]
pub struct Enabled<T> {
    enabled: bool,
    config: Option<T>,
}

/// `Enabled` in the document: utoipa drops the `null` of an `Option` of a generic parameter,
/// so each use is declared with its concrete type.
macro_rules! enabled_schema {
    ($name:ident, $config:ty, $description:literal) => {
        #[derive(utoipa::ToSchema)]
        #[schema(description = $description)]
        #[allow(dead_code)] // a declaration for the document
        pub struct $name {
            /// Whether it is set.
            enabled: bool,
            /// What may be shown of it; null when it is not set.
            #[schema(required = true)]
            config: Option<$config>,
        }
    };
}
enabled_schema!(
    EndpointOauthOut,
    OAuthOut,
    "Whether OAuth is set on the endpoint, and its settings without the secret."
);
enabled_schema!(EndpointMtlsOut, MtlsOut, "Whether mTLS is set on the endpoint.");

/// Svix's `EndpointMtlsConfigIn`, with hookd's `serverCaCert`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EndpointMtlsConfigIn)]
pub struct MtlsIn {
    /// PEM: the private key and the certificate (chain) hookd presents. Never returned.
    identity: String,
    /// hookd extension. PEM: certificates trusted to sign the endpoint's server certificate, besides the public roots (a private PKI).
    server_ca_cert: Option<String>,
}

/// Svix's `EndpointMtlsConfigOut` (empty: the identity is secret), with hookd's
/// `serverCaCert`, which is not.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EndpointMtlsConfigOut)]
pub struct MtlsOut {
    /// hookd extension: the server CA given, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    server_ca_cert: Option<String>,
}

impl OAuthIn {
    fn check(self) -> ApiResult<OAuthConfig> {
        let mut p = Problems::default();
        let grant_type = match self.grant_type.as_str() {
            "clientCredentials" => Some(GrantType::ClientCredentials),
            "refreshToken" => {
                p.add("grantType", "the refreshToken grant is not supported by hookd (clientCredentials is)");
                None
            }
            other => {
                p.add("grantType", format!("unknown grant type '{other}' (hookd supports clientCredentials)"));
                None
            }
        };
        let auth_method = match self.auth_method.as_str() {
            "clientSecretBasic" => Some(AuthMethod::ClientSecretBasic),
            "clientSecretPost" => Some(AuthMethod::ClientSecretPost),
            "clientSecretJwt" => {
                p.add(
                    "authMethod",
                    "clientSecretJwt is not supported by hookd (clientSecretBasic and clientSecretPost are)",
                );
                None
            }
            other => {
                p.add("authMethod", format!("unknown method '{other}' (clientSecretBasic or clientSecretPost)"));
                None
            }
        };
        if self.jwt_params.as_ref().is_some_and(|v| !v.is_null()) {
            p.add("jwtParams", "only for clientSecretJwt, which hookd does not support");
        }
        if self.refresh_token.is_some() {
            p.add("refreshToken", "only for the refreshToken grant, which hookd does not support");
        }
        if self.client_id.is_empty() {
            p.add("clientId", "must not be empty");
        }
        let client_secret = self.client_secret.unwrap_or_default();
        if client_secret.is_empty() {
            p.add("clientSecret", "required by clientSecretBasic and clientSecretPost");
        }
        p.url("tokenUrl", &self.token_url);
        if let Some(headers) = &self.extra_headers {
            p.delivery_headers("extraHeaders", headers);
        }
        for (i, scope) in self.scopes.iter().flatten().enumerate() {
            if scope.is_empty() || scope.contains(' ') || scope.chars().any(char::is_control) {
                p.add(&format!("scopes.{i}"), "a scope is a non-empty word without spaces");
            }
        }
        for (key, _) in self.extra_params.iter().flatten() {
            if matches!(key.as_str(), "grant_type" | "client_id" | "client_secret" | "scope") {
                p.add(&format!("extraParams.{key}"), "set by hookd from the other fields");
            }
        }
        p.finish()?;
        Ok(OAuthConfig {
            grant_type: grant_type.expect("checked"),
            auth_method: auth_method.expect("checked"),
            client_id: self.client_id,
            client_secret,
            token_url: self.token_url,
            scopes: self.scopes,
            extra_params: self.extra_params,
            extra_headers: self.extra_headers,
        })
    }
}

/// `GET …/oauth`: the settings, without the client secret; 404 when there are none.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/oauth",
    operation_id = "getEndpointOauth",
    tag = "endpoint",
    summary = "Get an endpoint's OAuth settings",
    description = "404 when the endpoint has none.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The settings, without the client secret.", body = OAuthOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_oauth(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<OAuthOut>> {
    let endpoint = caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?;
    let config = endpoint.oauth.ok_or_else(|| ApiError::not_found("the endpoint's OAuth settings"))?;
    Ok(Json(config.into()))
}

/// `GET …/oauth-config`: whether OAuth is on, and its settings without the secret.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/oauth-config",
    operation_id = "getEndpointOauthEnabled",
    tag = "endpoint",
    summary = "Whether an endpoint uses OAuth",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "Whether it is on, and its settings without the secret.", body = EndpointOauthOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_oauth_enabled(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<Enabled<OAuthOut>>> {
    let endpoint = caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?;
    Ok(Json(Enabled { enabled: endpoint.oauth.is_some(), config: endpoint.oauth.map(Into::into) }))
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/oauth",
    operation_id = "setEndpointOauth",
    tag = "endpoint",
    summary = "Set an endpoint's OAuth settings",
    description = "hookd fetches a token from tokenUrl with the client credentials grant (through the SSRF guard), keeps it until it expires, sends it as Authorization: Bearer, and fetches a new one when the endpoint answers 401. The refreshToken grant and the clientSecretJwt method are refused with 422.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    request_body = OAuthIn,
    responses(
        (status = 204, description = "Set: deliveries now carry a bearer token from the token URL."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn put_oauth(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<OAuthIn>,
) -> ApiResult<StatusCode> {
    let endpoint = caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?;
    let config = body.check()?;
    state.service.set_endpoint_oauth(&endpoint, Some(&config)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/oauth",
    operation_id = "deleteEndpointOauth",
    tag = "endpoint",
    summary = "Remove an endpoint's OAuth settings",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn delete_oauth(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let endpoint = caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?;
    state.service.set_endpoint_oauth(&endpoint, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET …/mtls`: `{}` (the identity is never shown) and hookd's `serverCaCert`; 404 when
/// there is no identity.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls",
    operation_id = "getEndpointMtls",
    tag = "endpoint",
    summary = "Get an endpoint's TLS client identity",
    description = "404 when the endpoint has none.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "Never the identity itself; the server CA when set.", body = MtlsOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_mtls(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<MtlsOut>> {
    let endpoint = caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?;
    let config = endpoint.mtls.ok_or_else(|| ApiError::not_found("the endpoint's TLS client identity"))?;
    Ok(Json(MtlsOut { server_ca_cert: config.server_ca_cert }))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls-config",
    operation_id = "getEndpointMtlsEnabled",
    tag = "endpoint",
    summary = "Whether an endpoint uses a TLS client identity",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "Whether it is on.", body = EndpointMtlsOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get_mtls_enabled(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<Enabled<MtlsOut>>> {
    let endpoint = caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?;
    let config = endpoint.mtls.map(|c| MtlsOut { server_ca_cert: c.server_ca_cert });
    Ok(Json(Enabled { enabled: config.is_some(), config }))
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls",
    operation_id = "setEndpointMtls",
    tag = "endpoint",
    summary = "Set an endpoint's TLS client identity",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    request_body = MtlsIn,
    responses(
        (status = 204, description = "Set: deliveries present this client certificate."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn put_mtls(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<MtlsIn>,
) -> ApiResult<StatusCode> {
    let endpoint = caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?;
    let config = MtlsConfig { identity: body.identity, server_ca_cert: body.server_ca_cert };
    state.service.set_endpoint_mtls(&endpoint, Some(&config)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls",
    operation_id = "deleteEndpointMtls",
    tag = "endpoint",
    summary = "Remove an endpoint's TLS client identity",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn delete_mtls(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let endpoint = caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?;
    state.service.set_endpoint_mtls(&endpoint, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
