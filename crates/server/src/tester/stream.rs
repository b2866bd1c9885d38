//! `GET /api/v1/inbox/{id}/stream`: Server-Sent Events, one `request` event per captured
//! request, its `id` the request id.
//!
//! A view starts from `Last-Event-ID` (what `EventSource` sends when it reconnects), else from
//! `?after=<request id>`, else from now, and first gets everything stored after that point:
//! reconnecting loses nothing. Live captures come from the process's broadcast; a view that
//! falls behind it, and captures taken by other nodes, are caught up from the database, which
//! is also polled every few seconds. A request seen both ways is sent once.
//!
//! Streams end when the server shuts down, so they do not hold up a graceful shutdown.
//!
//! `?relay=true` marks the stream as a `hookd listen` relay: while it is open, captures wait
//! (bounded) for the relay to post the local app's response.
//!
//! Auth: the admin token, as `Authorization: Bearer …` or `?token=…` (EventSource cannot set
//! headers).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use hookd_core::id::min_body_at;
use hookd_core::time::now_ms;
use hookd_core::InboxRequestId;
use hookd_store::{CapturedRequest, Store, StoreError};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::{Instant, Interval};

use super::inbox_api::{find_inbox, InboxRequestOut};
use super::{RelayGuard, TokenAdmin};
use crate::error::{ApiError, ApiResult, ValidationItem};
use crate::extract::ApiQuery;
use crate::AppState;

/// How often a view looks in the database for captures the broadcast did not bring.
const POLL_EVERY: Duration = Duration::from_secs(3);
/// Requests read from the database at a time.
const BATCH: i64 = 100;
/// How many recently sent ids are remembered to avoid sending one twice.
const RECENT: usize = 512;
/// A comment every few seconds keeps proxies from closing an idle stream, and lets the server
/// notice soon that a relay went away.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Start after this request id (req_…); empty means from now. Ignored when Last-Event-ID is sent.
    #[param(pattern = "^(?:req_[0-9A-HJKMNP-TV-Z]{26})?$")]
    after: Option<String>,
    /// Mark this stream as a `hookd listen` relay: while it is open, captures wait a bounded time for the local app's response posted back to …/response.
    #[param(default = false)]
    #[serde(default)]
    relay: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/inbox/{inbox_id}/stream",
    operation_id = "streamInboxRequests",
    tag = "inbox",
    summary = "Stream captured requests",
    description = "Admin token only. Server-Sent Events: one `request` event per captured request, its `id` the request id and its data an InboxRequestOut as JSON. The stream starts after the request named by the Last-Event-ID header, else after `after`, else from now; stored requests after that point come first. The token may also be given as ?token=… since EventSource cannot set headers. Comments are sent every 5 seconds to keep the connection open; the stream ends when the server shuts down.",
    params(crate::openapi::params::InboxId, StreamParams, crate::openapi::params::LastEventId, crate::openapi::params::StreamToken),
    responses(
        (status = 200, description = "An open event stream.", body = crate::openapi::schemas::InboxStreamEvent, content_type = "text/event-stream"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::ValidationError),
    ),
    security(("bearer" = []), ("tokenQuery" = [])),
)]
pub async fn stream(
    State(state): State<AppState>,
    _admin: TokenAdmin,
    Path(inbox_id): Path<String>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> ApiResult<Response> {
    let inbox = find_inbox(&state, &inbox_id).await?;
    let start = start_point(&headers, params.after.as_deref())?;
    // Subscribed before catching up, so nothing can fall between the two.
    let live = state.tester.hub.subscribe();
    let view = View {
        store: state.store.clone(),
        inbox_id: inbox.id.clone(),
        live,
        backlog: VecDeque::new(),
        more_stored: start.is_some(),
        cursor: start.unwrap_or_else(|| format!("{}{}", InboxRequestId::PREFIX, min_body_at(now_ms()))),
        recent: VecDeque::new(),
        poll: tokio::time::interval_at(Instant::now() + POLL_EVERY, POLL_EVERY),
        closing: state.tester.hub.closing(),
        _relay: params.relay.then(|| state.tester.hub.attach_relay(inbox.id.as_str())),
    };
    // The comment goes out at once, so the client knows it is attached.
    let hello = stream::once(async { Ok(Event::default().comment("attached")) });
    let events = hello.chain(view.into_events());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}

/// Where the view starts: after `Last-Event-ID`, else after `?after=`; `None` is "from now".
fn start_point(headers: &HeaderMap, after: Option<&str>) -> ApiResult<Option<String>> {
    if let Some(last) = headers.get("last-event-id") {
        let last = last.to_str().unwrap_or_default();
        return match InboxRequestId::parse(last) {
            Ok(id) => Ok(Some(id.into_string())),
            Err(e) => Err(ApiError::validation(ValidationItem {
                loc: vec!["header".into(), "last-event-id".into()],
                msg: e.to_string(),
                kind: "value_error".into(),
            })),
        };
    }
    match after.filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(a) => InboxRequestId::parse(a)
            .map(|id| Some(id.into_string()))
            .map_err(|e| ApiError::validation(ValidationItem::query("after", e.to_string()))),
    }
}

