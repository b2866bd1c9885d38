//! Outbound HTTP for all of hookd: deliveries (the worker), the tester's replay (the server)
//! and `hookd listen`'s forwarding. One place decides what leaves the process:
//!
//! - **The SSRF guard.** Names are resolved by [`GuardedResolver`], which drops every address
//!   the [`NetPolicy`] refuses; reqwest connects only to what it returns, so a name cannot
//!   resolve to a public address when checked and a private one when connecting (no
//!   DNS-rebinding window). A host written as an IP literal never reaches a resolver and is
//!   checked on its own.
//! - **No redirects**: a 3xx is the endpoint's answer, not an instruction to go elsewhere
//!   (which would step around the guard).
//! - **No implicit proxy.** reqwest would otherwise take `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY`
//!   from the environment, and then the guard would only ever see the proxy's address: every
//!   private target would be reachable through it. A proxy is used only when configured
//!   ([`Egress::proxy`], `--proxy`); see [`Egress`] for what the guard still does then.
//! - **Hop-by-hop headers** are never passed on ([`is_hop_by_hop`]).
//! - **Timeouts and one pool** per process, with enough idle connections per host for many
//!   endpoints on one host.
//! - **Endpoint authentication** beyond the signature: an OAuth 2.0 bearer token
//!   ([`oauth`]) and a TLS client certificate (a client per identity, built with the same
//!   rules, see [`Sender::send`]).

mod oauth;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd_core::endpoint_auth::{MtlsConfig, OAuthConfig};
use hookd_core::net::NetPolicy;
use hookd_core::signing::{signature_header, EndpointSecret};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};

/// At most this much of a response body is kept with the attempt.
pub const MAX_RESPONSE_BYTES: usize = 20 * 1024;

/// The `user-agent` of every delivery.
pub const USER_AGENT_VALUE: &str = concat!("hookd/", env!("CARGO_PKG_VERSION"));

/// How requests leave this process.
#[derive(Debug, Clone, Default)]
pub struct Egress {
    /// Which destinations the SSRF guard lets through.
    pub policy: NetPolicy,
    /// An explicit egress proxy (`http://` or `https://`), e.g. a smokescreen-style filter.
    /// Every request then goes to the proxy, which resolves and connects to the target. The
    /// guard still refuses IP literals it does not allow, and resolves a name itself to
    /// refuse it when any of its addresses is refused; but the proxy resolves the name again
    /// to connect, so between the two lookups a name could change (DNS rebinding). Under a
    /// proxy, the proxy's own filter is the guard that counts. The proxy's address is not
    /// checked against the policy: it is the operator's choice.
    pub proxy: Option<url::Url>,
}

/// A proxy URL hookd can use: `http://` or `https://`, with a host.
pub fn parse_proxy(value: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(value).map_err(|e| format!("'{value}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("'{value}' must be an http:// or https:// URL with a host"));
    }
    Ok(url)
}

/// A plain client for a destination the user chose on their own machine (`hookd listen`
/// forwarding to a local app, or reaching a hookd server): no redirects followed, no proxy
/// from the environment, and `timeout` per request when given.
pub fn plain_client(timeout: Option<Duration>, connect_timeout: Option<Duration>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none());
    if let Some(t) = timeout {
        builder = builder.timeout(t);
    }
    if let Some(t) = connect_timeout {
        builder = builder.connect_timeout(t);
    }
    builder.build().expect("TLS backend initialises")
}

/// A DNS resolver that drops every address the SSRF policy refuses. reqwest connects only to
/// the addresses returned here, so a name cannot resolve to a public address when checked and
/// to a private one when connecting (no DNS-rebinding window).
struct GuardedResolver {
    policy: Arc<NetPolicy>,
}

