//! One attempt: sign and send a claimed delivery, then decide what happens to it.

use std::time::{Duration, Instant};

use hookd_core::id::AttemptId;
use hookd_core::operational::{AttemptRef, EndpointRef, OperationalEvent, FAILING_AFTER_ATTEMPTS};
use hookd_core::retry::RetrySchedule;
use hookd_core::signing::EndpointSecret;
use hookd_core::time::now_ms;
use hookd_store::{Attempt, AttemptResult, ClaimedDelivery, DeliveryOutcome, DeliveryStatus, Endpoint, TriggerType};

use hookd_http::{EndpointAuth, HttpOutcome, Sender, SignedRequest};
use hookd_store::Metadata;
use hookd_transform::{Limits, Pool, Webhook};

/// What the lane needs to know about a finished attempt.
#[derive(Debug)]
pub(crate) struct Report {
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub outcome: DeliveryOutcome,
    /// From the attempt's start to its end (set by the lane, which timed it).
    pub took: Duration,
}

/// Sends `delivery` to `endpoint` and returns the result to record, and the operational
/// event it calls for, if any.
pub(crate) async fn attempt(
    sender: &Sender,
    transforms: (&Pool, Limits),
    schedule: &RetrySchedule,
    endpoint: &Endpoint,
    app_uid: Option<&str>,
    delivery: ClaimedDelivery,
) -> (AttemptResult, Report, Option<OperationalEvent>) {
    let now = now_ms();
    let secrets: Vec<EndpointSecret> =
        endpoint.signing_keys(now).filter_map(|key| EndpointSecret::parse(key).ok()).collect();
    let started = Instant::now();
    let transformed = match endpoint.transformation.as_ref().and_then(|t| t.active()) {
        Some(code) => match transform(code, endpoint, &delivery, transforms).await {
            Ok(Some(sending)) => Ok(sending),
            Ok(None) => {
                let report = Report {
                    status: None,
                    retry_after: None,
                    outcome: DeliveryOutcome::Canceled,
                    took: Duration::ZERO,
                };
                return (unattempted(delivery, DeliveryOutcome::Canceled), report, None);
            }
            Err(reason) => Err(reason),
        },
        None => Ok(Sending::of(endpoint, &delivery)),
    };
    let (url, http) = match transformed {
        Ok(sending) => {
            let http = sender
                .send(&SignedRequest {
                    url: &sending.url,
                    method: &sending.method,
                    msg_id: delivery.msg_id.as_str(),
                    payload: &sending.payload,
                    content_type: delivery.content_type.as_deref(),
                    timeout: endpoint.request_timeout_ms.map(|ms| Duration::from_millis(ms.max(1) as u64)),
                    secrets: &secrets,
                    extra_headers: &sending.headers,
                    timestamp: now / 1000,
                    auth: EndpointAuth {
                        endpoint_id: endpoint.id.as_str(),
                        oauth: endpoint.oauth.as_ref(),
                        mtls: endpoint.mtls.as_ref(),
                    },
                    allow_private: endpoint.allow_private,
                })
                .await;
            (sending.url, http)
        }
        Err(reason) => (endpoint.url.clone(), HttpOutcome::failed(started, reason)),
    };
    let outcome = decide(&http, schedule, &delivery);
    let report = Report { status: http.status, retry_after: http.retry_after, outcome, took: Duration::ZERO };
    let attempt = Attempt {
        id: AttemptId::generate(),
        msg_id: delivery.msg_id.clone(),
        endpoint_id: delivery.endpoint_id.clone(),
        app_id: delivery.app_id.clone(),
        url,
        status: if http.is_success() { DeliveryStatus::Success } else { DeliveryStatus::Fail },
        response_status_code: http.status.map_or(0, i64::from),
        response: http.body,
        duration_ms: http.duration.as_millis() as i64,
        trigger_type: if delivery.manual { TriggerType::Manual } else { TriggerType::Scheduled },
        error: http.error,
        created_at: now,
    };
    let event = operational_event(endpoint, app_uid, &delivery, &attempt, outcome);
    let result = AttemptResult {
        attempt: Some(attempt),
        msg_id: delivery.msg_id,
        endpoint_id: delivery.endpoint_id,
        outcome,
        lease_token: delivery.lease_token,
    };
    (result, report, event)
}

