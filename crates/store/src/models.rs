//! Records the store reads and writes. Times are milliseconds since the Unix epoch.

use std::collections::BTreeMap;

use hookd_core::endpoint_auth::{MtlsConfig, OAuthConfig};
use hookd_core::{ApplicationId, AttemptId, EndpointId, InboxId, InboxRequestId, IngestLogId, MessageId, SourceId};
use serde::{Deserialize, Serialize};

pub type Metadata = BTreeMap<String, String>;

/// A limit, an optional cursor and an optional order, for every list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub limit: u32,
    pub cursor: Option<Cursor>,
    /// `None`: the list's own order (newest first; names in alphabetical order).
    pub order: Option<Order>,
}

/// Svix's `Ordering`: of the list's key (an id, which sorts by creation time, or a name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// Where a page starts. Lists are newest first: `Older(id)` continues after `id`,
/// `Newer(id)` goes back towards the newest items (Svix's `prevIterator`, sent as `-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Older(String),
    Newer(String),
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Cursor for the next (older) page.
    pub iterator: Option<String>,
    /// Cursor for the previous (newer) page.
    pub prev_iterator: Option<String>,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: ApplicationId,
    pub uid: Option<String>,
    pub name: String,
    pub metadata: Metadata,
    pub throttle_rate: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The writable fields of an application.
#[derive(Debug, Clone, Default)]
pub struct ApplicationData {
    pub uid: Option<String>,
    pub name: String,
    pub metadata: Metadata,
    pub throttle_rate: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventType {
    pub name: String,
    pub description: String,
    pub schemas: Option<serde_json::Value>,
    pub archived: bool,
    pub deprecated: bool,
    pub feature_flag: Option<String>,
    pub feature_flags: Option<Vec<String>>,
    pub group_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl EventType {
    /// The writable fields, e.g. to change some of them.
    pub fn data(&self) -> EventTypeData {
        EventTypeData {
            description: self.description.clone(),
            schemas: self.schemas.clone(),
            archived: self.archived,
            deprecated: self.deprecated,
            feature_flag: self.feature_flag.clone(),
            feature_flags: self.feature_flags.clone(),
            group_name: self.group_name.clone(),
        }
    }
}

/// The writable fields of an event type (its name is its key).
#[derive(Debug, Clone, Default)]
pub struct EventTypeData {
    pub description: String,
    pub schemas: Option<serde_json::Value>,
    pub archived: bool,
    pub deprecated: bool,
    /// Svix's older single flag.
    pub feature_flag: Option<String>,
    pub feature_flags: Option<Vec<String>>,
    pub group_name: Option<String>,
}

/// A secret that was rotated out and still signs until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OldSecret {
    pub key: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub app_id: ApplicationId,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub disabled: bool,
    pub metadata: Metadata,
    pub throttle_rate: Option<i64>,
    /// Deliver strictly in publish order, one at a time.
    pub fifo: bool,
    pub headers: Metadata,
    /// Its own request timeout (at most the server's); `None`: the server's.
    pub request_timeout_ms: Option<i64>,
    /// Its payload filter, a CEL expression (see `hookd_core::filter`); `None`: none.
    pub filter: Option<String>,
    /// OAuth 2.0 settings: hookd sends a bearer token it fetched (see `hookd_core::endpoint_auth`).
    pub oauth: Option<OAuthConfig>,
    /// A TLS client identity hookd presents, and a private CA to trust.
    pub mtls: Option<MtlsConfig>,
    /// JavaScript run on each delivery before it is signed (see hookd-transform).
    pub transformation: Option<Transformation>,
    /// May be delivered to private addresses: it belongs to a source that allows them
    /// (`allowPrivateDestinations`), copied from the source when it is created or changed.
    pub allow_private: bool,
    /// The current secret, `whsec_…`.
    pub secret: String,
    pub old_secrets: Vec<OldSecret>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    /// The writable fields, e.g. to change some of them.
    pub fn data(&self) -> EndpointData {
        EndpointData {
            uid: self.uid.clone(),
            url: self.url.clone(),
            description: self.description.clone(),
            event_types: self.event_types.clone(),
            channels: self.channels.clone(),
            disabled: self.disabled,
            metadata: self.metadata.clone(),
            throttle_rate: self.throttle_rate,
            fifo: self.fifo,
            headers: self.headers.clone(),
            request_timeout_ms: self.request_timeout_ms,
            filter: self.filter.clone(),
        }
    }

    /// Secrets that sign a message sent at `now`: the current one first, then rotated ones
    /// still in their grace period.
    pub fn signing_keys(&self, now: i64) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret.as_str())
            .chain(self.old_secrets.iter().filter(move |s| s.expires_at > now).map(|s| s.key.as_str()))
    }
}