/// The error a resolution gives when every address was refused; found again in the error
/// chain to tell the user why an attempt never left.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(Refused(format!("DNS lookup of {host} failed: {e}")))
                })?
                .collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(reason) => {
                        refusal.get_or_insert(reason);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let reason = refusal.unwrap_or_else(|| format!("DNS lookup of {host} returned no address"));
                return Err(Box::new(Refused(reason)).into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// What one HTTP attempt produced.
#[derive(Debug, Clone)]
pub struct HttpOutcome {
    /// `None` when no response arrived.
    pub status: Option<u16>,
    pub body: String,
    pub duration: Duration,
    /// Why there was no response.
    pub error: Option<String>,
    /// A `Retry-After` the receiver sent.
    pub retry_after: Option<Duration>,
}

impl HttpOutcome {
    /// No response, for `reason`, after what was spent since `started`.
    pub fn failed(started: Instant, reason: String) -> Self {
        Self { status: None, body: String::new(), duration: started.elapsed(), error: Some(reason), retry_after: None }
    }

    pub fn is_success(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }
}

/// A signed webhook request, ready to send.
pub struct SignedRequest<'a> {
    pub url: &'a str,
    /// `POST`, or `PUT`/`PATCH` from a transformation.
    pub method: &'a str,
    pub msg_id: &'a str,
    pub payload: &'a str,
    /// `Content-Type` of a raw payload; `None` sends `application/json`.
    pub content_type: Option<&'a str>,
    /// The endpoint's own time limit, shorter than the sender's; `None`: the sender's.
    pub timeout: Option<Duration>,
    pub secrets: &'a [EndpointSecret],
    pub extra_headers: &'a std::collections::BTreeMap<String, String>,
    /// Seconds since the epoch for `webhook-timestamp`.
    pub timestamp: i64,
    /// How hookd proves itself beyond the signature.
    pub auth: EndpointAuth<'a>,
    /// Private networks are allowed too ([`NetPolicy::with_private_networks`]): the
    /// endpoint belongs to a source that allows them.
    pub allow_private: bool,
}

/// An endpoint's authentication beyond the signature.
#[derive(Debug, Clone, Copy, Default)]
pub struct EndpointAuth<'a> {
    /// The endpoint's id: its OAuth token is kept under it.
    pub endpoint_id: &'a str,
    pub oauth: Option<&'a OAuthConfig>,
    pub mtls: Option<&'a MtlsConfig>,
}

/// Whether `mtls` can be used: a private key and a certificate in `identity`, certificates in
/// `server_ca_cert`; each is tried in a client, which parses them as TLS will. The field at
/// fault and why when not.
pub fn check_mtls(mtls: &MtlsConfig) -> Result<(), (&'static str, String)> {
    let has = |what: &str| mtls.identity.contains(&format!("-----BEGIN {what}"));
    if !has("CERTIFICATE") || !["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"].into_iter().any(has) {
        return Err(("identity", "must hold a PEM private key and a PEM certificate".into()));
    }
    let identity = reqwest::Identity::from_pem(mtls.identity.as_bytes())
        .map_err(|e| ("identity", format!("not a usable identity: {}", chain(&e))))?;
    reqwest::Client::builder()
        .identity(identity)
        .build()
        .map_err(|e| ("identity", format!("not a usable identity: {}", chain(&e))))?;
    if let Some(ca) = &mtls.server_ca_cert {
        let unusable = |e: reqwest::Error| ("serverCaCert", format!("not usable PEM certificates: {}", chain(&e)));
        let certs = reqwest::Certificate::from_pem_bundle(ca.as_bytes()).map_err(unusable)?;
        if certs.is_empty() {
            return Err(("serverCaCert", "holds no PEM certificate".into()));
        }
        let builder = certs.into_iter().fold(reqwest::Client::builder(), |b, cert| b.add_root_certificate(cert));
        builder.build().map_err(unusable)?;
    }
    Ok(())
}

/// An error and its causes, on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A request passed on as it was captured (the webhook tester's replay).
pub struct RawRequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// Sent in order, repeats kept; hop-by-hop headers are left out.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// What a [`RawRequest`] got back.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// `None` when no response arrived.
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    /// At most [`MAX_RESPONSE_BYTES`], lossily as UTF-8.
    pub body: String,
    pub duration: Duration,
    /// Why there was no response.
    pub error: Option<String>,
}

/// Whether a header describes one connection rather than the message (RFC 9110 section 7.6.1),
/// or is recomputed by whoever sends the message on (`host`, `content-length`). Such headers
/// are never copied when a request or response is passed on.
pub fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

/// The rule for a header hookd sends (an endpoint's extra headers, an inbox's configured
/// response): a valid name, a value without control characters, and not a header that
/// describes the connection ([`is_hop_by_hop`]), which the sender sets itself.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if HeaderName::try_from(name).is_err() {
        Err(format!("'{name}' is not a valid header name"))
    } else if HeaderValue::try_from(value).is_err() {
        Err("not a valid header value (no control characters)".into())
    } else if is_hop_by_hop(name) {
        Err(format!("'{name}' describes the connection and is set by the server"))
    } else {
        Ok(())
    }
}