/// `message.attempt.failing` after the 4th failure, `…exhausted` after the last one,
/// `…recovered` on a success after failures.
fn operational_event(
    endpoint: &Endpoint,
    app_uid: Option<&str>,
    delivery: &ClaimedDelivery,
    attempt: &Attempt,
    outcome: DeliveryOutcome,
) -> Option<OperationalEvent> {
    let attempts_made = delivery.attempts as u32 + 1;
    let make: fn(AttemptRef) -> OperationalEvent = match outcome {
        DeliveryOutcome::Succeeded if delivery.attempts > 0 => OperationalEvent::AttemptRecovered,
        DeliveryOutcome::Failed if !delivery.manual => OperationalEvent::AttemptExhausted,
        DeliveryOutcome::RetryAt(_) if attempts_made == FAILING_AFTER_ATTEMPTS => OperationalEvent::AttemptFailing,
        _ => return None,
    };
    Some(make(AttemptRef {
        endpoint: endpoint_ref(endpoint, app_uid),
        msg_id: delivery.msg_id.to_string(),
        msg_event_id: delivery.event_id.clone(),
        attempt_id: attempt.id.to_string(),
        response_status_code: attempt.response_status_code,
        trigger_type: attempt.trigger_type as i64,
        timestamp: hookd_core::time::from_ms(attempt.created_at),
    }))
}

pub(crate) fn endpoint_ref(endpoint: &Endpoint, app_uid: Option<&str>) -> EndpointRef {
    EndpointRef {
        app_id: endpoint.app_id.to_string(),
        app_uid: app_uid.map(str::to_owned),
        endpoint_id: endpoint.id.to_string(),
        endpoint_uid: endpoint.uid.clone(),
    }
}

/// A delivery as it goes out, after the endpoint's transformation.
#[derive(Debug, PartialEq)]
struct Sending {
    url: String,
    method: String,
    payload: String,
    headers: Metadata,
}

impl Sending {
    /// What goes out before any transformation. A published message: `POST` to the
    /// endpoint's URL with the endpoint's headers. A message a source ingested: as it came,
    /// with its method, its sub-path below the endpoint's URL, its query after the URL's own,
    /// and its headers, the endpoint's own over them (a header sent twice is joined with
    /// `, `, as HTTP allows).
    fn of(endpoint: &Endpoint, delivery: &ClaimedDelivery) -> Self {
        let Some(request) = &delivery.request else {
            return Self {
                url: endpoint.url.clone(),
                method: "POST".into(),
                payload: delivery.payload.clone(),
                headers: endpoint.headers.clone(),
            };
        };
        let mut headers = Metadata::new();
        for (name, value) in &request.headers {
            let name = name.to_ascii_lowercase();
            // Set by hookd itself, or refused by the sender's rules: not passed on.
            if hookd_http::check_delivery_header(&name, value).is_err() {
                continue;
            }
            headers
                .entry(name)
                .and_modify(|v: &mut String| *v = format!("{v}, {value}"))
                .or_insert_with(|| value.clone());
        }
        for (name, value) in &endpoint.headers {
            headers.retain(|k, _| !k.eq_ignore_ascii_case(name));
            headers.insert(name.clone(), value.clone());
        }
        Self {
            url: forwarded_url(&endpoint.url, &request.path, &request.query),
            method: request.method.clone(),
            payload: delivery.payload.clone(),
            headers,
        }
    }
}

