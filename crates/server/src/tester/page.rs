//! `GET /inbox/{id}?token=…`: the live view of an inbox, one HTML page with a little plain
//! JavaScript (no build step). The page embeds the newest requests as JSON and renders them,
//! and the ones arriving later, in the browser from the same JSON the API serves.
//!
//! The admin token comes in the page URL (`?token=`, or a bearer header) and is handed to the
//! script, which needs it for the live stream and the replay button. To keep it from leaking,
//! the page is sent with `Referrer-Policy: no-referrer` and `Cache-Control: no-store`, and a
//! per-response nonce in its Content-Security-Policy lets only its own script run.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, REFERRER_POLICY};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hookd_core::id::min_body_at;
use hookd_core::time::now_ms;
use hookd_core::InboxRequestId;
use hookd_store::{ListQuery, Scope};
use rand::RngCore;

use super::inbox_api::{find_inbox, InboxRequestOut};
use super::token_of;
use crate::error::ApiError;
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
    let requests = state.store.list_inbox_requests(&inbox.id, &ListQuery { limit: SHOWN, cursor: None }).await?.data;
    // The stream continues after the newest request shown, or from now when there is none.
    let after = requests
        .first()
        .map_or_else(|| format!("{}{}", InboxRequestId::PREFIX, min_body_at(now_ms())), |r| r.id.clone());
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
    let title = inbox.name.clone().unwrap_or_else(|| inbox.id.clone());
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

fn html_response(status: StatusCode, html: String, nonce: &str) -> Response {
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::try_from(csp).expect("hex nonce is a valid header value"));
    response
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

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Replaces each placeholder in one pass, so a value that happens to contain a placeholder is
/// never substituted again.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 4096);
    let mut rest = template;
    while let Some(start) = rest.find('%') {
        let found = values.iter().find(|(key, _)| rest[start..].starts_with(key));
        match found {
            Some((key, value)) => {
                out.push_str(&rest[..start]);
                out.push_str(value);
                rest = &rest[start + key.len()..];
            }
            None => {
                out.push_str(&rest[..=start]);
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside `<script type="application/json">`: no `<` can close the element.
fn json_for_script(value: &serde_json::Value) -> String {
    serde_json::to_string(value)
        .expect("JSON values serialize")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_cannot_break_out() {
        assert_eq!(escape_html(r#"<b a="1">'&"#), "&lt;b a=&quot;1&quot;&gt;&#39;&amp;");
        let json = json_for_script(&serde_json::json!({"body": "</script><script>alert(1)"}));
        assert!(!json.contains("</script>"), "{json}");
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["body"], "</script><script>alert(1)");
    }

    #[test]
    fn placeholders_are_filled_once() {
        let out = fill("<h1>%TITLE%</h1>%DATA% 100%", &[("%TITLE%", "%DATA%".into()), ("%DATA%", "{}".into())]);
        assert_eq!(out, "<h1>%DATA%</h1>{} 100%");
    }
}