/// An endpoint's transformation, as set by `PATCH …/transformation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transformation {
    /// `handler(webhook)`'s source; `None`: unset.
    pub code: Option<String>,
    /// Runs only when enabled and set.
    pub enabled: bool,
    pub updated_at: i64,
}

impl Transformation {
    /// The code to run on a delivery, if any.
    pub fn active(&self) -> Option<&str> {
        self.code.as_deref().filter(|_| self.enabled)
    }
}

/// The writable fields of an endpoint (the secret has its own calls).
#[derive(Debug, Clone, Default)]
pub struct EndpointData {
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub disabled: bool,
    pub metadata: Metadata,
    pub throttle_rate: Option<i64>,
    pub fifo: bool,
    pub headers: Metadata,
    /// Its own request timeout in milliseconds (at most the server's); `None`: the server's.
    pub request_timeout_ms: Option<i64>,
    /// Its payload filter, a CEL expression already checked by `Filter::parse`.
    pub filter: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub app_id: ApplicationId,
    pub event_type: String,
    pub event_id: Option<String>,
    /// The payload exactly as it is sent: compact JSON text, or a raw payload's text (see
    /// `content_type`); empty once expunged.
    pub payload: String,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Set for a raw payload, sent byte for byte with this `Content-Type`.
    pub content_type: Option<String>,
    /// When a scheduled message is delivered (`None`: at once).
    pub deliver_at: Option<i64>,
    /// When its payload alone is expunged (`None`: kept as long as the message).
    pub payload_expires_at: Option<i64>,
    /// When its payload was expunged.
    pub expunged_at: Option<i64>,
    pub created_at: i64,
    /// The request it came as, when a source ingested it.
    pub request: Option<IngestedRequest>,
}

impl NewMessage {
    /// The message as stored in `app_id`.
    pub fn stored(&self, app_id: &ApplicationId) -> Message {
        Message {
            id: self.id.clone(),
            app_id: app_id.to_owned(),
            event_type: self.event_type.clone(),
            event_id: self.event_id.clone(),
            payload: self.payload.clone(),
            channels: self.channels.clone(),
            tags: self.tags.clone(),
            content_type: self.content_type.clone(),
            deliver_at: self.scheduled(),
            payload_expires_at: self.payload_expires_at,
            expunged_at: None,
            created_at: self.created_at,
            request: self.request.clone(),
        }
    }

    /// Its scheduled time, when later than its creation.
    pub fn scheduled(&self) -> Option<i64> {
        (self.deliver_at > self.created_at).then_some(self.deliver_at)
    }
}

/// A message routed to an endpoint, with its delivery's state.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointMessage {
    pub message: Message,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<i64>,
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub event_type: String,
    pub event_id: Option<String>,
    pub payload: String,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// A raw payload's `Content-Type` (`None`: the payload is JSON).
    pub content_type: Option<String>,
    pub payload_expires_at: Option<i64>,
    pub created_at: i64,
    /// When the first attempt is due (now, or later for scheduled delivery).
    pub deliver_at: i64,
    /// Routes the message to this enabled endpoint alone, whatever it subscribes to (Svix's
    /// send-example), instead of to every subscribed endpoint.
    pub to_endpoint: Option<EndpointId>,
    /// The request it came as, when a source ingested it.
    pub request: Option<IngestedRequest>,
}

