//! The HTTP surface of hookd: the Svix-compatible API under `/api/v1`, bearer-token auth,
//! idempotency keys, health, Prometheus metrics (`/metrics`), the dashboard (`/`), the API's
//! OpenAPI description (`/api/v1/openapi.json`), and the webhook tester ([`tester`]: capture
//! URLs, inbox API, live stream and page).
//!
//! [`router`] builds the whole axum router from an [`AppState`]; the binary serves it and the
//! integration tests run exactly the same wiring.

pub mod api;
pub mod app_cache;
pub mod auth;
mod dashboard;
pub mod error;
pub mod extract;
mod html;
mod idempotency;
pub mod ingest;
mod metrics;
mod openapi;
pub use openapi::generate as openapi_document;
pub mod operational;
pub mod query_check;
pub mod service;
pub mod tester;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use hookd_core::metrics::Metrics;
use hookd_store::Store;

pub use auth::{generate_token, hash_token, Authenticator};

/// Settings of the HTTP surface.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Grace period of a rotated secret when the request does not say.
    pub default_rotation_grace_secs: u64,
    /// Base of the tester's public URLs (`{public_url}/in/{id}`), without a trailing slash;
    /// `None`: `http://` and the address served on.
    pub public_url: Option<String>,
    /// Largest body a capture URL records; a larger one is refused with 413.
    pub capture_max_body_bytes: usize,
    /// How long a capture waits for an attached `hookd listen` to relay the local response.
    pub relay_timeout: Duration,
    /// How the tester's replay leaves the process: which destinations it may reach, and any
    /// egress proxy.
    pub egress: hookd_http::Egress,
    /// Time limit of one replay.
    pub replay_timeout: Duration,
    /// The worker's time limit of one delivery attempt (`--request-timeout`), which an
    /// endpoint's own may shorten but not exceed.
    pub request_timeout: Duration,
    /// What one run of a transformation may use (`simulate`, and the check when saved).
    pub transformation: hookd_transform::Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            default_rotation_grace_secs: 24 * 3600,
            public_url: None,
            capture_max_body_bytes: 1024 * 1024,
            relay_timeout: Duration::from_secs(10),
            egress: hookd_http::Egress::default(),
            replay_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(15),
            transformation: hookd_transform::Limits::default(),
        }
    }
}

/// A crash point for tests: when `HOOKD_FAILPOINT` names `point`, the process aborts there,
/// as a crash or a kill would stop it (no answer, no clean-up). `tests/process.rs` uses it to
/// stop a node between a publish's commit and its answer. Read once; unset in production.
pub fn failpoint(point: &str) {
    static ARMED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if ARMED.get_or_init(|| std::env::var("HOOKD_FAILPOINT").ok()).as_deref() == Some(point) {
        eprintln!("hookd: failpoint {point} reached (HOOKD_FAILPOINT): aborting");
        std::process::abort();
    }
}

/// What every handler can reach. Cheap to clone (axum clones it for every request): the
/// parts live behind one reference count.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

/// The parts of `AppState`, which derefs to them.
pub struct AppParts {
    pub store: Store,
    pub auth: Authenticator,
    pub config: Arc<ServerConfig>,
    /// The webhook tester's live state (broadcast of captures, attached relays).
    pub tester: tester::Tester,
    /// Applications as publishes name them, for a moment.
    pub apps: app_cache::AppCache,
    /// Sources by their URL's token, for a moment.
    pub sources: app_cache::SourceCache,
    /// What this node counts for `/metrics` (shared with its worker).
    pub metrics: Arc<Metrics>,
    /// Where operational events go (shared with its worker).
    pub operational: Arc<operational::OperationalWebhooks>,
    /// The use cases: what handlers call for anything beyond a read.
    pub service: service::Service,
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Store,
        admin_token: &str,
        config: ServerConfig,
        metrics: Arc<Metrics>,
        operational: Arc<operational::OperationalWebhooks>,
    ) -> Self {
        let config = Arc::new(config);
        let tester = tester::Tester::new(&config);
        let apps = app_cache::AppCache::default();
        let sources = app_cache::SourceCache::default();
        let service = service::Service::new(service::Parts {
            store: store.clone(),
            config: config.clone(),
            metrics: metrics.clone(),
            operational: operational.clone(),
            apps: apps.clone(),
            sources: sources.clone(),
            replay: tester.sender.clone(),
        });
        Self(Arc::new(AppParts {
            store,
            auth: Authenticator::new(admin_token),
            tester,
            config,
            apps,
            sources,
            metrics,
            operational,
            service,
        }))
    }
}

/// The complete router. The tester's capture URLs and page sit outside the API's layers: a
/// capture needs no token, has its own body limit, and must not be replayed from an
/// idempotency key.
pub fn router(state: AppState) -> Router {
    let api = api::routes()
        .merge(tester::api_routes())
        .route_layer(middleware::from_fn(query_check::check))
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    // A capture answering 5xx is the inbox doing what it was told (or relaying the local
    // app), not a server failure, so those routes are traced without failure logging.
    let tester_public = tester::public_routes()
        .with_state(state.clone())
        .layer(tower_http::trace::TraceLayer::new_for_http().on_failure(()));
    let metrics = state.metrics.clone();
    ops_routes(state.clone())
        .route("/", get(dashboard::page))
        .route("/api/v1/openapi.json", get(openapi::document))
        .merge(api.with_state(state))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .merge(tester_public)
        .route_layer(middleware::from_fn_with_state(metrics, metrics::count_request))
}

/// Only the health and metrics routes: what a worker-only node serves.
pub fn health_router(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    ops_routes(state).route_layer(middleware::from_fn_with_state(metrics, metrics::count_request))
}

/// Health, metrics, and the answer to unknown routes.
fn ops_routes(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/health/ping", get(|| async { StatusCode::NO_CONTENT }))
        .route("/metrics", get(metrics::scrape))
        .fallback(not_found)
        .with_state(state)
}

/// 204 when the database answers, 503 otherwise.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    operation_id = "getHealth",
    tag = "health",
    summary = "Check health",
    description = "No token needed. Answers 204 when the database answers.",
    responses(
        (status = 204, description = "The server and its database are up."),
        (status = 503, description = "The database is unreachable (code unavailable).", body = crate::error::ErrorBody<'static>),
    ),
    security(),
)]
async fn health(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"code": "unavailable", "detail": "database is unreachable"})),
        )
            .into_response(),
    }
}

async fn not_found() -> error::ApiError {
    error::ApiError::NotFound("no such route".into())
}