/// The endpoint's URL with a request's sub-path appended and its query after the URL's own.
fn forwarded_url(base: &str, path: &str, query: &str) -> String {
    let (base, base_query) = match base.split_once('?') {
        Some((b, q)) => (b, q),
        None => (base, ""),
    };
    let mut url =
        if path.is_empty() || path == "/" { base.to_owned() } else { format!("{}{path}", base.trim_end_matches('/')) };
    let query = [base_query, query].into_iter().filter(|q| !q.is_empty()).collect::<Vec<_>>().join("&");
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    url
}

/// Runs the endpoint's transformation on the pool's threads (it may use its whole CPU
/// budget); `None` when it canceled the delivery, `Err` with why it failed, which fails the
/// attempt like an error answer would.
async fn transform(
    code: &str,
    endpoint: &Endpoint,
    delivery: &ClaimedDelivery,
    (pool, limits): (&Pool, Limits),
) -> Result<Option<Sending>, String> {
    // An ingested JSON body is given to the handler parsed, like a published payload.
    let ingested_json = delivery.request.is_some()
        && delivery
            .content_type
            .as_deref()
            .is_some_and(|t| t.split(';').next().is_some_and(|t| t.trim().ends_with("json")));
    let raw = delivery.content_type.is_some() && !ingested_json;
    let payload = if raw {
        serde_json::Value::String(delivery.payload.clone())
    } else {
        serde_json::from_str(&delivery.payload).unwrap_or_else(|_| serde_json::Value::String(delivery.payload.clone()))
    };
    let sending = Sending::of(endpoint, delivery);
    let webhook = Webhook {
        event_type: delivery.event_type.clone(),
        payload,
        url: sending.url,
        method: sending.method,
        headers: sending.headers,
        cancel: false,
    };
    let code = code.to_owned();
    let out = pool.run(code, webhook, limits).await.map_err(|e| e.to_string())?;
    if out.cancel {
        return Ok(None);
    }
    for (name, value) in &out.headers {
        hookd_http::check_delivery_header(name, value)
            .map_err(|why| format!("the transformation returned header '{name}': {why}"))?;
    }
    let payload = match out.payload {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    };
    Ok(Some(Sending { url: out.url, method: out.method, payload, headers: out.headers }))
}

/// Success ends the delivery; a failure is retried on the schedule (honouring a clamped
/// `Retry-After`) unless it was a manual resend or the schedule is exhausted.
fn decide(http: &HttpOutcome, schedule: &RetrySchedule, delivery: &ClaimedDelivery) -> DeliveryOutcome {
    if http.is_success() {
        return DeliveryOutcome::Succeeded;
    }
    if delivery.manual {
        return DeliveryOutcome::Failed;
    }
    let attempts_made = delivery.attempts as u32 + 1;
    match schedule.next_delay(attempts_made, http.retry_after, &mut rand::thread_rng()) {
        Some(delay) => DeliveryOutcome::RetryAt(now_ms() + delay.as_millis() as i64),
        None => DeliveryOutcome::Failed,
    }
}

/// A delivery not attempted: parked (endpoint disabled) or handed back (shutting down).
pub(crate) fn unattempted(delivery: ClaimedDelivery, outcome: DeliveryOutcome) -> AttemptResult {
    AttemptResult {
        attempt: None,
        msg_id: delivery.msg_id,
        endpoint_id: delivery.endpoint_id,
        outcome,
        lease_token: delivery.lease_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ingested_request_goes_below_the_endpoints_url_with_both_queries() {
        assert_eq!(forwarded_url("http://app/hooks", "/", ""), "http://app/hooks");
        assert_eq!(forwarded_url("http://app/hooks/", "/github/push", ""), "http://app/hooks/github/push");
        assert_eq!(forwarded_url("http://app", "/a%20b", "x=1"), "http://app/a%20b?x=1");
        assert_eq!(forwarded_url("http://app/h?key=k", "/p", "x=1&y=2"), "http://app/h/p?key=k&x=1&y=2");
        assert_eq!(forwarded_url("http://app/h?key=k", "/", ""), "http://app/h?key=k");
    }
}
