//! The parameters operations share: path ids, the list parameters, the message filters, the
//! idempotency key. Each is declared once here and named in the `params(...)` of the
//! operations that take it, so every operation lists exactly the parameters its route
//! accepts (the query check refuses any other; see `query_check.rs`). Handlers read them
//! through their own extractors (`ListParams`, `MessageFilterQuery`, …): a test checks that
//! every documented parameter reaches its handler.

#![allow(dead_code)] // declarations for the document; never built

use utoipa::IntoParams;

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AppId {
    /// Application id (app_…) or uid. PUT uses a value that is not an id as the new application's uid, so it must follow the uid rules (1 to 256 letters, digits, '-', '_', '.').
    #[param(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    app_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EndpointId {
    /// Endpoint id (ep_…) or uid. PUT uses a value that is not an id as the new endpoint's uid, so it must follow the uid rules.
    #[param(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    endpoint_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MsgId {
    /// Message id (msg_…) or its eventId.
    #[param(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    msg_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AttemptId {
    /// Attempt id (atmpt_…).
    #[param(pattern = "^atmpt_[0-9A-HJKMNP-TV-Z]{26}$")]
    attempt_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EventTypeName {
    /// Event type name: 1 to 256 letters, digits, '-', '_' and '.' (PUT creates it when missing).
    #[param(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    name: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InboxId {
    /// Inbox id: inb_ and 36 Crockford base32 characters. Any other value is not found (404).
    #[param(pattern = "^inb_[0-9A-HJKMNP-TV-Z]{36}$")]
    inbox_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RequestId {
    /// Captured request id: req_ and 26 Crockford base32 characters. Any other value is not found (404).
    #[param(pattern = "^req_[0-9A-HJKMNP-TV-Z]{26}$")]
    request_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// Page size, 1 to 250.
    #[param(minimum = 1, maximum = 250, default = 50)]
    limit: Option<i64>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Iterator {
    /// Where the page starts: the `iterator` of the previous answer for the next page, or its `prevIterator` (which starts with '-') for the previous one. Absent or empty starts at the beginning.
    iterator: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WithContent {
    /// false leaves the payload out of the answer (returned as {}).
    #[param(default = true)]
    with_content: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// A repeat of a POST with the same key (same token, same path) gets the first answer back and changes nothing, even if its body differs; while the first is still running, a repeat gets 409. Only successful answers are remembered: after a refusal (4xx) the key is free for the corrected request. A key is 1 to 256 visible ASCII characters (inner spaces and tabs allowed); another is refused with 422. Keys are remembered for 24 hours.
    #[param(min_length = 1, max_length = 256, pattern = "^[!-~](?:[\\t -~]*[!-~])?$", rename = "idempotency-key")]
    idempotency_key: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Order {
    /// Order of the list's key (ids sort by creation time; event types by name). Default: newest first (event types: by name, ascending).
    order: Option<crate::extract::OrderParam>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Channel {
    /// Only items whose message has this channel.
    #[param(min_length = 1, max_length = 128, pattern = "^[a-zA-Z0-9\\-_.:+]+$")]
    channel: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Tag {
    /// Only items whose message has this tag.
    #[param(min_length = 1, max_length = 128, pattern = "^[a-zA-Z0-9\\-_./\\\\#]+$")]
    tag: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventTypes {
    /// Only items whose message is of these event types: comma-separated, or the parameter repeated (both forms may be mixed). Each must be a valid event type name.
    event_types: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Before {
    /// Only items created before this time (RFC 3339, a space may stand for the T; encode '+' as %2B).
    before: Option<crate::api::Timestamp>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct After {
    /// Only items created after this time (RFC 3339, a space may stand for the T; encode '+' as %2B).
    after: Option<crate::api::Timestamp>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Status {
    /// Only items with this status: 0 success, 1 pending, 2 fail, 3 sending, 4 canceled.
    status: Option<i64>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusCodeClass {
    /// Only attempts whose response status is of this class: 0 (no response: timeout, refused connection, SSRF guard), 100, 200, 300, 400 or 500.
    status_code_class: Option<i64>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptWithContent {
    /// false leaves the response bodies out of the answer (returned as "").
    #[param(default = true)]
    with_content: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExpandedStatuses {
    /// Without it (or false), a canceled status (4) is shown as success (0), as Svix answers older clients.
    #[param(default = false)]
    expanded_statuses: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WithMsg {
    /// true adds each attempt's message, without its payload (shown as {}).
    #[param(default = false)]
    with_msg: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SourceId {
    /// Source id (src_…) or uid. PUT uses a value that is not an id as the new source's uid, so it must follow the uid rules.
    #[param(min_length = 1, max_length = 60, pattern = "^[a-zA-Z0-9_-]+$")]
    source_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Verdict {
    /// Only accepted or only refused requests (default: both).
    verdict: Option<crate::api::sources::Verdict>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndpointIdFilter {
    /// Only attempts to this endpoint (id or uid).
    #[param(min_length = 1, max_length = 256, pattern = "^[a-zA-Z0-9_.-]+$")]
    endpoint_id: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct LastEventId {
    /// Resume after this request id (req_…), which must be well formed; sent by EventSource when it reconnects.
    #[param(pattern = "^req_[0-9A-HJKMNP-TV-Z]{26}$", rename = "Last-Event-ID")]
    last_event_id: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamToken {
    /// The admin token, for a client that cannot set headers (a browser's EventSource); the Authorization header is preferred, since a URL may be logged.
    token: Option<String>,
}