/// The rule for a header added to hookd's own deliveries (an endpoint's extra headers, what
/// a transformation adds): [`check_header`]'s, and not one hookd sets itself (the
/// `webhook-*` signature headers, the body's type, the user agent).
pub fn check_delivery_header(name: &str, value: &str) -> Result<(), String> {
    check_header(name, value)?;
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("webhook-") || matches!(lower.as_str(), "content-type" | "user-agent") {
        return Err(format!("'{name}' is set by hookd and cannot be overridden"));
    }
    Ok(())
}

/// Idle keep-alive connections kept per host, at most.
const MAX_IDLE_PER_HOST: usize = 1024;

/// Clients with a TLS client identity kept at most (one per distinct identity and CA); past
/// this the cache starts again.
const MAX_TLS_CLIENTS: usize = 1024;

/// Sends webhooks and passes captured requests on. One instance (one connection pool) per
/// process and purpose.
/// What a TLS client is built from: the identity and the endpoint's CA, both PEM, and whether
/// private networks are allowed.
type TlsKey = (String, Option<String>, bool);

/// A client and the SSRF policy its resolver applies.
struct Guarded {
    client: reqwest::Client,
    policy: Arc<NetPolicy>,
}

impl Guarded {
    fn new(egress: &Egress, policy: NetPolicy, timeout: Duration) -> Self {
        let policy = Arc::new(policy);
        let client = client_builder(egress, &policy, timeout).build().expect("TLS backend initialises");
        Self { client, policy }
    }
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<NetPolicy>,
    egress: Arc<Egress>,
    /// The same rules with private networks allowed, for the endpoints of a source that
    /// allows them.
    private: Arc<Guarded>,
    /// Requests go through a proxy, which resolves names itself.
    proxied: bool,
    timeout: Duration,
    /// Clients presenting a TLS client certificate, by (identity, CA).
    tls_clients: Arc<Mutex<HashMap<TlsKey, reqwest::Client>>>,
    tokens: Arc<oauth::Tokens>,
}

impl Sender {
    pub fn new(egress: Egress, timeout: Duration) -> Self {
        let policy = Arc::new(egress.policy.clone());
        let client = client_builder(&egress, &policy, timeout).build().expect("TLS backend initialises");
        let private = Arc::new(Guarded::new(&egress, egress.policy.with_private_networks(), timeout));
        Self {
            client,
            policy,
            private,
            proxied: egress.proxy.is_some(),
            egress: Arc::new(egress),
            timeout,
            tls_clients: Arc::default(),
            tokens: Arc::default(),
        }
    }

    /// The client for an endpoint with a TLS client identity: the same rules as the shared
    /// one, plus the identity and the endpoint's CA. Built once per identity.
    fn tls_client(&self, mtls: &MtlsConfig, allow_private: bool) -> Result<reqwest::Client, String> {
        let key = (mtls.identity.clone(), mtls.server_ca_cert.clone(), allow_private);
        let mut clients = self.tls_clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let identity = reqwest::Identity::from_pem(mtls.identity.as_bytes())
            .map_err(|e| format!("the endpoint's TLS client identity is unusable: {}", chain(&e)))?;
        let policy = if allow_private { &self.private.policy } else { &self.policy };
        let mut builder = client_builder(&self.egress, policy, self.timeout).identity(identity);
        for cert in mtls.server_ca_cert.iter().flat_map(|ca| reqwest::Certificate::from_pem_bundle(ca.as_bytes())) {
            for cert in cert {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| format!("the endpoint's TLS settings are unusable: {}", chain(&e)))?;
        if clients.len() >= MAX_TLS_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// The headers of a signed webhook: the endpoint's own first, so they cannot override the
    /// signature headers.
    fn headers(req: &SignedRequest<'_>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (k, v) in req.extra_headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
                headers.insert(k, v);
            }
        }
        let signature = signature_header(req.secrets, req.msg_id, req.timestamp, req.payload.as_bytes());
        let content_type = req.content_type.and_then(|t| HeaderValue::try_from(t).ok());
        headers.insert(CONTENT_TYPE, content_type.unwrap_or(HeaderValue::from_static("application/json")));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        for (name, value) in [
            ("webhook-id", req.msg_id.to_owned()),
            ("webhook-timestamp", req.timestamp.to_string()),
            ("webhook-signature", signature),
        ] {
            headers.insert(name, HeaderValue::try_from(value).expect("ids, digits and base64 are valid header values"));
        }
        headers
    }

