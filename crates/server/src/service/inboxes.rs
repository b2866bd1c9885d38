//! The tester's inboxes: creating and changing them, storing a capture (with its signature
//! checked), and replaying a captured request elsewhere.

use hookd_core::signing::{verify, EndpointSecret};
use hookd_core::time::now_ms;
use hookd_core::{InboxId, InboxRequestId};
use hookd_http::{RawRequest, RawResponse};
use hookd_store::{CapturedRequest, Inbox, InboxData, SignatureCheck, StoreError};

use super::{Problems, Result, Service, ServiceError};

/// How long an inbox may live, at most: a year.
const MAX_TTL_MS: i64 = 365 * 24 * 3600 * 1000;
const MAX_MAX_REQUESTS: i64 = 10_000;
const MAX_NAME_LEN: usize = 256;
/// An inbox's configured answer: its longest delay and body.
const MAX_DELAY_MS: i64 = 30_000;
const MAX_RESPONSE_BODY: usize = 64 * 1024;
/// Standard Webhooks' tolerance for the `webhook-timestamp` clock difference.
const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

impl Service {
    /// A live inbox; an id of the wrong shape is simply not found.
    pub async fn inbox(&self, inbox_id: &str) -> Result<Inbox> {
        let not_found = || ServiceError::NotFound(format!("inbox '{inbox_id}' not found (it may have expired)"));
        if InboxId::parse(inbox_id).is_err() {
            return Err(not_found());
        }
        self.store().get_inbox(inbox_id).await.map_err(|e| match e {
            StoreError::NotFound(_) => not_found(),
            other => other.into(),
        })
    }

    /// One of an inbox's captured requests.
    pub async fn inbox_request(&self, inbox: &Inbox, request_id: &str) -> Result<CapturedRequest> {
        if InboxRequestId::parse(request_id).is_err() {
            return Err(ServiceError::not_found("request"));
        }
        self.store().get_inbox_request(&inbox.id, request_id).await.map_err(|e| match e {
            StoreError::NotFound(_) => ServiceError::not_found("request"),
            other => other.into(),
        })
    }

    pub async fn create_inbox(&self, mut data: InboxData) -> Result<Inbox> {
        self.check_inbox(&mut data).await?;
        Ok(self.store().create_inbox(&InboxId::generate(), &data).await?)
    }

    pub async fn update_inbox(&self, current: &Inbox, mut data: InboxData) -> Result<Inbox> {
        self.check_inbox(&mut data).await?;
        Ok(self.store().update_inbox(&current.id, &data).await?)
    }

    /// Deletes the inbox with what it captured; its URL stops capturing at once.
    pub async fn delete_inbox(&self, inbox: &Inbox) -> Result<()> {
        Ok(self.store().delete_inbox(&inbox.id).await?)
    }

    /// Deletes what the inbox captured (all of it, or the one request `request`).
    pub async fn clear_inbox(&self, inbox: &Inbox, request: Option<&CapturedRequest>) -> Result<()> {
        match request {
            Some(request) => self.store().delete_inbox_request(&inbox.id, &request.id).await?,
            None => {
                self.store().clear_inbox_requests(&inbox.id).await?;
            }
        }
        Ok(())
    }

    /// Stores a capture, unless its inbox is gone or full (the store refuses it then).
    pub async fn store_capture(&self, inbox: &Inbox, captured: &CapturedRequest) -> Result<()> {
        self.store().insert_inbox_request(captured).await.map_err(|e| match e {
            StoreError::NotFound(_) => ServiceError::NotFound(format!("inbox '{}' not found", inbox.id)),
            other => other.into(),
        })?;
        self.0.metrics.inbox_request_captured();
        Ok(())
    }

