//! `hookd listen`: relays an inbox's captured requests to a local URL, like smee.
//!
//! It attaches to the inbox's live stream as a relay (`?relay=true`), forwards each captured
//! request to `--forward` (method, sub-path, query, headers less hop-by-hop ones, body) and
//! posts the local app's response back, so the original sender gets it while it still waits
//! (the server waits a bounded time, then answers with the inbox's configured response).
//!
//! The id of the last request forwarded is kept in a small state file per inbox and sent as
//! `Last-Event-ID` whenever the stream is (re)opened, so restarting the server or the listener
//! loses nothing: requests captured in between are forwarded on reconnect, in order.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use clap::Args;
use hookd_http::is_hop_by_hop;
use hookd_server::tester::inbox_api::{InboxOut, InboxRequestOut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use url::Url;

/// Flags of `hookd listen`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Inbox to relay; when omitted a new inbox is created and its capture URL printed.
    #[arg(value_name = "INBOX_ID")]
    pub inbox: Option<String>,
    /// Local URL each captured request is sent to, with the captured sub-path and query
    /// appended.
    #[arg(long, value_name = "URL")]
    pub forward: String,
    /// The hookd server.
    #[arg(long, env = "HOOKD_SERVER", default_value = "http://127.0.0.1:8071", value_name = "URL")]
    pub server: String,
    /// Admin token of the server [default: the admin-token file in --data-dir].
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Data directory of a server on this machine, to read its admin token from.
    #[arg(long, env = "HOOKD_DATA_DIR", default_value = "./hookd-data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Where the last request forwarded is remembered, per inbox
    /// [default: $XDG_STATE_HOME/hookd or ~/.local/state/hookd].
    #[arg(long, env = "HOOKD_LISTEN_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Time limit of one request to the local URL.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DUR")]
    pub timeout: Duration,
}

/// Why `hookd listen` stopped: bad usage (exit 2) or a failure at run time (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
}

/// The stream is reopened when nothing (not even a keep-alive comment) arrived for this long.
const STALL: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A captured request, as the stream sends it: the server's own wire type.
type Captured = InboxRequestOut;

/// What the local app answered.
struct LocalResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct Listener {
    api: reqwest::Client,
    local: reqwest::Client,
    server: Url,
    token: String,
    inbox_id: String,
    forward: Url,
    state_file: PathBuf,
    last_seen: Option<String>,
}

/// Runs until interrupted; returns only on errors that retrying cannot fix.
pub async fn run(args: ListenArgs) -> Result<(), ListenError> {
    let forward = parse_http_url("--forward", &args.forward)?;
    let server = parse_http_url("--server", &args.server)?;
    let token = resolve_token(args.token.as_deref(), &args.data_dir)?;
    // Neither takes a proxy from the environment (the local app is on this machine); redirects
    // are passed back to the sender, not followed.
    let api = hookd_http::plain_client(None, Some(Duration::from_secs(5)));
    let local = hookd_http::plain_client(Some(args.timeout), None);
    let inbox = open_inbox(&api, &server, &token, args.inbox.as_deref(), &forward).await?;
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    let state_file = state_dir.join(format!("listen-{}", inbox.id));
    let last_seen = read_state(&state_file);
    println!("Inbox:       {}", inbox.id);
    println!("Capture URL: {}", inbox.url);
    println!("Web view:    {}?token=<admin token>", inbox.page_url);
    let mut listener =
        Listener { api, local, server, token, inbox_id: inbox.id.into_string(), forward, state_file, last_seen };
    listener.relay_forever(&inbox.url).await
}

fn parse_http_url(flag: &str, url: &str) -> Result<Url, ListenError> {
    match Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(u),
        Ok(_) => Err(ListenError::Usage(format!("{flag}: '{url}' must be an http or https URL"))),
        Err(e) => Err(ListenError::Usage(format!("{flag}: '{url}': {e}"))),
    }
}

/// `--token`/`HOOKD_ADMIN_TOKEN`, else the token a local server keeps in its data dir.
fn resolve_token(given: Option<&str>, data_dir: &Path) -> Result<String, ListenError> {
    if let Some(token) = given.filter(|t| !t.trim().is_empty()) {
        return Ok(token.trim().to_owned());
    }
    let path = data_dir.join("admin-token");
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_owned()),
        _ => Err(ListenError::Usage(format!(
            "no admin token: pass --token (or HOOKD_ADMIN_TOKEN), or --data-dir of a server on this machine ({} not found)",
            path.display()
        ))),
    }
}

fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("hookd");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/state/hookd"),
        None => std::env::temp_dir().join("hookd"),
    }
}

fn read_state(path: &Path) -> Option<String> {
    let id = std::fs::read_to_string(path).ok()?;
    let id = id.trim();
    hookd_core::InboxRequestId::looks_like(id).then(|| id.to_owned())
}

/// Replaces the state file atomically (write, then rename), so a kill never leaves half an id.
fn write_state(path: &Path, id: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, id)?;
    std::fs::rename(&tmp, path)
}