/// A message made now with a fresh id; the caller sets the rest.
impl Default for NewMessage {
    fn default() -> Self {
        let now = hookd_core::time::now_ms();
        Self {
            id: MessageId::generate_at(now),
            event_type: String::new(),
            event_id: None,
            payload: String::new(),
            channels: None,
            tags: None,
            content_type: None,
            payload_expires_at: None,
            created_at: now,
            deliver_at: now,
            to_endpoint: None,
            request: None,
        }
    }
}

/// What a source received besides the body, kept with the message to be passed on: the
/// destination gets the same method, sub-path (below the endpoint's URL), query and headers.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct IngestedRequest {
    pub method: String,
    /// Below the source's URL, percent-encoded as received; `/` when none.
    pub path: String,
    /// As received, without `?`; empty when none.
    pub query: String,
    /// The headers to pass on, in arrival order (hop-by-hop and credential headers left out).
    pub headers: Vec<(String, String)>,
}

/// Status of a delivery or attempt, numbered as Svix's `MessageStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Success = 0,
    Pending = 1,
    Fail = 2,
    Sending = 3,
    /// Never to be attempted again without having failed: its message's payload was
    /// expunged while it was pending (see `expunge_message_content`).
    Canceled = 4,
}

impl DeliveryStatus {
    /// Its value in `deliveries.status` (and `attempts.status`).
    pub const fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Success,
            2 => Self::Fail,
            3 => Self::Sending,
            4 => Self::Canceled,
            _ => Self::Pending,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Pending => "pending",
            Self::Fail => "fail",
            Self::Sending => "sending",
            Self::Canceled => "canceled",
        }
    }
}

/// Why an attempt was made, numbered as Svix's `MessageAttemptTriggerType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerType {
    Scheduled = 0,
    Manual = 1,
}

impl TriggerType {
    pub fn from_code(code: i64) -> Self {
        if code == 1 {
            Self::Manual
        } else {
            Self::Scheduled
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: AttemptId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub app_id: ApplicationId,
    pub url: String,
    pub status: DeliveryStatus,
    /// 0 when there was no response.
    pub response_status_code: i64,
    pub response: String,
    pub duration_ms: i64,
    pub trigger_type: TriggerType,
    /// Why there was no response (timeout, refused, SSRF guard…), if so.
    pub error: Option<String>,
    pub created_at: i64,
}

/// An endpoint as a destination of one message, with that delivery's state.
#[derive(Debug, Clone)]
pub struct Destination {
    pub endpoint: Endpoint,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<i64>,
}

/// Counts of an endpoint's deliveries by status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub fail: i64,
    pub sending: i64,
    pub canceled: i64,
    /// Messages its filter kept from it (no delivery was created). They are counted per hour
    /// of publication, so a `since`/`until` window counts every hour it touches.
    pub filtered: i64,
    /// Of those, the ones the filter failed on.
    pub filter_errors: i64,
}

/// What an API token may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    Admin,
    /// One application (by id) and nothing else.
    App(String),
}

/// An idempotency key stored with a publish, in the same transaction as its message, and the
/// response that repeats of the request get.
#[derive(Debug, Clone)]
pub struct PublishKey {
    /// Who may repeat it where (the caller's token hash and the path).
    pub scope: String,
    pub key: String,
    pub status_code: u16,
    pub body: String,
}

/// What a publish did.
#[derive(Debug, Clone)]
pub enum Publish {
    /// The message and its deliveries are stored.
    Created(Box<Message>),
    /// Its idempotency key was taken: nothing was stored; this is what the key's first request
    /// got (or that it is still running).
    Repeated(IdempotentResponse),
}