    /// Sends one signed webhook and reports what happened; never fails.
    ///
    /// With OAuth, the endpoint's token goes in `Authorization: Bearer` (over any
    /// `Authorization` among its headers); a 401 answer to a token kept from before gets one
    /// more try with a new token, within the same attempt. With a TLS identity, the request
    /// goes through that identity's client.
    pub async fn send(&self, req: &SignedRequest<'_>) -> HttpOutcome {
        let started = Instant::now();
        let policy = if req.allow_private { &self.private.policy } else { &self.policy };
        let url = match self.checked_url(req.url, policy).await {
            Ok(url) => url,
            Err(reason) => return failure(started, reason),
        };
        let timeout = req.timeout.map_or(self.timeout, |t| t.min(self.timeout));
        let method = match reqwest::Method::from_bytes(req.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => return failure(started, format!("'{}' is not an HTTP method", req.method)),
        };
        let client = match req.auth.mtls {
            Some(mtls) => match self.tls_client(mtls, req.allow_private) {
                Ok(client) => client,
                Err(reason) => return failure(started, reason),
            },
            None if req.allow_private => self.private.client.clone(),
            None => self.client.clone(),
        };
        let headers = Self::headers(req);
        let mut refused = None;
        let response = loop {
            let mut headers = headers.clone();
            let mut token = None;
            if let Some(oauth) = req.auth.oauth {
                match self.oauth_token(req.auth.endpoint_id, oauth, refused.as_deref(), timeout).await {
                    Ok(t) => {
                        let bearer = HeaderValue::try_from(format!("Bearer {t}")).expect("checked when fetched");
                        headers.insert(reqwest::header::AUTHORIZATION, bearer);
                        token = Some(t);
                    }
                    Err(reason) => return failure(started, format!("OAuth: {reason}")),
                }
            }
            let sent = client
                .request(method.clone(), url.clone())
                .headers(headers)
                .timeout(timeout)
                .body(req.payload.to_owned())
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED && token.is_some() && refused.is_none() => {
                    refused = token;
                }
                Ok(r) => break r,
                Err(e) => return failure(started, self.describe(&e, timeout)),
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_capped(response).await;
        HttpOutcome { status: Some(status), body, duration: started.elapsed(), error: None, retry_after }
    }

    /// Sends a captured request on: its method, headers (less hop-by-hop ones) and body, through
    /// the SSRF guard. Never fails; a request that got no response says why.
    pub async fn send_raw(&self, req: &RawRequest<'_>) -> RawResponse {
        let started = Instant::now();
        let no_response = |error: String| RawResponse {
            status: None,
            headers: vec![],
            body: String::new(),
            duration: started.elapsed(),
            error: Some(error),
        };
        let url = match self.checked_url(req.url, &self.policy).await {
            Ok(url) => url,
            Err(reason) => return no_response(reason),
        };
        let method = match reqwest::Method::from_bytes(req.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => return no_response(format!("'{}' is not an HTTP method", req.method)),
        };
        let mut headers = HeaderMap::new();
        for (k, v) in req.headers.iter().filter(|(k, _)| !is_hop_by_hop(k)) {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v)) {
                headers.append(k, v);
            }
        }
        let sent = self.client.request(method, url).headers(headers).body(req.body.to_vec()).send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return no_response(self.describe(&e, self.timeout)),
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        RawResponse {
            status: Some(status),
            headers,
            body: read_capped(response).await,
            duration: started.elapsed(),
            error: None,
        }
    }

    /// Parses the URL (once: the request takes it parsed) and checks a host written as an IP
    /// literal, which never reaches the resolver. Under a proxy, which resolves names itself,
    /// a name is resolved here too and refused when any of its addresses is (see [`Egress`]).
    async fn checked_url(&self, url: &str, policy: &NetPolicy) -> Result<url::Url, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(name)) if self.proxied => {
                let addrs = tokio::net::lookup_host((name, 0))
                    .await
                    .map_err(|e| format!("DNS lookup of {name} failed: {e}"))?;
                for addr in addrs {
                    policy.check(addr.ip())?;
                }
                return Ok(parsed);
            }
            Some(url::Host::Domain(_)) => return Ok(parsed),
            None => return Err("URL has no host".into()),
        };
        policy.check(ip).map(|()| parsed)
    }

    /// A one-line reason for a request that got no response.
    fn describe(&self, e: &reqwest::Error, timeout: Duration) -> String {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(refused) = s.downcast_ref::<Refused>() {
                return refused.0.clone();
            }
            source = s.source();
        }
        if e.is_timeout() {
            return format!("timed out after {} ms", timeout.as_millis());
        }
        chain(e)
    }
}

