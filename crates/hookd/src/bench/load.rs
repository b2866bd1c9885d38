//! The load side: the API calls that set a run up, and the publisher, which posts messages
//! either as fast as `concurrency` requests in flight allow or at a fixed rate.
//!
//! One `reqwest::Client` serves the whole run, the ceiling included, so both measure the
//! same HTTP stack.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// The event type of every published message.
const EVENT_TYPE: &str = "bench.event";

/// The secret of the source an ingest run posts to.
pub const INGEST_SECRET: &str = "hookd-bench-ingest-secret";

pub fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("the HTTP client builds")
}

/// The API of one hookd, as the bench uses it.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    async fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Sends `body` as JSON; the answer's JSON (`null` for a 204), or why it failed.
    async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let res = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| format!("{method} {url}: {e}"))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(format!("{method} {url}: {status}: {text}"));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("{method} {url}: bad JSON: {e}"))
    }

    /// Waits until `/api/v1/health` answers 2xx, for at most `within`.
    pub async fn wait_healthy(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let url = format!("{}/api/v1/health", self.base);
        loop {
            match self.http.get(&url).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if Instant::now() >= deadline => return Err(format!("{url} answers {}", r.status())),
                Err(e) if Instant::now() >= deadline => return Err(format!("{url}: {e}")),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Creates the run's application; returns its id.
    pub async fn create_app(&self) -> Result<String, String> {
        let app = self.post("/api/v1/app", &json!({"name": "hookd bench"})).await?;
        Ok(app["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Creates an endpoint; returns its id.
    pub async fn create_endpoint(&self, app: &str, url: &str, filter: Option<&str>) -> Result<String, String> {
        let body = json!({"url": url, "description": "hookd bench", "filter": filter});
        let endpoint = self.post(&format!("/api/v1/app/{app}/endpoint"), &body).await?;
        Ok(endpoint["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Creates a `github` source with `secret`; returns its id and URL.
    pub async fn create_source(&self, secret: &str) -> Result<(String, String), String> {
        let body = json!({"name": "hookd bench", "type": "github", "config": {"secret": secret}});
        let source = self.post("/ingest/api/v1/source", &body).await?;
        let field = |name: &str| source[name].as_str().unwrap_or_default().to_owned();
        Ok((field("id"), field("ingestUrl")))
    }

    /// Adds an endpoint to a source.
    pub async fn create_source_endpoint(&self, source: &str, url: &str) -> Result<(), String> {
        let body = json!({"url": url, "description": "hookd bench"});
        self.post(&format!("/ingest/api/v1/source/{source}/endpoint"), &body).await.map(|_| ())
    }

    pub async fn set_transformation(&self, app: &str, endpoint: &str, code: &str) -> Result<(), String> {
        let path = format!("/api/v1/app/{app}/endpoint/{endpoint}/transformation");
        self.send(reqwest::Method::PATCH, &path, &json!({"code": code, "enabled": true})).await.map(|_| ())
    }
}

/// How messages are paced.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as this many requests in flight allow.
    Concurrency(usize),
    /// This many messages per second, with at most `max_in_flight` requests in flight.
    Rate { per_second: f64, max_in_flight: usize },
}

/// Counters of a publishing run, readable while it goes on.
#[derive(Default)]
pub struct Published {
    pub accepted: AtomicU64,
    pub failed: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

impl Published {
    pub fn done(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }

    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(why);
        }
    }
}

/// Where and what to publish.
#[derive(Clone)]
pub struct Target {
    pub http: reqwest::Client,
    /// Where to publish: message n goes to application `n mod A`'s path (`paths`, A of them)
    /// on the nodes in turn: node `(n / A) mod N` of `bases`.
    pub bases: Arc<[String]>,
    pub paths: Arc<[String]>,
    pub token: String,
    /// Times in payloads are microseconds since this instant.
    pub epoch: Instant,
    /// Each publish carries the idempotency key `{prefix}{seq}`, as the SDKs send one.
    pub key_prefix: Option<String>,
    /// Filler that makes each payload about `--payload-bytes` long (empty: a minimal payload).
    pub pad: std::sync::Arc<str>,
    /// Ingest mode: post the payload alone to a source's URL, signed with this secret as
    /// GitHub signs, with the key as its delivery id.
    pub ingest_secret: Option<std::sync::Arc<str>>,
}

impl Target {
    /// Posts message `seq` with its publish time in the payload.
    async fn publish(&self, seq: u64, out: &Published) {
        let t = self.epoch.elapsed().as_micros() as u64;
        let pad = &self.pad;
        let payload = if pad.is_empty() {
            format!(r#"{{"seq":{seq},"t":{t}}}"#)
        } else {
            format!(r#"{{"seq":{seq},"t":{t},"pad":"{pad}"}}"#)
        };
        let (a, n) = (self.paths.len() as u64, self.bases.len() as u64);
        let url = format!("{}{}", self.bases[((seq / a) % n) as usize], self.paths[(seq % a) as usize]);
        let (request, accepted) = match &self.ingest_secret {
            None => {
                let mut request =
                    self.http.post(&url).bearer_auth(&self.token).header("content-type", "application/json");
                if let Some(prefix) = &self.key_prefix {
                    request = request.header("idempotency-key", format!("{prefix}{seq}"));
                }
                (request.body(format!(r#"{{"eventType":"{EVENT_TYPE}","payload":{payload}}}"#)), 202)
            }
            Some(secret) => {
                use hmac::Mac;
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
                mac.update(payload.as_bytes());
                let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
                let mut request = self
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-github-event", "push")
                    .header("x-hub-signature-256", format!("sha256={signature}"));
                if let Some(prefix) = &self.key_prefix {
                    request = request.header("x-github-delivery", format!("{prefix}{seq}"));
                }
                (request.body(payload), 200)
            }
        };
        let sent = request.send().await;
        match sent {
            Ok(res) if res.status() == accepted => {
                // Read the body so the connection goes back to the pool.
                let _ = res.bytes().await;
                out.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Ok(res) => {
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                out.fail(format!("{status}: {text}"));
            }
            Err(e) => out.fail(e.to_string()),
        }
    }
}

/// Publishes messages `0..count`, stopping early at `deadline`.
pub async fn publish_all(target: Target, count: u64, pace: Pace, deadline: Instant, out: Arc<Published>) {
    match pace {
        Pace::Concurrency(n) => flat_out(target, count, n, deadline, out).await,
        Pace::Rate { per_second, max_in_flight } => {
            let period = Duration::from_secs_f64(1.0 / per_second);
            paced(target, count, period, max_in_flight, deadline, out).await
        }
    }
}

/// `n` tasks, each taking the next sequence number until none is left.
async fn flat_out(target: Target, count: u64, n: usize, deadline: Instant, out: Arc<Published>) {
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (target, next, out) = (target.clone(), next.clone(), out.clone());
            tokio::spawn(async move {
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= count || Instant::now() >= deadline {
                        break;
                    }
                    target.publish(seq, &out).await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// One message every `period` on a fixed schedule; a slow server cannot slow the schedule
/// down beyond `max_in_flight` requests outstanding.
async fn paced(
    target: Target,
    count: u64,
    period: Duration,
    max_in_flight: usize,
    deadline: Instant,
    out: Arc<Published>,
) {
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let start = tokio::time::Instant::now();
    for seq in 0..count {
        tokio::time::sleep_until(start + period.mul_f64(seq as f64)).await;
        if Instant::now() >= deadline {
            break;
        }
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        let (target, out) = (target.clone(), out.clone());
        tokio::spawn(async move {
            target.publish(seq, &out).await;
            drop(slot);
        });
    }
    // Every slot back means every request has finished.
    let _ = slots.acquire_many(max_in_flight as u32).await;
}