/// A response remembered for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentResponse {
    /// The first request with this key has not finished yet.
    InProgress,
    Done {
        status_code: u16,
        body: String,
    },
}

/// How a webhook tester inbox answers the requests it captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxResponse {
    pub status: u16,
    pub headers: Metadata,
    pub body: String,
    /// Waited before answering, to test a sender's timeouts.
    pub delay_ms: i64,
}

/// A webhook tester inbox: a capture URL that records what is sent to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbox {
    pub id: InboxId,
    pub name: Option<String>,
    /// `whsec_…` that signatures of captured requests are checked against.
    pub secret: Option<String>,
    /// An endpoint whose secrets (current and rotated) signatures are also checked against.
    pub endpoint_id: Option<String>,
    pub response: InboxResponse,
    /// Captured requests kept; older ones are dropped first.
    pub max_requests: i64,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The writable fields of an inbox.
#[derive(Debug, Clone)]
pub struct InboxData {
    pub name: Option<String>,
    pub secret: Option<String>,
    pub endpoint_id: Option<String>,
    pub response: InboxResponse,
    pub max_requests: i64,
    pub expires_at: i64,
}

impl Inbox {
    pub fn data(&self) -> InboxData {
        InboxData {
            name: self.name.clone(),
            secret: self.secret.clone(),
            endpoint_id: self.endpoint_id.clone(),
            response: self.response.clone(),
            max_requests: self.max_requests,
            expires_at: self.expires_at,
        }
    }
}

/// Whether a captured request's Standard Webhooks signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    Verified,
    /// Did not verify, and why (for the person debugging the sender).
    Failed(String),
}

/// One request captured by an inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedRequest {
    pub id: InboxRequestId,
    pub inbox_id: InboxId,
    pub method: String,
    /// The part of the path after the capture URL; `/` when there is none.
    pub path: String,
    /// The raw query string without `?`; empty when there is none.
    pub query: String,
    /// Headers in arrival order, repeats kept.
    pub headers: Vec<(String, String)>,
    /// The body as received; empty when it was refused.
    pub body: Vec<u8>,
    /// Size of the body in bytes (as announced, when it was refused unread).
    pub body_size: i64,
    pub client_addr: Option<String>,
    /// Why the request was refused (413), if it was.
    pub refused: Option<String>,
    /// `None` when the inbox has no secret to check with.
    pub signature: Option<SignatureCheck>,
    pub created_at: i64,
}

/// A source: the public URL (`/in/{token}`) where a provider's webhooks arrive, verified as
/// its type says (see hookd-core's `ingest`) and delivered as messages of its own
/// application (`app_id`) to that application's endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: SourceId,
    pub uid: Option<String>,
    pub name: String,
    /// Its type, as Svix names it (`github`, `stripe`, …).
    pub kind: String,
    /// The type's settings, secrets included.
    pub config: serde_json::Value,
    pub metadata: Metadata,
    /// The secret part of its URL.
    pub token: String,
    /// Its application, made with it and deleted with it.
    pub app_id: ApplicationId,
    /// Its endpoints may be on private addresses.
    pub allow_private: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a source is made or changed with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceData {
    pub uid: Option<String>,
    pub name: String,
    pub kind: String,
    pub config: serde_json::Value,
    pub metadata: Metadata,
    pub allow_private: bool,
}

/// A request a source refused: never delivered, kept to be looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestRefusal {
    pub id: IngestLogId,
    pub source_id: SourceId,
    /// What the provider was answered.
    pub status_code: i64,
    /// Why.
    pub error_text: String,
    pub method: String,
    pub path: String,
    pub query: String,
    /// As received, credentials redacted.
    pub headers: Vec<(String, String)>,
    /// The body, as text (invalid UTF-8 replaced).
    pub payload: String,
    pub created_at: i64,
}

/// One delivery of a message: to which endpoint, in what state, after how many attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryState {
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub attempts: i64,
}