    /// Checks a capture's Standard Webhooks signature against the inbox's secret and the
    /// linked endpoint's current and still-valid rotated secrets. `None` when there is no
    /// secret. Svix's `svix-*` header names are accepted where the `webhook-*` ones are
    /// missing. `headers` are as captured (lower-case names).
    pub async fn capture_signature(
        &self,
        inbox: &Inbox,
        headers: &[(String, String)],
        body: &[u8],
        now: i64,
    ) -> Result<Option<SignatureCheck>> {
        let mut keys: Vec<EndpointSecret> =
            inbox.secret.iter().filter_map(|s| EndpointSecret::parse_for_verifying(s).ok()).collect();
        if let Some(endpoint_id) = &inbox.endpoint_id {
            match self.store().get_endpoint_by_id(endpoint_id).await {
                Ok(endpoint) => keys.extend(endpoint.signing_keys(now).filter_map(|k| EndpointSecret::parse(k).ok())),
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if keys.is_empty() {
            return Ok(None);
        }
        let get = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let header = |name: &str, svix_name: &str| get(name).or_else(|| get(svix_name));
        let verdict = verify(
            &keys,
            header("webhook-id", "svix-id"),
            header("webhook-timestamp", "svix-timestamp"),
            header("webhook-signature", "svix-signature"),
            body,
            now / 1000,
            TIMESTAMP_TOLERANCE_SECS,
        );
        Ok(Some(match verdict {
            Ok(()) => SignatureCheck::Verified,
            Err(e) => SignatureCheck::Failed(e.to_string()),
        }))
    }

    /// Sends a captured request (method, headers, body) to `url` through the SSRF guard, and
    /// returns what came back. The captured sub-path and query are not added: `url` is used
    /// as is.
    pub async fn replay_capture(&self, request: &CapturedRequest, url: &str) -> Result<RawResponse> {
        let mut p = Problems::default();
        p.url("url", url);
        p.finish()?;
        if request.refused.is_some() {
            return Err(ServiceError::Conflict(
                "this request was refused unread (413), so there is no body to replay".into(),
            ));
        }
        let raw = RawRequest { method: &request.method, url, headers: &request.headers, body: &request.body };
        Ok(self.0.replay.send_raw(&raw).await)
    }

    /// Checks what every save of an inbox checks; normalizes the secret to `whsec_…`.
    async fn check_inbox(&self, data: &mut InboxData) -> Result<()> {
        let mut p = Problems::default();
        let r = &data.response;
        // 1xx are interim answers: sent as the final one, the client would wait for another.
        if !(200..=599).contains(&r.status) {
            p.add("response.status", "must be a final HTTP status, between 200 and 599");
        }
        if !(0..=MAX_DELAY_MS).contains(&r.delay_ms) {
            p.add("response.delayMs", format!("must be between 0 and {MAX_DELAY_MS} (30 s)"));
        }
        if r.body.len() > MAX_RESPONSE_BODY {
            p.add("response.body", format!("must be at most {MAX_RESPONSE_BODY} bytes"));
        }
        for (name, value) in &r.headers {
            p.header(&format!("response.headers.{name}"), name, value);
        }
        if let Some(name) = &data.name {
            if name.trim().is_empty() {
                p.add("name", "must not be empty (use null for no name)");
            } else if name.chars().count() > MAX_NAME_LEN {
                p.add("name", format!("must be at most {MAX_NAME_LEN} characters long"));
            } else if name.chars().any(char::is_control) {
                p.add("name", "must not contain control characters");
            }
        }
        if let Some(secret) = &data.secret {
            match EndpointSecret::parse_for_verifying(secret) {
                Ok(s) => data.secret = Some(s.expose()),
                Err(e) => p.add("secret", e.to_string()),
            }
        }
        if let Some(endpoint_id) = &data.endpoint_id {
            match self.store().get_endpoint_by_id(endpoint_id).await {
                Ok(_) => {}
                Err(StoreError::NotFound(_)) => p.add(
                    "endpointId",
                    format!("no endpoint '{endpoint_id}' (link an existing endpoint by its ep_… id)"),
                ),
                Err(e) => return Err(e.into()),
            }
        }
        if !(1..=MAX_MAX_REQUESTS).contains(&data.max_requests) {
            p.add("maxRequests", format!("must be between 1 and {MAX_MAX_REQUESTS}"));
        }
        let now = now_ms();
        if data.expires_at <= now {
            p.add("expiresAt", "must be in the future");
        } else if data.expires_at > now + MAX_TTL_MS {
            p.add("expiresAt", "must be at most 365 days from now");
        }
        p.finish()
    }
}
