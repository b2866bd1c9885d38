//! What a node counts for `GET /metrics`, in the OpenMetrics text format that Prometheus
//! scrapes.
//!
//! Everything here is counted in memory by the node that saw it (each node of a cluster is
//! scraped on its own), so a count starts from zero when the node starts. Nothing here reads
//! the database: a scrape must stay cheap however long the backlog, which is why queue depth
//! is not a metric (`GET …/endpoint/{id}/stats` gives it per endpoint).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How a delivery attempt ended, as the `result` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptAnswer {
    /// A 2xx answer.
    Success,
    /// Any other answer.
    Failure,
    /// No answer: a timeout, a refused or failed connection, or a destination the SSRF guard
    /// refused.
    NoResponse,
}

impl AttemptAnswer {
    pub fn of(status: Option<u16>) -> Self {
        match status {
            Some(200..=299) => Self::Success,
            Some(_) => Self::Failure,
            None => Self::NoResponse,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::NoResponse => "no_response",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    /// The route's template (`/api/v1/app/{app_id}/msg`), never the concrete path, so that the
    /// number of series stays bounded.
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// The node's metrics; cheap to update from any task (atomics behind shared handles).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    messages_published: Counter,
    attempts: Family<[(&'static str, &'static str); 1], Counter>,
    attempt_duration: Histogram,
    attempts_in_flight: Gauge,
    deliveries_failed: Counter,
    endpoint_lanes: Gauge,
    endpoints_disabled: Counter,
    inbox_requests: Counter,
    source_requests: Family<[(&'static str, &'static str); 1], Counter>,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram>,
}

/// Buckets from 5 ms to about 20 s: loopback answers at the low end, the default 15 s request
/// timeout at the top.
fn duration_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("hookd"),
            messages_published: Counter::default(),
            attempts: Family::default(),
            attempt_duration: duration_buckets(),
            attempts_in_flight: Gauge::default(),
            deliveries_failed: Counter::default(),
            endpoint_lanes: Gauge::default(),
            endpoints_disabled: Counter::default(),
            inbox_requests: Counter::default(),
            source_requests: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(duration_buckets),
        };
        let r = &mut metrics.registry;
        r.register("build", "hookd's version", Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]));
        r.register(
            "messages_published",
            "Messages accepted (202) by this node's API",
            metrics.messages_published.clone(),
        );
        r.register(
            "delivery_attempts",
            "Delivery attempts by result: success (2xx), failure (another status), no_response",
            metrics.attempts.clone(),
        );
        r.register(
            "delivery_attempt_duration_seconds",
            "Time from sending an attempt to its answer (or to giving up on one)",
            metrics.attempt_duration.clone(),
        );
        r.register(
            "delivery_attempts_in_flight",
            "Attempts sent and not answered yet",
            metrics.attempts_in_flight.clone(),
        );
        r.register(
            "deliveries_failed",
            "Deliveries given up on: retry schedule exhausted, or a manual resend that failed",
            metrics.deliveries_failed.clone(),
        );
        r.register("endpoint_lanes", "Endpoints this node is working now", metrics.endpoint_lanes.clone());
        r.register(
            "endpoints_disabled",
            "Endpoints this node disabled (410 Gone, or failing for too long)",
            metrics.endpoints_disabled.clone(),
        );
        r.register(
            "inbox_requests_captured",
            "Requests stored by the tester's capture URLs",
            metrics.inbox_requests.clone(),
        );
        r.register(
            "source_requests",
            "Requests received by sources, by verdict (accepted, duplicate, refused)",
            metrics.source_requests.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            metrics.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by route template",
            metrics.http_duration.clone(),
        );
        metrics
    }

    pub fn message_published(&self) {
        self.messages_published.inc();
    }

    pub fn attempt_started(&self) {
        self.attempts_in_flight.inc();
    }

    /// An attempt got its answer (or none); `gave_up` when the delivery will not be retried.
    pub fn attempt_finished(&self, result: AttemptAnswer, took: Duration, gave_up: bool) {
        self.attempts_in_flight.dec();
        self.attempts.get_or_create(&[("result", result.label())]).inc();
        self.attempt_duration.observe(took.as_secs_f64());
        if gave_up {
            self.deliveries_failed.inc();
        }
    }

    pub fn set_endpoint_lanes(&self, lanes: usize) {
        self.endpoint_lanes.set(lanes as i64);
    }

    pub fn endpoint_disabled(&self) {
        self.endpoints_disabled.inc();
    }

    pub fn inbox_request_captured(&self) {
        self.inbox_requests.inc();
    }

    /// A request a source received: `accepted`, `duplicate` (a provider's retry of one already
    /// accepted) or `refused`.
    pub fn source_request(&self, verdict: &'static str) {
        self.source_requests.get_or_create(&[("verdict", verdict)]).inc();
    }

    /// `method` is one of a fixed set (the caller maps the rest to one label), so that clients
    /// cannot grow the series without bound.
    pub fn http_request(&self, method: &'static str, route: String, status: u16, took: Duration) {
        self.http_duration.get_or_create(&RouteLabels { method, route: route.clone() }).observe(took.as_secs_f64());
        self.http_requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    /// The OpenMetrics text of every metric (content type [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_rendered_with_their_labels() {
        let m = Metrics::new();
        m.message_published();
        m.attempt_started();
        m.attempt_finished(AttemptAnswer::of(Some(200)), Duration::from_millis(3), false);
        m.attempt_started();
        m.attempt_finished(AttemptAnswer::of(None), Duration::from_secs(15), true);
        m.http_request("POST", "/api/v1/app/{app_id}/msg".into(), 202, Duration::from_millis(2));
        let text = m.render();
        for line in [
            "hookd_messages_published_total 1",
            "hookd_delivery_attempts_total{result=\"success\"} 1",
            "hookd_delivery_attempts_total{result=\"no_response\"} 1",
            "hookd_delivery_attempts_in_flight 0",
            "hookd_deliveries_failed_total 1",
            "hookd_delivery_attempt_duration_seconds_count 2",
            "hookd_http_requests_total{method=\"POST\",route=\"/api/v1/app/{app_id}/msg\",status=\"202\"} 1",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
        }
        assert!(text.contains("hookd_build_info{version=\""), "{text}");
    }

    #[test]
    fn results_follow_the_status() {
        assert_eq!(AttemptAnswer::of(Some(204)), AttemptAnswer::Success);
        assert_eq!(AttemptAnswer::of(Some(410)), AttemptAnswer::Failure);
        assert_eq!(AttemptAnswer::of(Some(302)), AttemptAnswer::Failure);
        assert_eq!(AttemptAnswer::of(None), AttemptAnswer::NoResponse);
    }
}
