//! `/api/v1/app/{app}/endpoint/{ep}/transformation`: an endpoint's JavaScript
//! `handler(webhook)` (see hookd-transform), with Svix's routes and shapes, and `…/simulate`
//! to try code on a payload without sending anything.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use hookd_core::time::now_ms;
use hookd_store::{Endpoint, Transformation};
use hookd_transform::{Limits, TransformError, Webhook};
use serde::{Deserialize, Serialize};

use super::endpoints::caller_endpoint;
use super::{nullable, time, Problems};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::AppState;

/// Svix's `EndpointTransformationOut`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EndpointTransformationOut)]
pub struct TransformationOut {
    code: Option<String>,
    enabled: bool,
    /// Always null in hookd.
    variables: Option<BTreeMap<String, String>>,
    updated_at: Option<DateTime<Utc>>,
}

/// Svix's `EndpointTransformationPatch`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EndpointTransformationPatch)]
pub struct TransformationPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_length = 10, max_length = 51200)]
    code: Option<Option<String>>,
    enabled: Option<bool>,
    /// Svix's transformation variables: not supported by hookd, refused with 422 when not empty.
    variables: Option<BTreeMap<String, String>>,
}

/// Svix's `TransformationSimulateIn`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TransformationSimulateIn)]
pub struct SimulateIn {
    #[schema(min_length = 10, max_length = 51200)]
    code: String,
    #[schema(max_length = 256, pattern = "^[a-zA-Z0-9\\-_.]+$")]
    event_type: String,
    payload: serde_json::Map<String, serde_json::Value>,
    /// A handler sees no channels: anything but absent, null or empty is refused with 422.
    channels: Option<Vec<String>>,
    /// Svix's transformation variables: not supported by hookd, refused with 422 when not empty.
    variables: Option<BTreeMap<String, String>>,
}

/// Svix's `TransformationSimulateOut`, with the headers the delivery would carry (hookd).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TransformationSimulateOut)]
pub struct SimulateOut {
    url: String,
    /// The body as it would be sent.
    payload: String,
    method: String,
    cancel: bool,
    /// hookd extension: the endpoint's headers as the code left them.
    headers: BTreeMap<String, String>,
}

/// Svix lets code read `variables`; hookd does not have them, and says so rather than
/// dropping them.
fn refuse_variables(p: &mut Problems, variables: &Option<BTreeMap<String, String>>) {
    if variables.as_ref().is_some_and(|v| !v.is_empty()) {
        p.add("variables", "transformation variables are not supported by hookd; put the values in the code");
    }
}

/// Compiles `code` (on a blocking thread: it runs the engine) and records why it does not.
async fn check_code(p: &mut Problems, code: &str, limits: Limits) {
    let code = code.to_owned();
    let checked = tokio::task::spawn_blocking(move || hookd_transform::check(&code, limits)).await;
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(e)) => p.add("code", e.to_string()),
        Err(e) => p.add("code", format!("could not be checked: {e}")),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation",
    operation_id = "getEndpointTransformation",
    tag = "endpoint",
    summary = "Get an endpoint's transformation",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    responses(
        (status = 200, description = "The code, whether it runs, and when it was last changed.", body = TransformationOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<TransformationOut>> {
    Ok(Json(out(caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?)))
}

/// The transformation of an endpoint, as `GET` shows it (also for a source's endpoint).
pub(super) fn out(endpoint: Endpoint) -> TransformationOut {
    let t = endpoint.transformation;
    TransformationOut {
        code: t.as_ref().and_then(|t| t.code.clone()),
        enabled: t.as_ref().is_some_and(|t| t.enabled),
        variables: None,
        updated_at: t.map(|t| time(t.updated_at)),
    }
}

/// `PATCH`: sets the code (checked: it must compile and define `handler`), unsets it with
/// `null`, and turns it on or off; what is absent stays.
#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation",
    operation_id = "patchEndpointTransformation",
    tag = "endpoint",
    summary = "Set, unset, enable or disable an endpoint's transformation",
    description = "code: a JavaScript function handler(webhook) that receives {eventType, payload, url, method, headers, cancel} and returns it changed; it must compile and define handler (422 otherwise); null unsets it. enabled: whether deliveries run it. Absent fields stay as they are.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    request_body = TransformationPatch,
    responses(
        (status = 204, description = "Saved."),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<TransformationPatch>,
) -> ApiResult<StatusCode> {
    apply(&state, &caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?, body).await
}

/// Applies a `PATCH` to an endpoint's transformation (also a source's endpoint's).
pub(super) async fn apply(state: &AppState, endpoint: &Endpoint, body: TransformationPatch) -> ApiResult<StatusCode> {
    let mut p = Problems::default();
    refuse_variables(&mut p, &body.variables);
    if let Some(Some(code)) = &body.code {
        check_code(&mut p, code, state.config.transformation).await;
    }
    p.finish()?;
    let current =
        endpoint.transformation.clone().unwrap_or(Transformation { code: None, enabled: false, updated_at: 0 });
    let next = Transformation {
        code: body.code.unwrap_or(current.code),
        enabled: body.enabled.unwrap_or(current.enabled),
        updated_at: now_ms(),
    };
    state.service.set_endpoint_transformation(endpoint, &next).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/simulate`: runs `code` on the payload as a delivery to this endpoint would, and
/// answers what would be sent; nothing is sent or stored. A failing run is a 422 that says
/// why (its exception, its CPU budget, its memory cap).
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation/simulate",
    operation_id = "simulateEndpointTransformation",
    tag = "endpoint",
    summary = "Try a transformation on a payload",
    description = "Runs code on the payload as a delivery to this endpoint would (its URL and headers), under the same CPU budget and memory cap, and answers what would be sent. Nothing is sent or saved. A run that fails is a 422 on code that says why.",
    params(crate::openapi::params::AppId, crate::openapi::params::EndpointId),
    request_body = SimulateIn,
    responses(
        (status = 200, description = "What would be sent.", body = SimulateOut),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
)]
pub async fn simulate(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<SimulateIn>,
) -> ApiResult<Json<SimulateOut>> {
    let endpoint = caller_endpoint(&state, &caller, &app_id, &endpoint_id).await?;
    let mut p = Problems::default();
    refuse_variables(&mut p, &body.variables);
    p.name("eventType", hookd_core::EventTypeName::parse(&body.event_type));
    // A handler is given no channels (nor does a delivery's), so channels could change
    // nothing here: refused rather than ignored.
    if body.channels.as_ref().is_some_and(|c| !c.is_empty()) {
        p.add("channels", "a transformation does not see channels; leave them out");
    }
    p.finish()?;
    let webhook = Webhook {
        event_type: body.event_type,
        payload: serde_json::Value::Object(body.payload),
        url: endpoint.url.clone(),
        method: "POST".into(),
        headers: endpoint.headers.clone(),
        cancel: false,
    };
    let (code, limits) = (body.code, state.config.transformation);
    let ran = tokio::task::spawn_blocking(move || hookd_transform::run(&code, &webhook, limits))
        .await
        .unwrap_or_else(|e| Err(TransformError::Engine(e.to_string())));
    let out = ran.map_err(|e: TransformError| {
        let mut p = Problems::default();
        p.add("code", e.to_string());
        p.finish().expect_err("one problem")
    })?;
    let payload = match out.payload {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    };
    Ok(Json(SimulateOut { url: out.url, payload, method: out.method, cancel: out.cancel, headers: out.headers }))
}
