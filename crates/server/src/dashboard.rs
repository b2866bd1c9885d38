//! `GET /`: the dashboard, one HTML page with a little plain JavaScript (no build step) that
//! browses the API: applications, their endpoints (with delivery counts, a switch to disable
//! or enable each, its secret on demand, and a form to add one), their messages, and a
//! message's payload, destinations and attempts, with a resend button per destination.
//!
//! The page itself holds no data and needs no token; the user signs in with a token that the
//! script keeps in the tab's session storage and sends only to this server's API, so what a
//! token may see is exactly what the API lets it see.

use axum::http::StatusCode;
use axum::response::Response;

use crate::html::{fill, html_response, nonce};

const TEMPLATE: &str = include_str!("dashboard.html");

pub async fn page() -> Response {
    let nonce = nonce();
    html_response(StatusCode::OK, fill(TEMPLATE, &[("%NONCE%", nonce.clone())]), &nonce)
}