/// A client with hookd's rules: the SSRF guard (or the configured proxy, never one from the
/// environment), no redirects, timeouts, a large idle pool.
fn client_builder(egress: &Egress, policy: &Arc<NetPolicy>, timeout: Duration) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().no_proxy();
    let builder = match &egress.proxy {
        Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.as_str()).expect("proxy URL checked at start-up")),
        None => builder.dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() })),
    };
    builder
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(60))
        // Many endpoints often share a host (a SaaS receiving its customers' webhooks), each
        // with up to `--endpoint-concurrency` attempts in flight. With at most 64 idle
        // connections per host, every attempt beyond 64 in flight to one host opened a new
        // connection and closed it after (measured: 9,900 connections for 100,000
        // deliveries to 10 endpoints on one host). Idle ones still close after a minute.
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .user_agent(USER_AGENT_VALUE)
}

fn failure(started: Instant, reason: String) -> HttpOutcome {
    HttpOutcome::failed(started, reason)
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of a body, lossily as UTF-8.
async fn read_capped(mut response: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(MAX_RESPONSE_BYTES);
    String::from_utf8_lossy(&buf).into_owned()
}

/// `Retry-After` is either delay-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends a tiny signed webhook to `url` (a fresh secret, no extra headers).
    async fn send_to(sender: &Sender, url: &str) -> HttpOutcome {
        let (secrets, headers) = ([EndpointSecret::generate()], Default::default());
        let request = SignedRequest {
            url,
            method: "POST",
            msg_id: "msg_x",
            payload: "{}",
            content_type: None,
            timeout: None,
            secrets: &secrets,
            extra_headers: &headers,
            timestamp: 1,
            auth: EndpointAuth::default(),
            allow_private: false,
        };
        sender.send(&request).await
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[tokio::test]
    async fn literal_private_hosts_are_refused_before_connecting() {
        let sender = Sender::new(Egress::default(), Duration::from_secs(1));
        for url in
            ["http://127.0.0.1:1/", "http://[::1]:1/", "http://169.254.169.254/latest", "http://[::ffff:10.0.0.1]/"]
        {
            let out = send_to(&sender, url).await;
            assert_eq!(out.status, None);
            assert!(out.error.as_deref().unwrap().contains("SSRF"), "{url}: {:?}", out.error);
        }
    }

    #[tokio::test]
    async fn raw_requests_go_through_the_guard_too() {
        let sender = Sender::new(Egress::default(), Duration::from_secs(1));
        let headers = vec![("x-a".to_string(), "1".to_string())];
        for url in ["http://127.0.0.1:1/", "http://localhost:9/"] {
            let out = sender.send_raw(&RawRequest { method: "PUT", url, headers: &headers, body: b"x" }).await;
            assert_eq!(out.status, None);
            assert!(out.error.as_deref().unwrap().contains("SSRF"), "{url}: {out:?}");
        }
        assert!(is_hop_by_hop("Transfer-Encoding") && is_hop_by_hop("host"));
        assert!(!is_hop_by_hop("content-type"));
    }

    /// A keep-alive HTTP/1.1 server on 127.0.0.1 that answers every POST with 200 after
    /// `delay`, and counts the connections it accepted.
    async fn counting_server(delay: Duration) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let (mut line, mut length) = (String::new(), 0);
                        while stream.read_line(&mut line).await.unwrap_or(0) > 2 {
                            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap();
                            }
                            line.clear();
                        }
                        if line.is_empty() {
                            return; // closed
                        }
                        let mut body = vec![0; length];
                        stream.read_exact(&mut body).await.unwrap();
                        tokio::time::sleep(delay).await;
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if stream.get_mut().write_all(ok).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_to_one_host_are_kept_for_many_endpoints() {
        // 100 attempts in flight to one host, as 13 endpoints of a SaaS receiver would have at
        // 8 each, five times over: once open, the connections are all reused.
        let (url, accepted) = counting_server(Duration::from_millis(50)).await;
        let sender = Sender::new(
            Egress { policy: NetPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]), proxy: None },
            Duration::from_secs(10),
        );
        for round in 0..5 {
            let attempts = (0..100).map(|_| send_to(&sender, &url));
            for out in futures_util::future::join_all(attempts).await {
                assert_eq!(out.status, Some(200), "round {round}: {:?}", out.error);
            }
        }
        let opened = accepted.load(std::sync::atomic::Ordering::Relaxed);
        // At most one per attempt in flight (a few more if the client raced a connect against
        // a connection coming free); with too small an idle pool it was 244.
        assert!(opened <= 110, "{opened} connections for 100 in flight");
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        let sender = Sender::new(Egress::default(), Duration::from_secs(1));
        let out = send_to(&sender, "http://localhost:9/").await;
        let error = out.error.unwrap();
        assert!(error.contains("loopback") && error.contains("SSRF"), "{error}");
    }
}
