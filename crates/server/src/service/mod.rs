//! The service layer: one method per use case, owning its rules and its side effects, below
//! the handlers and above the store.
//!
//! A handler parses a request into domain values, checks who the caller is, calls one method
//! here, and maps the answer to the wire. Everything a write sets off happens here and only
//! here: the operational webhook it reports (`endpoint.created`, …), the parked deliveries an
//! endpoint gets back when it is enabled again, the application cache this node forgets, the
//! metrics. So the API, the sources' and operational-webhook wrappers around endpoints, and
//! the dashboard (which calls the same API) cannot drift apart, and a rule such as "a URL
//! hookd sends to" or "an empty body means the defaults" exists once.
//!
//! The service knows nothing of HTTP: no axum types, no status codes. Its errors are
//! [`ServiceError`], which `crate::error` maps to the API's `{code, detail}` answers.

mod applications;
mod endpoints;
mod event_types;
mod inboxes;
mod messages;
mod sources;
mod tokens;

use std::sync::Arc;

use hookd_core::metrics::Metrics;
use hookd_core::names::NameError;
use hookd_core::operational::OperationalEvent;
use hookd_store::{Store, StoreError};

pub use endpoints::ExampleRequest;
pub use messages::Published;
pub use sources::{Ingested, Replay};

use crate::app_cache::{AppCache, SourceCache};
use crate::error::ValidationItem;
use crate::operational::OperationalWebhooks;
use crate::ServerConfig;

/// What a use case can fail with, in the service's terms.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Nothing of that kind and name; the text says what was looked for.
    #[error("{0}")]
    NotFound(String),
    /// The input breaks one rule or more, each given with where it is.
    #[error("invalid request")]
    Invalid(Vec<ValidationItem>),
    /// The input is valid but the state of things forbids it now.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// "`what` not found".
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// One invalid field of the input.
    pub fn invalid(field: &str, msg: impl Into<String>) -> Self {
        Self::Invalid(vec![ValidationItem::body(field, msg)])
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The use cases, over one store. Cheap to clone.
#[derive(Clone)]
pub struct Service(Arc<Parts>);

/// What the use cases work with.
pub struct Parts {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    pub operational: Arc<OperationalWebhooks>,
    /// This node's cache of applications by id or uid, forgotten on every change here.
    pub apps: AppCache,
    /// This node's cache of sources by URL token, forgotten on every change here.
    pub sources: SourceCache,
    /// The tester's replays leave through this SSRF-guarded client.
    pub replay: hookd_http::Sender,
}

impl Service {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }

    fn store(&self) -> &Store {
        &self.0.store
    }

    /// Publishes an operational webhook (a no-op unless operational endpoints exist). A
    /// failure is logged, not returned: the change it reports has already happened.
    async fn emit(&self, event: OperationalEvent) {
        use hookd_core::operational::Emitter;
        self.0.operational.emit(event).await
    }
}

/// Collects validation problems so a request gets all of them in one 422.
#[derive(Default)]
pub struct Problems(pub Vec<ValidationItem>);

impl Problems {
    pub fn add(&mut self, field: &str, msg: impl Into<String>) {
        self.0.push(ValidationItem::body(field, msg));
    }

    /// Checks a name-like value with its `parse`, recording the problem under `field`.
    pub fn name<T>(&mut self, field: &str, parsed: Result<T, NameError>) -> Option<T> {
        parsed.map_err(|e| self.add(field, e.to_string())).ok()
    }

    /// Checks each element of a list of names.
    pub fn names<T>(&mut self, field: &str, values: &[String], parse: impl Fn(&str) -> Result<T, NameError>) {
        for (i, v) in values.iter().enumerate() {
            self.name(&format!("{field}.{i}"), parse(v));
        }
    }

    /// A URL hookd sends to (an endpoint's, a replay's, an OAuth token URL): http or https,
    /// with a host. Where it may point is the SSRF guard's business, at send time.
    pub fn url(&mut self, field: &str, url: &str) {
        if let Err(why) = hookd_core::net::parse_destination_url(url) {
            self.add(field, why);
        }
    }

    /// Headers added to each delivery: any header hookd may send, except those it sets itself
    /// (`hookd_http::check_delivery_header`).
    pub fn delivery_headers<'a>(&mut self, field: &str, headers: impl IntoIterator<Item = (&'a String, &'a String)>) {
        for (name, value) in headers {
            if let Err(why) = hookd_http::check_delivery_header(name, value) {
                self.add(&format!("{field}.{name}"), why);
            }
        }
    }

    /// A header hookd sends as given (a tester's response, a relayed one): any valid one.
    pub fn header(&mut self, field: &str, name: &str, value: &str) {
        if let Err(why) = hookd_http::check_header(name, value) {
            self.add(field, why);
        }
    }

    /// `until` must come after `since` (`field` names `until` as the caller sent it).
    pub fn window(&mut self, field: &str, since: i64, until: Option<i64>) {
        if until.is_some_and(|until| until <= since) {
            self.add(field, "must be after since");
        }
    }

    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(self.0))
        }
    }
}
