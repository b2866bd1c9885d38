//! The delivery worker of hookd.
//!
//! Work is handed out per endpoint (see `hookd_store`'s queue). The [`Dispatcher`] leases
//! endpoints whose queue is due and runs one *lane* per leased endpoint. A lane claims that
//! endpoint's due deliveries in small batches and attempts them under the endpoint's own
//! limits: a cap on attempts in flight, its rate limit, FIFO order when asked for, and a
//! slow-down when the endpoint answers 429/502/504. A slow or dead endpoint therefore only
//! ever occupies its own lane, never the others'.
//!
//! Each attempt goes through typed stages: claimed ([`hookd_store::ClaimedDelivery`]) →
//! sent ([`HttpOutcome`]) → decided ([`hookd_store::DeliveryOutcome`]) → recorded in the
//! store's next group commit, with the other results and publishes waiting. The store tells
//! [`Lanes`] (its `DeliveryListener`) what each commit made due, so deliveries leave without
//! polling delay; the database stays the source of truth, and a lane only holds a bounded
//! batch in memory.

mod attempt;
mod lane;
mod lanes;
mod policy;
mod recorder;
mod schedules;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use hookd_core::metrics::Metrics;
use hookd_core::operational::Emitter;
use hookd_core::retry::RetrySchedule;
use hookd_core::time::now_ms;
use hookd_core::EndpointId;
use hookd_http::{Egress, Sender};
use hookd_store::Store;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::warn;

pub use lanes::Lanes;

/// How the worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub retry_schedule: RetrySchedule,
    pub request_timeout: Duration,
    /// How attempts leave the process: the SSRF guard's policy and any egress proxy.
    pub egress: Egress,
    /// Attempts in flight at once to one endpoint.
    pub endpoint_concurrency: usize,
    /// Endpoints worked at once by this node (each has at most `endpoint_concurrency` attempts
    /// in flight, so this bounds the node's connections too).
    pub max_lanes: usize,
    /// How long a claimed delivery or endpoint stays reserved for this node.
    pub lease: Duration,
    /// Longest sleep between looks at the queue (other nodes may add work).
    pub poll_interval: Duration,
    /// An endpoint that has failed for this long without a single success is disabled.
    pub disable_after: Duration,
    /// Identifies this node in endpoint leases.
    pub node_id: String,
    /// What one run of an endpoint's transformation may use.
    pub transformation: hookd_transform::Limits,
}

impl WorkerConfig {
    pub fn new(retry_schedule: RetrySchedule, request_timeout: Duration, egress: Egress) -> Self {
        Self {
            retry_schedule,
            request_timeout,
            egress,
            endpoint_concurrency: 8,
            max_lanes: 1024,
            // Long enough that an attempt finishes and is recorded well inside its lease.
            lease: request_timeout + Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            transformation: hookd_transform::Limits::default(),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            node_id: format!("node_{}", hookd_core::id::new_body_at(now_ms())),
        }
    }
}

/// Everything lanes share.
pub(crate) struct Shared {
    pub store: Store,
    pub sender: Sender,
    pub config: WorkerConfig,
    pub lanes: Arc<Lanes>,
    pub metrics: Arc<Metrics>,
    /// Where operational events go (the server's operational-webhook service).
    pub events: Arc<dyn Emitter>,
    /// The server's retry schedule, and event types' own.
    pub default_schedule: Arc<RetrySchedule>,
    pub schedules: schedules::Schedules,
    /// Where endpoints' transformations run.
    pub transforms: hookd_transform::Pool,
}

impl Shared {
    /// Records an attempt's result (see `recorder`).
    pub async fn record(&self, result: hookd_store::AttemptResult) {
        recorder::record(&self.store, result).await;
    }

    /// Publishes an operational webhook (a no-op unless operational endpoints exist).
    pub async fn emit(&self, event: hookd_core::operational::OperationalEvent) {
        self.events.emit(event).await
    }
}

/// Leases due endpoints and runs their lanes; see the crate documentation.
pub struct Dispatcher {
    store: Store,
    config: WorkerConfig,
    metrics: Arc<Metrics>,
    /// The registry the store was opened with as its listener.
    lanes: Arc<Lanes>,
    events: Arc<dyn Emitter>,
}

