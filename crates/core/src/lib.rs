//! Domain core of hookd: everything about webhooks that needs no I/O.
//!
//! - [`id`]: prefixed, time-ordered identifiers (`app_…`, `ep_…`, `msg_…`, `atmpt_…`, `inb_…`,
//!   `req_…`).
//! - [`names`]: validated names (event types, uids, channels) built only through `parse`.
//! - [`signing`]: Standard Webhooks secrets and `v1` HMAC-SHA256 signatures.
//! - [`ingest`]: source types (GitHub, Stripe, Slack, …) and how each verifies its webhooks.
//! - [`retry`]: the retry schedule and the pure `next_delay` policy.
//! - [`matching`]: which endpoints a message goes to.
//! - [`filter`]: payload filters (CEL expressions) that keep messages from an endpoint.
//! - [`endpoint_auth`]: OAuth 2.0 and mTLS settings with which hookd proves itself to an
//!   endpoint.
//! - [`sealing`]: secrets sealed at rest under the main key.
//! - [`net`]: the SSRF policy, i.e. which destination addresses are refused.
//! - [`metrics`]: what a node counts for `/metrics` (in memory, no database reads).
//!
//! The store, server and worker crates build on these types; keeping them pure makes them
//! cheap to test and to benchmark.

pub mod endpoint_auth;
pub mod filter;
pub mod id;
pub mod ingest;
pub mod matching;
pub mod metrics;
pub mod names;
pub mod net;
pub mod operational;
pub mod retry;
pub mod sealing;
pub mod signing;
pub mod time;

pub use id::{ApplicationId, AttemptId, EndpointId, InboxId, InboxRequestId, IngestLogId, MessageId, SourceId};
pub use names::{Channel, EventTypeName, NameError, Tag, Uid};
