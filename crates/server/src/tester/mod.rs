//! The webhook tester: inboxes that capture whatever is sent to their public URL, so a sender
//! (hookd itself, or any other) can be inspected, replayed and relayed to a local app.
//!
//! - [`capture`]: `/in/{id}[/{sub/path}]`, no auth, any method; records the request and answers
//!   with the inbox's configured response, or with the local app's response while a
//!   `hookd listen` relay is attached.
//! - [`inbox_api`]: `/api/v1/inbox…` (admin token): inboxes, their requests, replay, and the
//!   endpoint a relay posts the local app's response to.
//! - [`stream`]: `/api/v1/inbox/{id}/stream`, Server-Sent Events of new captures, resumable
//!   with `Last-Event-ID` (each event's id is the request id).
//! - [`page`]: `/inbox/{id}`, the HTML live view.
//!
//! [`Hub`] is the per-process meeting point: a broadcast channel of new captures, the count
//! of relays attached to each inbox, and the captures waiting for a relayed response. It is
//! not shared between nodes: live views poll the database as well, so they see captures
//! taken by other nodes a little later, but a relayed response only reaches a sender whose
//! capture landed on the node the relay is attached to.

pub mod capture;
pub mod inbox_api;
pub mod page;
pub mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{any, get, post};
use axum::Router;
use hookd_http::Sender;
use hookd_store::{CapturedRequest, Scope};
use tokio::sync::{broadcast, oneshot, watch};

use crate::error::ApiError;
use crate::extract::bearer;
use crate::{AppState, ServerConfig};

/// Captures buffered for live views that fall behind; a view further behind than this reads
/// what it missed from the database instead.
const BROADCAST_CAPACITY: usize = 64;

/// The tester's share of [`AppState`].
#[derive(Clone)]
pub struct Tester {
    pub(crate) hub: Arc<Hub>,
    /// Replays go through the delivery worker's SSRF-guarded client.
    pub(crate) sender: Sender,
    /// The address actually served on (known once bound), for capture URLs.
    local_addr: Arc<OnceLock<SocketAddr>>,
}

impl Tester {
    pub fn new(config: &ServerConfig) -> Self {
        Self {
            hub: Arc::new(Hub::new()),
            sender: Sender::new(config.egress.clone(), config.replay_timeout),
            local_addr: Default::default(),
        }
    }

    /// Ends every live stream, so a graceful shutdown does not wait for clients that would
    /// otherwise stay connected forever (they reconnect elsewhere, or later, and lose nothing).
    pub fn close_streams(&self) {
        self.hub.closing.send_replace(true);
    }

    /// Records the address the server listens on; capture URLs use it unless a public URL is
    /// configured.
    pub fn set_local_addr(&self, addr: SocketAddr) {
        let _ = self.local_addr.set(addr);
    }

    /// The base of public URLs: the configured public URL, else the address served on. When
    /// serving on an unspecified address (0.0.0.0), the host the caller used is the best guess.
    pub(crate) fn base_url(&self, config: &ServerConfig, host: Option<&str>) -> String {
        if let Some(url) = &config.public_url {
            return url.clone();
        }
        let usable_host =
            host.filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)));
        match (self.local_addr.get(), usable_host) {
            (Some(addr), _) if !addr.ip().is_unspecified() => format!("http://{addr}"),
            (_, Some(host)) => format!("http://{host}"),
            (Some(addr), None) => format!("http://{addr}"),
            (None, None) => "http://127.0.0.1:8071".into(),
        }
    }
}

