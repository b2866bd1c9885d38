//! Operational webhooks: events about hookd itself (endpoints created, disabled, deliveries
//! failing or exhausted…), with the payload shapes Svix uses, so that existing consumers of
//! Svix's operational webhooks understand them.
//!
//! They are delivered like any other message, to the endpoints of a reserved application
//! ([`APP_UID`]).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The application whose endpoints receive operational webhooks.
pub const APP_UID: &str = "hookd.operational";

/// Every operational event type, as an operational endpoint may subscribe to them.
pub const EVENT_TYPES: &[&str] = &[
    "endpoint.created",
    "endpoint.updated",
    "endpoint.deleted",
    "endpoint.disabled",
    "message.attempt.failing",
    "message.attempt.exhausted",
    "message.attempt.recovered",
];

/// Where the parts of hookd that notice events (the API, the worker's lanes) send them. The
/// server's operational-webhook service implements it, and the worker is given it, so that the
/// policy of where events go lives in one place and neither the store nor the worker holds it.
/// Emitting never fails for the caller: what it reports has already happened.
pub trait Emitter: Send + Sync {
    fn emit<'a>(
        &'a self,
        event: OperationalEvent,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
}

/// Which endpoint an event is about.
#[derive(Debug, Clone)]
pub struct EndpointRef {
    pub app_id: String,
    pub app_uid: Option<String>,
    pub endpoint_id: String,
    pub endpoint_uid: Option<String>,
}

/// The last attempt of a delivery an event is about.
#[derive(Debug, Clone)]
pub struct AttemptRef {
    pub endpoint: EndpointRef,
    pub msg_id: String,
    pub msg_event_id: Option<String>,
    pub attempt_id: String,
    pub response_status_code: i64,
    pub trigger_type: i64,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub enum OperationalEvent {
    EndpointCreated(EndpointRef),
    EndpointUpdated(EndpointRef),
    EndpointDeleted(EndpointRef),
    /// Disabled automatically, failing since the given time (if known).
    EndpointDisabled(EndpointRef, Option<DateTime<Utc>>),
    /// A delivery failed for the 4th time (more retries follow).
    AttemptFailing(AttemptRef),
    /// A delivery failed its last scheduled attempt.
    AttemptExhausted(AttemptRef),
    /// A delivery succeeded after failing before.
    AttemptRecovered(AttemptRef),
}

/// The delivery attempt after which `message.attempt.failing` is sent.
pub const FAILING_AFTER_ATTEMPTS: u32 = 4;

impl OperationalEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::EndpointCreated(_) => "endpoint.created",
            Self::EndpointUpdated(_) => "endpoint.updated",
            Self::EndpointDeleted(_) => "endpoint.deleted",
            Self::EndpointDisabled(..) => "endpoint.disabled",
            Self::AttemptFailing(_) => "message.attempt.failing",
            Self::AttemptExhausted(_) => "message.attempt.exhausted",
            Self::AttemptRecovered(_) => "message.attempt.recovered",
        }
    }

    /// The application the event is about (events about the operational application itself
    /// are not sent, to avoid loops).
    pub fn app_id(&self) -> &str {
        match self {
            Self::EndpointCreated(e)
            | Self::EndpointUpdated(e)
            | Self::EndpointDeleted(e)
            | Self::EndpointDisabled(e, _) => &e.app_id,
            Self::AttemptFailing(a) | Self::AttemptExhausted(a) | Self::AttemptRecovered(a) => &a.endpoint.app_id,
        }
    }

    /// The webhook payload: `{type, timestamp, data}`.
    pub fn payload(&self, now: DateTime<Utc>) -> Value {
        let data = match self {
            Self::EndpointCreated(e) | Self::EndpointUpdated(e) | Self::EndpointDeleted(e) => endpoint_data(e),
            Self::EndpointDisabled(e, since) => {
                let mut data = endpoint_data(e);
                data["trigger"] = json!("automatic");
                if let Some(since) = since {
                    data["failSince"] = json!(since);
                }
                data
            }
            Self::AttemptFailing(a) | Self::AttemptExhausted(a) | Self::AttemptRecovered(a) => json!({
                "appId": a.endpoint.app_id,
                "appUid": a.endpoint.app_uid,
                "endpointId": a.endpoint.endpoint_id,
                "msgId": a.msg_id,
                "msgEventId": a.msg_event_id,
                "lastAttempt": {
                    "id": a.attempt_id,
                    "responseStatusCode": a.response_status_code,
                    "timestamp": a.timestamp,
                    "triggerType": a.trigger_type,
                },
            }),
        };
        json!({"type": self.event_type(), "timestamp": now, "data": data})
    }
}

fn endpoint_data(e: &EndpointRef) -> Value {
    json!({"appId": e.app_id, "appUid": e.app_uid, "endpointId": e.endpoint_id, "endpointUid": e.endpoint_uid})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_follow_svix_shapes() {
        let e = EndpointRef {
            app_id: "app_1".into(),
            app_uid: Some("acme".into()),
            endpoint_id: "ep_1".into(),
            endpoint_uid: None,
        };
        let p = OperationalEvent::EndpointDisabled(e.clone(), None).payload(Utc::now());
        assert_eq!(p["type"], "endpoint.disabled");
        assert_eq!(p["data"]["endpointId"], "ep_1");
        assert_eq!(p["data"]["trigger"], "automatic");
        let a = AttemptRef {
            endpoint: e,
            msg_id: "msg_1".into(),
            msg_event_id: None,
            attempt_id: "atmpt_1".into(),
            response_status_code: 500,
            trigger_type: 0,
            timestamp: Utc::now(),
        };
        let p = OperationalEvent::AttemptExhausted(a).payload(Utc::now());
        assert_eq!(p["type"], "message.attempt.exhausted");
        assert_eq!(p["data"]["lastAttempt"]["responseStatusCode"], 500);
        assert_eq!(p["data"]["msgId"], "msg_1");
    }
}