impl Dispatcher {
    /// `lanes` must be the listener `store` was opened with: it is how the store's commits
    /// reach the lanes this dispatcher runs.
    pub fn new(
        store: Store,
        config: WorkerConfig,
        metrics: Arc<Metrics>,
        lanes: Arc<Lanes>,
        events: Arc<dyn Emitter>,
    ) -> Self {
        Self { store, config, metrics, lanes, events }
    }

    /// Runs until `shutdown` resolves, then stops starting attempts, lets those in flight
    /// finish (bounded by the request timeout), records them and lets go of its endpoints.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            sender: Sender::new(self.config.egress.clone(), self.config.request_timeout),
            config: self.config.clone(),
            lanes: self.lanes.clone(),
            metrics: self.metrics.clone(),
            events: self.events.clone(),
            default_schedule: Arc::new(self.config.retry_schedule.clone()),
            schedules: Default::default(),
            transforms: hookd_transform::Pool::per_core(),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let lanes = &self.lanes;
        let mut running: JoinSet<(EndpointId, u64)> = JoinSet::new();
        let mut runs = 0u64;
        let mut swept = tokio::time::Instant::now();
        tokio::pin!(shutdown);

        loop {
            if swept.elapsed() >= self.config.lease / 4 {
                swept = tokio::time::Instant::now();
                self.release_expired_handovers().await;
            }
            let free = self.config.max_lanes.saturating_sub(lanes.count());
            lanes.set_contended(free == 0 && self.others_due().await);
            let claimed = if free == 0 { Vec::new() } else { self.claim(free).await };
            let full = !claimed.is_empty() && claimed.len() == free;
            for endpoint_id in claimed {
                runs += 1;
                let signals = lanes::LaneSignals {
                    wake: Arc::new(Notify::new()),
                    changed: Arc::new(AtomicBool::new(false)),
                    run: runs,
                };
                lanes.started(&endpoint_id, signals.clone());
                let lane = lane::run(shared.clone(), endpoint_id.clone(), signals, stop_rx.clone());
                let run = runs;
                running.spawn(async move {
                    lane.await;
                    (endpoint_id, run)
                });
            }
            self.metrics.set_endpoint_lanes(lanes.count());
            if full {
                continue;
            }
            let sleep = if lanes.count() >= self.config.max_lanes {
                self.config.poll_interval
            } else {
                self.time_to_next_due().await
            };
            tokio::select! {
                _ = &mut shutdown => break,
                // An endpoint without a lane here has work: claim again.
                _ = lanes.dispatcher_woken() => {}
                Some(done) = running.join_next() => {
                    if let Ok((endpoint_id, run)) = done {
                        lanes.ended(&endpoint_id, run);
                        self.metrics.set_endpoint_lanes(lanes.count());
                    }
                }
                _ = tokio::time::sleep(sleep) => {}
            }
        }

        let _ = stop_tx.send(true);
        let grace = self.config.request_timeout + Duration::from_secs(2);
        let drained = tokio::time::timeout(grace, async { while running.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            warn!("attempts still in flight at shutdown were abandoned; their leases will expire and they will be retried");
        }
    }

    /// Deliveries handed to a lane of a node that died before recording them are due again
    /// once their lease is over (any node may find them; see `hookd_store`'s `notify`).
    async fn release_expired_handovers(&self) {
        match self.store.release_expired_handovers(self.config.lease.as_millis() as i64).await {
            Ok(endpoints) if !endpoints.is_empty() => {
                warn!(endpoints = endpoints.len(), "deliveries handed to a lane were never recorded; due again");
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "looking for expired hand-overs failed"),
        }
    }

    async fn claim(&self, free: usize) -> Vec<EndpointId> {
        let lease = self.config.lease.as_millis() as i64;
        match self.store.claim_endpoints(free.min(256) as i64, lease, &self.config.node_id).await {
            Ok(claimed) => claimed,
            Err(e) => {
                warn!(error = %e, "claiming due endpoints failed");
                Vec::new()
            }
        }
    }

    /// Whether an endpoint that no lane holds has deliveries due now.
    async fn others_due(&self) -> bool {
        matches!(self.store.next_due_endpoint_at().await, Ok(Some(at)) if at <= now_ms())
    }

    async fn time_to_next_due(&self) -> Duration {
        let poll = self.config.poll_interval;
        match self.store.next_due_endpoint_at().await {
            Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(1, poll.as_millis() as i64) as u64),
            _ => poll,
        }
    }
}