/// The local app's response, relayed by `hookd listen`, for the sender still waiting.
#[derive(Debug)]
pub(crate) struct RelayedResponse {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// See the module documentation.
pub(crate) struct Hub {
    captured: broadcast::Sender<Arc<CapturedRequest>>,
    /// Inbox id → number of `hookd listen` streams attached to it.
    relays: Mutex<HashMap<String, usize>>,
    /// (inbox id, request id) → the capture waiting for its relayed response.
    waiting: Mutex<HashMap<(String, String), oneshot::Sender<RelayedResponse>>>,
    /// Becomes `true` when the server shuts down.
    closing: watch::Sender<bool>,
}

impl Hub {
    fn new() -> Self {
        Self {
            captured: broadcast::channel(BROADCAST_CAPACITY).0,
            relays: Default::default(),
            waiting: Default::default(),
            closing: watch::channel(false).0,
        }
    }

    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Tells live views about a new capture (nobody listening is fine).
    pub fn publish(&self, request: CapturedRequest) {
        let _ = self.captured.send(Arc::new(request));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CapturedRequest>> {
        self.captured.subscribe()
    }

    /// Counts a relay as attached to `inbox_id` until the guard is dropped (its stream ends).
    pub fn attach_relay(self: &Arc<Self>, inbox_id: &str) -> RelayGuard {
        *self.relays.lock().expect("relay lock").entry(inbox_id.to_owned()).or_default() += 1;
        RelayGuard { hub: self.clone(), inbox_id: inbox_id.to_owned() }
    }

    pub fn relays_attached(&self, inbox_id: &str) -> usize {
        self.relays.lock().expect("relay lock").get(inbox_id).copied().unwrap_or(0)
    }

    /// Registers a capture as waiting for its relayed response; it stops waiting when the
    /// returned waiter is dropped.
    pub fn wait_for_relay(self: &Arc<Self>, inbox_id: &str, request_id: &str) -> RelayWaiter {
        let key = (inbox_id.to_owned(), request_id.to_owned());
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("waiting lock").insert(key.clone(), tx);
        RelayWaiter { hub: self.clone(), key, rx: Some(rx) }
    }

    /// Hands a relayed response to the capture waiting for it; `false` when none is (it timed
    /// out, was answered by another relay, or is on another node).
    pub fn deliver_relayed(&self, inbox_id: &str, request_id: &str, response: RelayedResponse) -> bool {
        let key = (inbox_id.to_owned(), request_id.to_owned());
        let waiting = self.waiting.lock().expect("waiting lock").remove(&key);
        waiting.is_some_and(|tx| tx.send(response).is_ok())
    }
}

/// Keeps a relay counted as attached.
pub(crate) struct RelayGuard {
    hub: Arc<Hub>,
    inbox_id: String,
}

impl Drop for RelayGuard {
    fn drop(&mut self) {
        let mut relays = self.hub.relays.lock().expect("relay lock");
        if let Some(n) = relays.get_mut(&self.inbox_id) {
            *n -= 1;
            if *n == 0 {
                relays.remove(&self.inbox_id);
            }
        }
    }
}

/// A capture waiting for its relayed response.
pub(crate) struct RelayWaiter {
    hub: Arc<Hub>,
    key: (String, String),
    rx: Option<oneshot::Receiver<RelayedResponse>>,
}

impl RelayWaiter {
    /// The relayed response, or `None` when none came within `timeout`.
    pub async fn response(mut self, timeout: std::time::Duration) -> Option<RelayedResponse> {
        let rx = self.rx.take()?;
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }
}

impl Drop for RelayWaiter {
    fn drop(&mut self) {
        self.hub.waiting.lock().expect("waiting lock").remove(&self.key);
    }
}

/// The routes under `/api/v1/inbox` (behind the API's layers).
pub fn api_routes() -> Router<AppState> {
    use inbox_api as ia;
    Router::new()
        .route("/api/v1/inbox", get(ia::list).post(ia::create))
        .route("/api/v1/inbox/{inbox_id}", get(ia::get).patch(ia::patch).delete(ia::delete))
        .route("/api/v1/inbox/{inbox_id}/request", get(ia::list_requests).delete(ia::clear_requests))
        .route("/api/v1/inbox/{inbox_id}/request/{request_id}", get(ia::get_request).delete(ia::delete_request))
        .route("/api/v1/inbox/{inbox_id}/request/{request_id}/replay", post(ia::replay))
        .route("/api/v1/inbox/{inbox_id}/request/{request_id}/response", post(ia::relay_response))
        .route("/api/v1/inbox/{inbox_id}/stream", get(stream::stream))
}

/// The capture URLs and the HTML page: outside the API's auth, body limit and idempotency.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/in/{inbox_id}", any(capture::capture))
        .route("/in/{inbox_id}/", any(capture::capture))
        .route("/in/{inbox_id}/{*rest}", any(capture::capture))
        .route("/inbox/{inbox_id}", get(page::page))
}

/// The token of a request to a tester route a browser opens by itself (the page, the live
/// stream): `Authorization: Bearer …`, or `?token=…` because `EventSource` cannot set headers.
pub(crate) fn token_of(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    bearer(headers.get(axum::http::header::AUTHORIZATION)).or_else(|| {
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .find(|(k, v)| k == "token" && !v.is_empty())
            .map(|(_, v)| v.into_owned())
    })
}

/// The admin, authenticated by header or by `?token=` (see [`token_of`]).
pub struct TokenAdmin;

impl FromRequestParts<AppState> for TokenAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token_of(&parts.headers, &parts.uri)
            .ok_or(ApiError::Unauthorized("missing token (Authorization: Bearer <token>, or ?token=<token>)"))?;
        match state.auth.scope_of(&token, state).await? {
            Scope::Admin => Ok(Self),
            Scope::App(_) => Err(ApiError::Forbidden("the webhook tester needs the admin token")),
        }
    }
}
