//! The delivery worker of hookd.
//!
//! A [`Dispatcher`] claims due deliveries from the store's queue (with a lease), sends each as
//! a signed webhook through the [`Sender`] (pooled HTTP client behind the SSRF guard), and
//! hands the results to a recorder task that writes them in batches. A delivery goes through
//! three stages: claimed → attempted → recorded (success, retry at a time, or failed).
//!
//! The dispatcher sleeps until the earliest due delivery, and is woken at once by
//! [`Dispatcher::waker`] when a publish commits, so new messages leave without polling delay.

mod sender;

use std::sync::Arc;
use std::time::Duration;

use hookd_core::id::AttemptId;
use hookd_core::net::NetPolicy;
use hookd_core::retry::RetrySchedule;
use hookd_core::signing::EndpointSecret;
use hookd_core::time::now_ms;
use hookd_store::{
    Attempt, AttemptResult, ClaimedDelivery, DeliveryOutcome, DeliveryStatus, Store, TriggerType,
};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info_span, warn, Instrument};

pub use sender::{
    is_hop_by_hop, HttpOutcome, RawRequest, RawResponse, Sender, SignedRequest, MAX_RESPONSE_BYTES,
    USER_AGENT_VALUE,
};

/// How the worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub retry_schedule: RetrySchedule,
    pub request_timeout: Duration,
    pub net_policy: NetPolicy,
    /// Attempts in flight at once, over all endpoints.
    pub max_in_flight: usize,
    /// How long a claimed delivery stays reserved for this worker.
    pub lease: Duration,
    /// Longest sleep between looks at the queue (other nodes may add work).
    pub poll_interval: Duration,
}

impl WorkerConfig {
    pub fn new(
        retry_schedule: RetrySchedule,
        request_timeout: Duration,
        net_policy: NetPolicy,
    ) -> Self {
        Self {
            retry_schedule,
            request_timeout,
            net_policy,
            max_in_flight: 512,
            // Long enough that an attempt finishes and is recorded well inside its lease.
            lease: request_timeout * 2 + Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Claims and delivers; see the crate documentation.
pub struct Dispatcher {
    store: Store,
    sender: Sender,
    config: WorkerConfig,
    wake: Arc<Notify>,
}

impl Dispatcher {
    pub fn new(store: Store, config: WorkerConfig) -> Self {
        let sender = Sender::new(config.net_policy.clone(), config.request_timeout);
        Self {
            store,
            sender,
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Notify this to make the dispatcher look at the queue now.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `shutdown` resolves, then stops claiming, lets attempts in flight finish
    /// (bounded by the request timeout) and records their results.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let (results_tx, results_rx) = mpsc::channel::<AttemptResult>(4096);
        let recorder = tokio::spawn(record_results(self.store.clone(), results_rx));
        let slots = Arc::new(Semaphore::new(self.config.max_in_flight));
        let mut in_flight = JoinSet::new();
        tokio::pin!(shutdown);

        loop {
            while in_flight.try_join_next().is_some() {}
            let free = slots.available_permits();
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match self
                    .store
                    .claim_due(free.min(256) as i64, self.config.lease.as_millis() as i64)
                    .await
                {
                    Ok(batch) => batch,
                    Err(e) => {
                        warn!(error = %e, "claiming due deliveries failed");
                        Vec::new()
                    }
                }
            };
            let got_full_batch = !claimed.is_empty() && claimed.len() >= free.min(256);
            for delivery in claimed {
                let permit = slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                let sender = self.sender.clone();
                let schedule = self.config.retry_schedule.clone();
                let results = results_tx.clone();
                let span = info_span!("delivery", msg_id = %delivery.msg_id, endpoint_id = %delivery.endpoint_id);
                in_flight.spawn(
                    async move {
                        let result = attempt(&sender, &schedule, delivery).await;
                        // The recorder only stops after every sender is dropped.
                        let _ = results.send(result).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
            if got_full_batch {
                continue;
            }
            let sleep = self.time_to_next_due().await;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                // A slot freed up: there may be claimable work we skipped for lack of slots.
                Some(_) = in_flight.join_next(), if free == 0 => {}
            }
        }

        let grace = self.config.request_timeout + Duration::from_secs(2);
        if tokio::time::timeout(grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            warn!("attempts still in flight at shutdown were abandoned; their leases will expire and they will be retried");
        }
        drop(results_tx);
        let _ = recorder.await;
    }

    async fn time_to_next_due(&self) -> Duration {
        let poll = self.config.poll_interval;
        match self.store.next_due_at().await {
            Ok(Some(at)) => {
                Duration::from_millis((at - now_ms()).clamp(0, poll.as_millis() as i64) as u64)
            }
            _ => poll,
        }
    }
}

/// Attempts one claimed delivery and decides what happens next.
async fn attempt(sender: &Sender, schedule: &RetrySchedule, d: ClaimedDelivery) -> AttemptResult {
    if d.endpoint_disabled {
        debug!("endpoint disabled; delivery parked");
        return AttemptResult {
            attempt: None,
            msg_id: d.msg_id,
            endpoint_id: d.endpoint_id,
            outcome: DeliveryOutcome::Parked,
        };
    }
    let now = now_ms();
    let secrets: Vec<EndpointSecret> = d
        .signing_keys(now)
        .into_iter()
        .filter_map(|k| EndpointSecret::parse(k).ok())
        .collect();
    let outcome = sender
        .send(&SignedRequest {
            url: &d.url,
            msg_id: &d.msg_id,
            payload: &d.payload,
            secrets: &secrets,
            extra_headers: &d.headers,
            timestamp: now / 1000,
        })
        .await;
    let attempts_made = d.attempts as u32 + 1;
    let next = if outcome.is_success() {
        DeliveryOutcome::Succeeded
    } else if d.manual {
        DeliveryOutcome::Failed
    } else {
        match schedule.next_delay(attempts_made, outcome.retry_after, &mut rand::thread_rng()) {
            Some(delay) => DeliveryOutcome::RetryAt(now_ms() + delay.as_millis() as i64),
            None => DeliveryOutcome::Failed,
        }
    };
    debug!(status = ?outcome.status, error = ?outcome.error, ?next, "attempt finished");
    let attempt = Attempt {
        id: AttemptId::generate().into_string(),
        msg_id: d.msg_id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        app_id: d.app_id,
        url: d.url,
        status: if outcome.is_success() {
            DeliveryStatus::Success
        } else {
            DeliveryStatus::Fail
        },
        response_status_code: outcome.status.map_or(0, i64::from),
        response: outcome.body,
        duration_ms: outcome.duration.as_millis() as i64,
        trigger_type: if d.manual {
            TriggerType::Manual
        } else {
            TriggerType::Scheduled
        },
        error: outcome.error,
        created_at: now,
    };
    AttemptResult {
        attempt: Some(attempt),
        msg_id: d.msg_id,
        endpoint_id: d.endpoint_id,
        outcome: next,
    }
}

/// Writes attempt results in batches: whatever has arrived while the previous batch was
/// being written goes into the next transaction.
async fn record_results(store: Store, mut rx: mpsc::Receiver<AttemptResult>) {
    let mut batch = Vec::with_capacity(512);
    while rx.recv_many(&mut batch, 512).await > 0 {
        let mut backoff = Duration::from_millis(50);
        loop {
            match store.record_attempts(&batch).await {
                Ok(()) => break,
                Err(e) => {
                    // The deliveries stay leased; if this never succeeds the leases expire and
                    // they are attempted again (at least once, never lost).
                    warn!(error = %e, batch = batch.len(), "recording attempts failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        batch.clear();
    }
}
