//! The Svix-compatible API (`/api/v1`). One module per resource; each holds its wire types
//! (`…In`, `…Out`, as in Svix's OpenAPI document) and handlers.

pub(crate) mod applications;
pub(crate) mod attempts;
pub(crate) mod authentication;
pub(crate) mod endpoint_auth;
pub(crate) mod endpoints;
pub(crate) mod event_types;
pub(crate) mod messages;
pub(crate) mod operational_endpoints;
pub(crate) mod sources;
pub(crate) mod transformations;

use axum::routing::{delete, get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use hookd_store::Page;
use serde::{Deserialize, Deserializer, Serialize};

pub use crate::service::Problems;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    use applications as apps;
    use attempts as att;
    use endpoint_auth as auth;
    use endpoints as eps;
    use event_types as et;
    use messages as msgs;
    use operational_endpoints as ops;
    use sources as src;
    use transformations as tf;
    Router::new()
        .route("/api/v1/app", get(apps::list).post(apps::create))
        .route("/api/v1/app/{app_id}", get(apps::get).put(apps::put).patch(apps::patch).delete(apps::delete))
        .route("/api/v1/event-type", get(et::list).post(et::create))
        .route("/api/v1/event-type/{name}", get(et::get).put(et::put).patch(et::patch).delete(et::delete))
        .route("/api/v1/event-type/{name}/retry-schedule", get(et::get_retry_schedule).put(et::put_retry_schedule))
        .route("/api/v1/app/{app_id}/endpoint", get(eps::list).post(eps::create))
        .route(
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
            get(eps::get).put(eps::put).patch(eps::patch).delete(eps::delete),
        )
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", get(eps::get_secret))
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", post(eps::rotate_secret))
        .route(
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
            get(eps::get_headers).put(eps::put_headers).patch(eps::patch_headers),
        )
        .route(
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/oauth",
            get(auth::get_oauth).put(auth::put_oauth).delete(auth::delete_oauth),
        )
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/oauth-config", get(auth::get_oauth_enabled))
        .route(
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls",
            get(auth::get_mtls).put(auth::put_mtls).delete(auth::delete_mtls),
        )
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls-config", get(auth::get_mtls_enabled))
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", get(tf::get).patch(tf::patch))
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation/simulate", post(tf::simulate))
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", get(eps::stats))
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", post(eps::recover))
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example", post(eps::send_example))
        .route("/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg", get(att::list_endpoint_messages))
        .route("/api/v1/app/{app_id}/msg", get(msgs::list).post(msgs::create))
        .route("/api/v1/app/{app_id}/msg/{msg_id}", get(msgs::get))
        .route("/api/v1/app/{app_id}/msg/{msg_id}/content", delete(msgs::expunge_content))
        .route("/api/v1/app/{app_id}/msg/{msg_id}/endpoint", get(att::list_destinations))
        .route("/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", post(att::resend))
        .route(
            "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/attempt",
            get(att::list_by_message_and_endpoint),
        )
        .route("/api/v1/app/{app_id}/msg/{msg_id}/attempt", get(att::list_by_message))
        .route("/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", get(att::get))
        .route("/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", delete(att::expunge_content))
        .route("/api/v1/app/{app_id}/attempt/msg/{msg_id}", get(att::list_by_message))
        .route("/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", get(att::list_by_endpoint))
        .route("/api/v1/auth/app-portal-access/{app_id}", post(authentication::app_portal_access))
        .route("/api/v1/auth/dashboard-access/{app_id}", post(authentication::dashboard_access))
        .route("/api/v1/auth/logout", post(authentication::logout))
        .route("/api/v1/operational-webhook/endpoint", get(ops::list).post(ops::create))
        .route("/api/v1/operational-webhook/endpoint/{endpoint_id}", get(ops::get).put(ops::put).delete(ops::delete))
        .route("/api/v1/operational-webhook/endpoint/{endpoint_id}/secret", get(ops::get_secret))
        .route("/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate", post(ops::rotate_secret))
        .route(
            "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers",
            get(ops::get_headers).put(ops::put_headers),
        )
        .route("/ingest/api/v1/source", get(src::list).post(src::create))
        .route("/api/v1/inbox/{inbox_id}/source", post(src::from_inbox))
        .route("/ingest/api/v1/source/{source_id}", get(src::get).put(src::put).patch(src::patch).delete(src::delete))
        .route("/ingest/api/v1/source/{source_id}/token/rotate", post(src::rotate_token))
        .route("/ingest/api/v1/source/{source_id}/log", get(src::list_log))
        .route("/ingest/api/v1/source/{source_id}/request", get(src::list_requests))
        .route("/ingest/api/v1/source/{source_id}/request/{msg_id}/replay", post(src::replay_request))
        .route("/ingest/api/v1/source/{source_id}/replay", post(src::replay_window))
        .route("/ingest/api/v1/source/{source_id}/endpoint", get(src::list_endpoints).post(src::create_endpoint))
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
            get(src::get_endpoint).put(src::put_endpoint).delete(src::delete_endpoint),
        )
        .route("/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret", get(src::get_endpoint_secret))
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret/rotate",
            post(src::rotate_endpoint_secret),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
            get(src::get_endpoint_headers).put(src::put_endpoint_headers),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation",
            get(src::get_endpoint_transformation).patch(src::patch_endpoint_transformation),
        )
}

/// Svix's list envelope.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

impl<T> ListResponse<T> {
    pub fn from_page<S>(page: Page<S>, f: impl FnMut(S) -> T) -> Self {
        Self {
            data: page.data.into_iter().map(f).collect(),
            iterator: page.iterator,
            prev_iterator: page.prev_iterator,
            done: page.done,
        }
    }
}

/// Stored milliseconds as an API date-time.
pub fn time(ms: i64) -> DateTime<Utc> {
    hookd_core::time::from_ms(ms)
}

/// For PATCH fields where `null` (clear) differs from absent (keep): absent → `None`,
/// `null` → `Some(None)`, a value → `Some(Some(v))`. Use with `#[serde(default)]`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A date-time in a request, as chrono reads it (RFC 3339). Parsed here rather than by chrono's
/// own serde support so that a refusal names the format expected: chrono alone says only
/// "premature end of input" and the like.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String")]
#[schema(description = "A date-time (RFC 3339).")]
pub struct Timestamp(DateTime<Utc>);

impl TryFrom<String> for Timestamp {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse().map(Self).map_err(|e| format!("must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z ({e})"))
    }
}

impl Timestamp {
    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0.timestamp_millis()
    }
}

/// Deliveries per second (`rateLimit`, or its alias `throttleRate`), 1 to 65535. Checked while
/// the body is read, so that a refusal names the field as the caller spelled it.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "i64")]
#[schema(minimum = 1, maximum = 65535, description = "Deliveries per second, 1 to 65535.")]
pub struct RateLimit(i64);

impl TryFrom<i64> for RateLimit {
    type Error = &'static str;

    fn try_from(per_second: i64) -> Result<Self, Self::Error> {
        if (1..=65535).contains(&per_second) {
            Ok(Self(per_second))
        } else {
            Err("must be between 1 and 65535 deliveries per second")
        }
    }
}

impl RateLimit {
    pub fn get(self) -> i64 {
        self.0
    }
}
