//! The bench's receiver: a real HTTP server on 127.0.0.1 that answers every webhook with 200
//! and records when it arrived.
//!
//! Each endpoint posts to its own path `/e/{k}`, and each payload carries its sequence number
//! and publish time, so one bit per (endpoint, message) tells a first arrival from a
//! duplicate. That keeps memory fixed by the run's size (1M messages: 125 KB) instead of a
//! map of `webhook-id`s; the `webhook-id` header is still required, since a webhook without
//! it is not one.
//!
//! In isolation mode, the hanging endpoints post to `/hang/{k}`, which holds every request
//! open until the run is measured.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::histogram::Histogram;
use super::timeline::Timeline;

/// What every published payload carries.
#[derive(Deserialize)]
pub struct Probe {
    /// Sequence number of the message, 0-based.
    pub seq: u64,
    /// Publish time in microseconds since the bench's epoch.
    pub t: u64,
}

/// Arrivals, shared between the HTTP handlers and the bench.
pub struct Recorder {
    epoch: Instant,
    messages: u64,
    endpoints: u64,
    /// Message n goes to the endpoints k with k = n (mod `apps`).
    apps: u64,
    seen: Box<[AtomicU64]>,
    pub latency: Histogram,
    /// The same deliveries by second of the run, with the hanging endpoints' requests.
    pub timeline: Timeline,
    unique: AtomicU64,
    duplicates: AtomicU64,
    malformed: AtomicU64,
    /// Microseconds since the epoch of the latest first arrival.
    last_arrival: AtomicU64,
    /// Requests to the hanging endpoints (isolation mode).
    hung: AtomicU64,
    /// Closed once the run is measured: the hanging endpoints then answer.
    hanging_released: Semaphore,
    /// Drain mode: the measured endpoints hold every request until this closes.
    drain: Option<Semaphore>,
}

impl Recorder {
    pub fn new(epoch: Instant, messages: u64, endpoints: u64, apps: u64, drain: bool) -> Self {
        let apps = apps.max(1);
        // Each endpoint gets one message in `apps`: a bit for each of those.
        let bits = messages.div_ceil(apps) * endpoints;
        Self {
            epoch,
            messages,
            endpoints,
            apps,
            seen: (0..bits.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::default(),
            timeline: Timeline::default(),
            unique: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            last_arrival: AtomicU64::new(0),
            hung: AtomicU64::new(0),
            hanging_released: Semaphore::new(0),
            drain: drain.then(|| Semaphore::new(0)),
        }
    }

    /// Drain mode: the endpoints come back, and answer what they held and all that follows.
    /// When (µs since the epoch).
    pub fn release_drain(&self) -> u64 {
        let now = self.epoch.elapsed().as_micros() as u64;
        if let Some(gate) = &self.drain {
            gate.close();
        }
        now
    }

    pub fn unique(&self) -> u64 {
        self.unique.load(Ordering::Relaxed)
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    pub fn hung(&self) -> u64 {
        self.hung.load(Ordering::Relaxed)
    }

    /// Lets the hanging endpoints answer: those waiting now, and any request after.
    pub fn release_hanging(&self) {
        self.hanging_released.close();
    }

    /// Microseconds since the epoch of the latest first arrival (0: none yet).
    pub fn last_arrival(&self) -> u64 {
        self.last_arrival.load(Ordering::Relaxed)
    }

    fn record(&self, endpoint: u64, has_id: bool, body: &[u8]) {
        let now = self.epoch.elapsed().as_micros() as u64;
        let probe = match serde_json::from_slice::<Probe>(body) {
            // A message that reached an endpoint of another application is misrouted.
            Ok(p)
                if has_id
                    && p.seq < self.messages
                    && endpoint < self.endpoints
                    && p.seq % self.apps == endpoint % self.apps =>
            {
                p
            }
            _ => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let bit = endpoint * self.messages.div_ceil(self.apps) + probe.seq / self.apps;
        let mask = 1u64 << (bit % 64);
        let before = self.seen[(bit / 64) as usize].fetch_or(mask, Ordering::Relaxed);
        if before & mask != 0 {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.latency.record(now.saturating_sub(probe.t));
        self.timeline.arrived(probe.t, now.saturating_sub(probe.t));
        self.last_arrival.fetch_max(now, Ordering::Relaxed);
        self.unique.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts the receiver on 127.0.0.1 port 0; it runs until the process ends.
pub async fn start(recorder: Arc<Recorder>) -> std::io::Result<SocketAddr> {
    let app = Router::new().route("/e/{k}", post(arrive)).route("/hang/{k}", post(hang)).with_state(recorder);
    serve(app).await
}

async fn arrive(
    State(recorder): State<Arc<Recorder>>,
    Path(endpoint): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if let Some(gate) = &recorder.drain {
        let _ = gate.acquire().await; // held until the endpoints come back
    }
    recorder.record(endpoint, headers.contains_key("webhook-id"), &body);
    StatusCode::OK
}

/// A hanging endpoint: holds the request open until the run is measured (hookd's request
/// timeout usually ends it first), then answers 503.
async fn hang(State(recorder): State<Arc<Recorder>>) -> StatusCode {
    recorder.hung.fetch_add(1, Ordering::Relaxed);
    recorder.timeline.hung(recorder.epoch.elapsed().as_micros() as u64);
    let _ = recorder.hanging_released.acquire().await;
    StatusCode::SERVICE_UNAVAILABLE
}

/// The ceiling's server: accepts any POST with 202 and a small JSON body, as the API does,
/// and does nothing else.
pub async fn start_trivial() -> std::io::Result<SocketAddr> {
    let app = Router::new().route(
        "/",
        post(|_body: Bytes| async {
            (StatusCode::ACCEPTED, [("content-type", "application/json")], r#"{"id":"msg_trivial"}"#)
        }),
    );
    serve(app).await
}

async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_first_arrivals_duplicates_and_garbage() {
        let r = Recorder::new(Instant::now(), 100, 2, 1, false);
        r.record(0, true, br#"{"seq":5,"t":0}"#);
        r.record(1, true, br#"{"seq":5,"t":0}"#);
        r.record(1, true, br#"{"seq":5,"t":0}"#);
        r.record(0, true, br#"{"seq":100,"t":0}"#);
        r.record(2, true, br#"{"seq":1,"t":0}"#);
        r.record(0, false, br#"{"seq":1,"t":0}"#);
        r.record(0, true, b"not json");
        assert_eq!((r.unique(), r.duplicates(), r.malformed()), (2, 1, 4));
        assert_eq!(r.latency.count(), 2);
    }

    #[test]
    fn with_several_applications_each_endpoint_gets_its_applications_messages() {
        // 3 applications, 6 endpoints: endpoint k and message n belong to application k mod 3.
        let r = Recorder::new(Instant::now(), 10, 6, 3, false);
        for n in 0..10u64 {
            for k in (0..6).filter(|k| k % 3 == n % 3) {
                r.record(k, true, format!(r#"{{"seq":{n},"t":0}}"#).as_bytes());
            }
        }
        assert_eq!((r.unique(), r.duplicates(), r.malformed()), (20, 0, 0));
        r.record(4, true, br#"{"seq":9,"t":0}"#); // message 9 is application 0's; endpoint 4 is 1's
        r.record(3, true, br#"{"seq":9,"t":0}"#); // a repeat
        assert_eq!((r.unique(), r.duplicates(), r.malformed()), (20, 1, 1));
    }
}