/// An inbox, as the API answers it: the server's own wire type.
type InboxInfo = InboxOut;

/// Fetches the inbox given, or creates one.
async fn open_inbox(
    api: &reqwest::Client,
    server: &Url,
    token: &str,
    inbox_id: Option<&str>,
    forward: &Url,
) -> Result<InboxInfo, ListenError> {
    let request = match inbox_id {
        Some(id) => api.get(endpoint(server, &format!("/api/v1/inbox/{id}"))),
        None => api
            .post(endpoint(server, "/api/v1/inbox"))
            .header("content-type", "application/json")
            .body(serde_json::json!({"name": format!("hookd listen → {forward}")}).to_string()),
    };
    let response = request
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| ListenError::Runtime(format!("cannot reach the server at {server}: {e}")))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let failure = format!("the server answered {status}: {}", api_detail(&body));
        return Err(if status.is_client_error() { ListenError::Usage(failure) } else { ListenError::Runtime(failure) });
    }
    serde_json::from_str(&body).map_err(|e| ListenError::Runtime(format!("unexpected answer from the server: {e}")))
}

fn endpoint(server: &Url, path: &str) -> String {
    format!("{}{path}", server.as_str().trim_end_matches('/'))
}

/// The `detail` of an API error body, or the body itself.
fn api_detail(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("detail").map(|d| d.as_str().map_or(d.to_string(), str::to_owned)))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

