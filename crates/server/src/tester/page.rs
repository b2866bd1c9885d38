//! `GET /inbox/{id}?token=…`: the live view of an inbox, one HTML page with a little plain
//! JavaScript (no build step). The page embeds the newest requests as JSON and renders them,
//! and the ones arriving later, in the browser from the same JSON the API serves.
//!
//! The admin token comes in the page URL (`?token=`, or a bearer header) and is handed to the
//! script, which needs it for the live stream and the replay button. To keep it from leaking,
//! the page is sent with `Referrer-Policy: no-referrer` and `Cache-Control: no-store`, and a
//! per-response nonce in its Content-Security-Policy lets only its own script run.

use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hookd_core::id::min_body_at;
use hookd_core::time::now_ms;
use hookd_core::InboxRequestId;
use hookd_store::{ListQuery, Scope};

use super::inbox_api::{find_inbox, InboxRequestOut};
use super::token_of;
use crate::error::ApiError;
use crate::html::{escape_html, fill, html_response, json_for_script, nonce};
use crate::AppState;

const TEMPLATE: &str = include_str!("page.html");
/// Requests embedded in the page; older ones are in the API.
const SHOWN: u32 = 50;

pub async fn page(
    State(state): State<AppState>,
    Path(inbox_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match render(&state, &inbox_id, &headers, &uri).await {
        Ok(html) => html,
        Err(e) => error_page(e),
    }
}

async fn render(state: &AppState, inbox_id: &str, headers: &HeaderMap, uri: &Uri) -> Result<Response, ApiError> {
    let token = token_of(headers, uri)
        .ok_or(ApiError::Unauthorized("this page needs the admin token: open it as /inbox/{id}?token=<admin token>"))?;
    if state.auth.scope_of(&token, state).await? != Scope::Admin {
        return Err(ApiError::Forbidden("the webhook tester needs the admin token"));
    }
    let inbox = find_inbox(state, inbox_id).await?;
    let requests =
        state.store.list_inbox_requests(&inbox.id, &ListQuery { limit: SHOWN, cursor: None, order: None }).await?.data;
    // The stream continues after the newest request shown, or from now when there is none.
    let after = requests
        .first()
        .map_or_else(|| format!("{}{}", InboxRequestId::PREFIX, min_body_at(now_ms())), |r| r.id.to_string());
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let capture_url = format!("{}/in/{}", state.tester.base_url(&state.config, host), inbox.id);
    let data = serde_json::json!({
        "inboxId": inbox.id,
        "token": token,
        "streamPath": format!("/api/v1/inbox/{}/stream", inbox.id),
        "after": after,
        "requests": requests.into_iter().map(InboxRequestOut::from).collect::<Vec<_>>(),
    });
    let nonce = nonce();
    let title = inbox.name.clone().unwrap_or_else(|| inbox.id.to_string());
    let html = fill(
        TEMPLATE,
        &[
            ("%TITLE%", escape_html(&title)),
            ("%CAPTURE_URL%", escape_html(&capture_url)),
            ("%NONCE%", nonce.clone()),
            ("%DATA%", json_for_script(&data)),
        ],
    );
    Ok(html_response(StatusCode::OK, html, &nonce))
}

/// The API's errors, as a small HTML page with the same status.
fn error_page(e: ApiError) -> Response {
    let message = e.to_string();
    let status = e.into_response().status();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>hookd inbox</title></head>\
         <body><h1>{}</h1><p>{}</p></body></html>",
        status.as_u16(),
        escape_html(&message)
    );
    html_response(status, html, &nonce())
}
