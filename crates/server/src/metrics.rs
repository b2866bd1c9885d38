//! `GET /metrics` and the middleware that counts HTTP requests.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookd_core::metrics::{self, Metrics};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::AppState;

/// The node's metrics for Prometheus. Admin token only: the counts describe every
/// application on the node.
pub async fn scrape(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require_admin()?;
    Ok(([(CONTENT_TYPE, metrics::CONTENT_TYPE)], state.metrics.render()).into_response())
}

/// Counts a request under its route's template (so `/in/inb_…/x` and `/in/inb_…/y` are one
/// series), with its status and how long the answer took to start.
pub async fn count_request(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.http_request(method.as_str(), &route, response.status().as_u16(), started.elapsed());
    response
}
