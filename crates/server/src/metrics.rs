//! `GET /metrics` and the middleware that counts HTTP requests.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookd_core::metrics::{self, Metrics};

use crate::auth::Admin;
use crate::error::ApiResult;
use crate::AppState;

/// The node's metrics for Prometheus. Admin token only: the counts describe every
/// application on the node.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "metrics",
    summary = "Scrape metrics",
    description = "Admin token only: the counts cover every application. The node's own counters since it started, in the OpenMetrics text format.",
    responses(
        (status = 200, description = "The metrics.", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
    ),
)]
pub async fn scrape(State(state): State<AppState>, _admin: Admin) -> ApiResult<Response> {
    Ok(([(CONTENT_TYPE, metrics::CONTENT_TYPE)], state.metrics.render()).into_response())
}

/// Counts a request under its route's template (so `/in/inb_…/x` and `/in/inb_…/y` are one
/// series), with its status and how long the answer took to start.
pub async fn count_request(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.http_request(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// The method as a label. Capture URLs take any method, and a method is any token the client
/// likes: unknown ones share one label, so that nobody can grow the series without bound.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] =
        [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::HEAD, Method::OPTIONS];
    KNOWN.iter().find(|m| *m == method).map_or("other", Method::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"PURGE").unwrap()), "other");
        assert_eq!(method_label(&Method::from_bytes(b"X-RANDOM-123").unwrap()), "other");
    }
}