impl Listener {
    /// Keeps the stream open, reconnecting with backoff; stops only when the server refuses
    /// the stream for good (bad token, inbox gone).
    async fn relay_forever(&mut self, capture_url: &str) -> Result<(), ListenError> {
        let mut backoff = Duration::from_millis(250);
        let mut announced = false;
        loop {
            match self.open_stream().await {
                Ok(response) => {
                    if announced {
                        eprintln!("reconnected to {}", self.server);
                    } else {
                        println!("Ready: forwarding {capture_url} -> {}", self.forward);
                        announced = true;
                    }
                    backoff = Duration::from_millis(250);
                    if let Err(e) = self.pump(response).await {
                        eprintln!("stream interrupted ({e}); reconnecting");
                    }
                }
                Err(Attach::Fatal(e)) => return Err(e),
                Err(Attach::Retry(e)) => {
                    eprintln!("cannot attach to {} ({e}); retrying", self.server)
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn open_stream(&self) -> Result<reqwest::Response, Attach> {
        let url = endpoint(&self.server, &format!("/api/v1/inbox/{}/stream?relay=true", self.inbox_id));
        let mut request = self.api.get(url).bearer_auth(&self.token);
        if let Some(last) = &self.last_seen {
            request = request.header("last-event-id", last);
        }
        let response = request.send().await.map_err(|e| Attach::Retry(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let detail = api_detail(&response.text().await.unwrap_or_default());
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                Err(Attach::Fatal(ListenError::Runtime(format!("the server answered {status}: {detail}"))))
            }
            _ => Err(Attach::Retry(format!("{status}: {detail}"))),
        }
    }

    /// Reads events until the stream ends or stalls.
    async fn pump(&mut self, mut response: reqwest::Response) -> Result<(), String> {
        let mut parser = SseParser::default();
        loop {
            let chunk = tokio::time::timeout(STALL, response.chunk())
                .await
                .map_err(|_| "no data for 30 s".to_string())?
                .map_err(|e| describe(&e))?;
            let Some(chunk) = chunk else {
                return Err("closed by the server".into());
            };
            for event in parser.push(&chunk) {
                if event.event == "request" {
                    self.handle(&event.data).await;
                }
            }
        }
    }

    async fn handle(&mut self, data: &str) {
        let captured: Captured = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(e) => return eprintln!("skipping an event that is not a captured request: {e}"),
        };
        let shown_path = if captured.query.is_empty() {
            captured.path.clone()
        } else {
            format!("{}?{}", captured.path, captured.query)
        };
        let time = captured.timestamp.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S");
        if let Some(reason) = &captured.refused {
            self.remember(captured.id.as_str());
            println!("{time}  {} {shown_path}  not forwarded: {reason}", captured.method);
            return;
        }
        let started = Instant::now();
        let outcome = self.forward(&captured).await;
        let ms = started.elapsed().as_millis();
        // Remembered as soon as the local app has it: a listener stopped while handing the
        // response back must not forward the request again when it restarts.
        self.remember(captured.id.as_str());
        let response = match outcome {
            Ok(r) => {
                println!("{time}  {} {shown_path}  -> {}  {ms} ms", captured.method, r.status);
                r
            }
            Err(e) => {
                println!("{time}  {} {shown_path}  -> error: {e}  {ms} ms", captured.method);
                bad_gateway(&self.forward, &e)
            }
        };
        self.relay_back(captured.id.as_str(), response).await;
    }

    async fn forward(&self, c: &Captured) -> Result<LocalResponse, String> {
        let method = reqwest::Method::from_bytes(c.method.as_bytes())
            .map_err(|_| format!("'{}' is not an HTTP method", c.method))?;
        let body = B64.decode(&c.body_base64).map_err(|e| format!("bad body: {e}"))?;
        let response = self
            .local
            .request(method, forward_url(&self.forward, &c.path, &c.query))
            .headers(header_map(&c.headers))
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(k, _)| !is_hop_by_hop(k.as_str()))
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = response.bytes().await.map_err(|e| describe(&e))?.to_vec();
        Ok(LocalResponse { status, headers, body })
    }

    /// Posts the local response for the sender still waiting, if any; a 404 means nobody
    /// waits any more (a request caught up after a reconnect, or the wait timed out).
    async fn relay_back(&self, request_id: &str, r: LocalResponse) {
        let url = endpoint(&self.server, &format!("/api/v1/inbox/{}/request/{request_id}/response", self.inbox_id));
        let body = serde_json::json!({
            "status": r.status,
            "headers": r.headers,
            "bodyBase64": B64.encode(&r.body),
        });
        let sent = self
            .api
            .post(url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() || res.status() == StatusCode::NOT_FOUND => {}
            Ok(res) => {
                let status = res.status();
                let detail = api_detail(&res.text().await.unwrap_or_default());
                eprintln!("could not hand the local response back ({status}: {detail})");
            }
            Err(e) => eprintln!("could not hand the local response back: {e}"),
        }
    }

    fn remember(&mut self, id: &str) {
        if let Err(e) = write_state(&self.state_file, id) {
            eprintln!("cannot save {}: {e}", self.state_file.display());
        }
        self.last_seen = Some(id.to_owned());
    }
}

enum Attach {
    Retry(String),
    Fatal(ListenError),
}

/// What the sender gets when the local app could not be reached: a gateway error, as from a
/// proxy.
fn bad_gateway(forward: &Url, error: &str) -> LocalResponse {
    LocalResponse {
        status: 502,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: format!("hookd listen could not reach {forward}: {error}\n").into_bytes(),
    }
}

/// `--forward` with the captured sub-path appended and the captured query added.
fn forward_url(base: &Url, sub_path: &str, query: &str) -> Url {
    let mut url = base.clone();
    if sub_path != "/" && !sub_path.is_empty() {
        let path = format!("{}{sub_path}", base.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    if !query.is_empty() {
        let joined = match base.query().filter(|q| !q.is_empty()) {
            Some(own) => format!("{own}&{query}"),
            None => query.to_owned(),
        };
        url.set_query(Some(&joined));
    }
    url
}

/// The captured headers to send on: repeats kept, hop-by-hop ones (and `host`) left out.
fn header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in headers.iter().filter(|(k, _)| !is_hop_by_hop(k)) {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v)) {
            if k != AUTHORIZATION || !v.is_empty() {
                map.append(k, v);
            }
        }
    }
    map
}

/// A reqwest error and its causes on one line ("connection refused", not "error sending
/// request").
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// One Server-Sent Event.
#[derive(Debug, Default, PartialEq, Eq)]
struct SseEvent {
    event: String,
    data: String,
}

/// Splits a Server-Sent Events byte stream into events (the parts of the format the server
/// uses: `event`, `data`, `id`, comments; lines end with LF or CRLF).
#[derive(Default)]
struct SseParser {
    buf: Vec<u8>,
    current: SseEvent,
    has_data: bool,
}

impl SseParser {
    fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut events = vec![];
        while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if self.has_data {
                    events.push(std::mem::take(&mut self.current));
                }
                self.current = SseEvent::default();
                self.has_data = false;
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => self.current.event = value.to_owned(),
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                // Comments (empty field) and `id`/`retry`: the id is also in the data.
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.push(b": attached\n\nid: req_1\nevent: request\nda").is_empty());
        let events = p.push(b"ta: {\"a\":\r\ndata: 1}\n\n:keep-alive\n\n");
        assert_eq!(events, vec![SseEvent { event: "request".into(), data: "{\"a\":\n1}".into() }]);
    }

    #[test]
    fn forward_urls_get_the_sub_path_and_query() {
        let base = Url::parse("http://localhost:3000/webhooks").unwrap();
        assert_eq!(forward_url(&base, "/", "").as_str(), "http://localhost:3000/webhooks");
        assert_eq!(
            forward_url(&base, "/github/push", "a=1&b=%20").as_str(),
            "http://localhost:3000/webhooks/github/push?a=1&b=%20"
        );
        let root = Url::parse("http://localhost:3000/?key=k").unwrap();
        assert_eq!(forward_url(&root, "/x", "a=1").as_str(), "http://localhost:3000/x?key=k&a=1");
    }

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        let headers = [
            ("host", "example.com"),
            ("connection", "keep-alive"),
            ("content-length", "3"),
            ("x-a", "1"),
            ("x-a", "2"),
            ("webhook-id", "msg_1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let map = header_map(&headers);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get_all("x-a").iter().count(), 2);
        assert!(map.get("host").is_none());
    }
}