/// One open live view; see the module documentation.
struct View {
    store: Store,
    inbox_id: hookd_core::InboxId,
    live: broadcast::Receiver<Arc<CapturedRequest>>,
    /// Requests to send, in order.
    backlog: VecDeque<CapturedRequest>,
    /// Whether the database may hold requests after `cursor` that are not in the backlog.
    more_stored: bool,
    /// The newest request id sent (or where the view started).
    cursor: String,
    recent: VecDeque<String>,
    /// Ticks independently of the broadcast, so a busy node does not starve the poll.
    poll: Interval,
    closing: watch::Receiver<bool>,
    _relay: Option<RelayGuard>,
}

impl View {
    fn into_events(self) -> impl Stream<Item = Result<Event, Infallible>> {
        stream::unfold(self, |mut view| async move {
            let request = view.next().await?;
            let event = Event::default()
                .id(request.id.clone())
                .event("request")
                .json_data(InboxRequestOut::from(request))
                .expect("a request serializes as JSON");
            Some((Ok(event), view))
        })
    }

    /// The next request to send; `None` ends the stream (the inbox is gone, or the database
    /// failed: the client reconnects with `Last-Event-ID` and loses nothing).
    async fn next(&mut self) -> Option<CapturedRequest> {
        loop {
            if let Some(request) = self.backlog.pop_front() {
                if self.recent.iter().any(|id| *id == request.id.as_str()) {
                    continue;
                }
                self.mark_sent(request.id.as_str());
                return Some(request);
            }
            if self.more_stored {
                self.catch_up().await.ok()?;
                continue;
            }
            tokio::select! {
                got = self.live.recv() => match got {
                    Ok(r) if r.inbox_id == self.inbox_id => self.backlog.push_back((*r).clone()),
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.more_stored = true,
                    Err(RecvError::Closed) => return None,
                },
                _ = shutting_down(&mut self.closing) => return None,
                _ = self.poll.tick() => {
                    self.store.get_inbox(self.inbox_id.as_str()).await.ok()?;
                    self.more_stored = true;
                }
            }
        }
    }

    async fn catch_up(&mut self) -> Result<(), StoreError> {
        let stored = self.store.inbox_requests_after(&self.inbox_id, &self.cursor, BATCH).await?;
        self.more_stored = stored.len() as i64 == BATCH;
        self.backlog.extend(stored);
        Ok(())
    }

    fn mark_sent(&mut self, id: &str) {
        if id > self.cursor.as_str() {
            self.cursor = id.to_owned();
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(id.to_owned());
    }
}

/// Resolves once the server shuts down. (The guard `wait_for` returns is not `Send`, so it is
/// dropped here rather than held in the stream's state.)
async fn shutting_down(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await.is_ok();
}
