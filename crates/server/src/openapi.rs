//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of hookd's HTTP API, kept by hand
//! next to the routes it describes. A test (`tests/api.rs`) checks that it names exactly the
//! routes and methods the router serves.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}
