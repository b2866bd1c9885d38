//! A lane works one leased endpoint: it claims the endpoint's due deliveries in small
//! batches and attempts them within the endpoint's limits, then lets the endpoint go when it
//! has nothing due soon.
//!
//! Limits a lane enforces, all local to the endpoint:
//! - at most `endpoint_concurrency` attempts in flight (1 for FIFO endpoints);
//! - its rate limit (`rateLimit`, else the application's), by spacing attempt starts; excess
//!   deliveries simply wait their turn;
//! - FIFO order: only the oldest pending delivery is ever claimed, so message n+1 waits
//!   until message n has succeeded or finally failed, retries included;
//! - a slow-down after 429, 502 or 504 (honouring `Retry-After`), lifted by a success.
//!
//! It also carries out what the answers ask for: 410 Gone disables the endpoint at once, and
//! an endpoint failing without a single success for `disable_after` is disabled too. The
//! deliveries of a disabled endpoint are parked, not dropped.
//!
//! What those limits decide lives in `policy.rs` ([`Policy`]: pure, unit-tested under paused
//! time); this file carries the decisions out against the store and the network.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd_core::metrics::AttemptAnswer;
use hookd_core::operational::OperationalEvent;
use hookd_core::time::now_ms;
use hookd_core::EndpointId;
use hookd_store::{ClaimedDelivery, DeliveryOutcome, Endpoint, LaneEndpoint, Pushed, StoreError};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tracing::{info, info_span, warn, Instrument};

use crate::attempt::{attempt, unattempted, Report};
use crate::lanes::{LaneInbox, LaneSignals};
use crate::policy::{failing_too_long, Answer, Policy, Verdict, MAX_CLAIM};
use crate::Shared;

/// How often a lane re-reads its endpoint (URL, secrets, limits, disabled) unprompted. It
/// re-reads at once when told of a change (`endpoint_changed`), which every change on any node
/// announces (on PostgreSQL through `wakeups.rs`, with every lane told to re-read when that
/// channel may have lost announcements), so this is a safety net. Once a second, it cost one
/// query per delivery on PostgreSQL with 1,000 endpoints that each get a trickle.
const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// How often a lane that took every due delivery looks for more unprompted. Whatever makes
/// deliveries due is announced to the lane: this node's publishes (handed over, or with a
/// wake-up), other nodes' publishes, resends, recoveries and expired hand-overs
/// (`wakeups.rs` on PostgreSQL), and the lane's own retries and released deliveries (its
/// `next_due`). So this is a safety net, like `RELOAD_EVERY`. It was once a second: a claim
/// (a write transaction) a second for every idle lane, and holding idle lanes longer
/// (`HOLD_IDLE_MS`) had shown no gain on SQLite then.
const LOOK_EVERY: Duration = Duration::from_secs(30);
/// The longest a lane sleeps between looks at its own state (its lease, how long it has been
/// idle).
const TICK: Duration = Duration::from_secs(1);
/// A lane keeps its endpoint while the next delivery is due within this, and for this long
/// after its last one (unless other endpoints wait for a lane); otherwise it lets go. An
/// endpoint that gets a message every few seconds then keeps its lane, and this node's
/// publishes hand its deliveries over, instead of paying a lease, a claim and a release per
/// message. Measured with 1,000 endpoints getting one message a second each, on 0.5 cores
/// (BENCHMARKS.md, seventeenth session): 5 s instead of 1 s took p50 from 19–38 ms to 3–8 ms
/// on SQLite and from 107–250 ms to 40–42 ms on PostgreSQL.
const HOLD_IDLE_MS: i64 = 5_000;

/// How the dispatcher and the store reach a lane, and whether the node is stopping.
struct Signals {
    wake: Arc<Notify>,
    changed: Arc<AtomicBool>,
    stop: watch::Receiver<bool>,
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    endpoint_id: EndpointId,
    signals: LaneSignals,
    stop: watch::Receiver<bool>,
) {
    let span = info_span!("lane", endpoint_id = %endpoint_id);
    let signals = Signals { wake: signals.wake, changed: signals.changed, stop };
    Lane::new(shared, endpoint_id, signals).run().instrument(span).await
}

struct Lane {
    shared: Arc<Shared>,
    endpoint_id: EndpointId,
    signals: Signals,
    endpoint: Option<Arc<Endpoint>>,
    /// The endpoint's application's uid, for operational webhooks.
    app_uid: Option<Arc<str>>,
    loaded_at: Option<Instant>,
    /// Attempts in flight; each ends once its result is written, with the due time it created.
    in_flight: JoinSet<Option<i64>>,
    /// How many of those have their answer and only wait to be recorded.
    recording: Arc<AtomicUsize>,
    /// What attempts found, sent as soon as the answer is in (before recording), so the lane
    /// slows down or stops before it starts anything else.
    reports_tx: mpsc::UnboundedSender<Report>,
    reports: mpsc::UnboundedReceiver<Report>,
    /// Claimed deliveries not started yet, with when they were claimed.
    queue: VecDeque<(ClaimedDelivery, Instant)>,
    /// Where publishes on this node hand fresh deliveries over, already leased to this lane
    /// (not for FIFO or disabled endpoints, which only ever claim).
    inbox: Option<LaneInbox>,
    /// After a short claim: when the endpoint's next delivery is due.
    next_due: Option<i64>,
    /// When a claim last came back short (it took every due delivery).
    took_all_due: Option<Instant>,
    /// The endpoint's limits and their state: what may start, when, and what answers mean.
    policy: Policy,
    lease_renewed: Instant,
    /// The last answer, or the start of an attempt when none was sending: how long attempts
    /// have been sending without a word (see [`Policy::depth`]).
    heard_at: Instant,
    /// Since when the lane has had nothing to do.
    idle_since: Option<Instant>,
}

impl Lane {
    fn new(shared: Arc<Shared>, endpoint_id: EndpointId, signals: Signals) -> Self {
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let policy = Policy::new(shared.config.endpoint_concurrency);
        Self {
            shared,
            endpoint_id,
            signals,
            endpoint: None,
            app_uid: None,
            loaded_at: None,
            in_flight: JoinSet::new(),
            recording: Arc::new(AtomicUsize::new(0)),
            reports_tx,
            reports,
            queue: VecDeque::new(),
            inbox: None,
            next_due: None,
            took_all_due: None,
            policy,
            lease_renewed: Instant::now(),
            heard_at: Instant::now(),
            idle_since: None,
        }
    }

    async fn run(mut self) {
        loop {
            if *self.signals.stop.borrow() {
                break;
            }
            if self.signals.changed.swap(false, Ordering::Relaxed) {
                self.loaded_at = None;
            }
            if !self.keep_lease().await {
                self.detach().await;
                return; // someone else works this endpoint now; its leases are theirs
            }
            while let Ok(report) = self.reports.try_recv() {
                self.on_report(report).await;
            }
            let Some(mut endpoint) = self.refresh().await else { break };
            self.sync_inbox(&endpoint).await;
            self.take_pushed();
            self.fill(&endpoint).await;
            if endpoint.disabled && !self.queue.is_empty() {
                // Parking is for good only if the endpoint is still disabled: re-read it
                // rather than trust a copy that may predate its re-enabling.
                self.loaded_at = None;
                let Some(fresh) = self.refresh().await else { break };
                endpoint = fresh;
            }
            let mut wait = self.start_attempts(&endpoint);
            if !self.in_flight.is_empty() || !self.queue.is_empty() {
                self.idle_since = None;
            } else {
                // Hold on while slowed down (the pause belongs to this lane), while the next
                // delivery is due soon, and for a moment after the last one (a busy endpoint
                // keeps its lane instead of being let go and claimed again per message);
                // otherwise let go. While other endpoints wait for a lane slot, only a
                // slow-down holds: a trickle of traffic must not keep them waiting (with
                // 10,000 endpoints and 1,024 slots, it kept 9,000 waiting for the whole run).
                let idle_for = self.idle_since.get_or_insert_with(Instant::now).elapsed();
                let contended = self.shared.lanes.contended();
                let linger = Duration::from_millis(HOLD_IDLE_MS as u64).checked_sub(idle_for).filter(|_| !contended);
                let due_soon = self.next_due.map(|at| at - now_ms()).filter(|ms| *ms <= HOLD_IDLE_MS && !contended);
                let due_soon = due_soon.map(|ms| Duration::from_millis(ms.max(1) as u64));
                match self.slowed().or(due_soon).or(linger) {
                    Some(hold) => wait = min_wait(wait, hold),
                    None => {
                        // No publish may hand anything over once the endpoint is let go.
                        self.detach().await;
                        if !self.queue.is_empty() {
                            continue;
                        }
                        match self.shared.store.release_endpoint(&self.endpoint_id, &self.shared.config.node_id).await {
                            Ok(true) => return,
                            Ok(false) => {
                                // New work arrived while letting go: claim it.
                                self.next_due = Some(now_ms());
                                continue;
                            }
                            Err(e) => warn!(error = %e, "letting go of the endpoint failed"),
                        }
                    }
                }
            }
            if let Some(inbox) = &self.inbox {
                inbox.allow(self.depth().saturating_sub(self.queue.len()));
            }
            // Wake for the next known due time (one already past waits for what holds the
            // lane back: a slot, its pace).
            let now = now_ms();
            if let Some(due) = self.next_due.filter(|due| *due > now) {
                wait = min_wait(wait, Duration::from_millis((due - now) as u64));
            }
            let wait = wait.unwrap_or(TICK).min(TICK).min(self.shared.config.lease / 3);
            tokio::select! {
                Some(report) = self.reports.recv() => self.on_report(report).await,
                Some(done) = self.in_flight.join_next() => {
                    if let Ok(Some(due)) = done {
                        self.next_due = Some(self.next_due.map_or(due, |d| d.min(due)));
                    }
                }
                Some(pushed) = next_pushed(&mut self.inbox), if self.queue.len() < MAX_CLAIM => {
                    self.queue.push_back(pushed);
                }
                _ = self.signals.wake.notified() => self.next_due = Some(now_ms()),
                _ = tokio::time::sleep(wait) => {}
                _ = self.signals.stop.changed() => {}
            }
        }
        self.wind_down().await;
    }

    /// Attaches to this node's publishes while the endpoint takes pushed deliveries, and
    /// detaches once it no longer does.
    async fn sync_inbox(&mut self, endpoint: &Endpoint) {
        let wanted = !endpoint.fifo && !endpoint.disabled;
        if wanted && self.inbox.is_none() {
            self.inbox = Some(self.shared.lanes.attach(&self.endpoint_id, MAX_CLAIM).await);
        } else if !wanted {
            self.detach().await;
        }
    }

    /// Stops taking pushed deliveries; those already handed over join the queue.
    async fn detach(&mut self) {
        if let Some(mut inbox) = self.inbox.take() {
            self.shared.lanes.detach(&self.endpoint_id, &mut inbox).await;
            while let Ok(pushed) = inbox.deliveries.try_recv() {
                self.queue.push_back(pushed);
            }
        }
    }

    /// Moves pushed deliveries into the queue, up to its bound.
    fn take_pushed(&mut self) {
        let Some(inbox) = &mut self.inbox else { return };
        while self.queue.len() < MAX_CLAIM {
            match inbox.deliveries.try_recv() {
                Ok(pushed) => self.queue.push_back(pushed),
                Err(_) => break,
            }
        }
    }

    /// Renews the endpoint lease when a third of it has passed; `false` if it was lost.
    async fn keep_lease(&mut self) -> bool {
        let lease = self.shared.config.lease;
        if self.lease_renewed.elapsed() < lease / 3 {
            return true;
        }
        let node = &self.shared.config.node_id;
        match self.shared.store.renew_endpoint_lease(&self.endpoint_id, node, lease.as_millis() as i64).await {
            Ok(true) => {
                self.lease_renewed = Instant::now();
                true
            }
            Ok(false) => {
                warn!("endpoint lease lost; another node took over");
                false
            }
            // Keep working: the lease is still ours until it runs out.
            Err(e) => {
                warn!(error = %e, "renewing the endpoint lease failed");
                self.lease_renewed.elapsed() < lease
            }
        }
    }

    /// Re-reads the endpoint (and its application's rate limit) when told it changed, and now
    /// and then.
    async fn refresh(&mut self) -> Option<Arc<Endpoint>> {
        if let (Some(ep), Some(at)) = (&self.endpoint, self.loaded_at) {
            if at.elapsed() < RELOAD_EVERY {
                return Some(ep.clone());
            }
        }
        let store = &self.shared.store;
        match store.get_endpoint_for_lane(&self.endpoint_id).await {
            Ok(LaneEndpoint { endpoint: ep, app_throttle_rate, app_uid }) => {
                self.app_uid = app_uid.map(Arc::from);
                self.policy.set_rate(ep.throttle_rate.or(app_throttle_rate));
                let ep = Arc::new(ep);
                self.endpoint = Some(ep.clone());
                self.loaded_at = Some(Instant::now());
                Some(ep)
            }
            Err(StoreError::NotFound(_)) => None, // deleted, with its deliveries
            Err(e) => {
                warn!(error = %e, "reading the endpoint failed");
                self.endpoint.clone()
            }
        }
    }

    /// How long a claimed delivery may wait and still start early enough to finish inside its
    /// lease.
    fn fresh_for(&self) -> Duration {
        self.shared.config.lease.saturating_sub(self.shared.config.request_timeout + Duration::from_secs(1))
    }

    /// Attempts sending now (in flight, their answer not in).
    fn sending(&self) -> usize {
        self.in_flight.len().saturating_sub(self.recording.load(Ordering::Relaxed))
    }

    /// How many claimed deliveries to hold waiting (see [`Policy::depth`]).
    fn depth(&self) -> usize {
        let quiet = (self.sending() > 0).then(|| self.heard_at.elapsed());
        self.policy.depth(self.fresh_for(), quiet)
    }

    /// Attempts that may start now (see [`Policy::capacity`]).
    fn capacity(&self, endpoint: &Endpoint) -> usize {
        self.policy.capacity(endpoint.fifo, self.in_flight.len(), self.recording.load(Ordering::Relaxed))
    }

    fn slowed(&self) -> Option<Duration> {
        self.policy.slowed(tokio::time::Instant::now())
    }

    /// Claims more due deliveries when a slot is free and fewer than one round of starts are
    /// waiting, so a busy lane has its next batch before the current one runs out.
    async fn fill(&mut self, endpoint: &Endpoint) {
        let limit = self.policy.claim_limit(endpoint.fifo, self.queue.len(), self.depth());
        if limit == 0 || self.capacity(endpoint) == 0 || self.slowed().is_some() || !self.may_have_due() {
            return;
        }
        let lease = self.shared.config.lease.as_millis() as i64;
        match self.shared.store.claim_endpoint_deliveries(&self.endpoint_id, limit as i64, lease, endpoint.fifo).await {
            Ok(claim) => {
                let short = claim.deliveries.len() < limit;
                self.took_all_due = short.then(Instant::now);
                self.next_due = claim.next_due;
                let now = Instant::now();
                self.queue.extend(claim.deliveries.into_iter().map(|d| (d, now)));
            }
            Err(e) => {
                warn!(error = %e, "claiming deliveries failed");
                self.next_due = Some(now_ms() + 1_000);
            }
        }
    }

    /// Whether the database may hold due deliveries this lane has not claimed: a claim that
    /// came back short took all there were, and until the next known due time (lowered by
    /// wake-ups, retries and released deliveries) or an overflow of its inbox, nothing adds
    /// more unannounced; a look every `LOOK_EVERY` is the safety net. Spares a write
    /// transaction per finished attempt.
    fn may_have_due(&self) -> bool {
        if self.inbox.as_ref().is_some_and(LaneInbox::take_overflowed) {
            return true;
        }
        match self.took_all_due {
            None => true,
            Some(at) => at.elapsed() >= LOOK_EVERY || self.next_due.is_some_and(|due| due <= now_ms()),
        }
    }

    /// Starts what the limits allow; returns how long until more may start, if that is what
    /// holds the lane back.
    fn start_attempts(&mut self, endpoint: &Arc<Endpoint>) -> Option<Duration> {
        let fresh_for = self.fresh_for();
        while self.capacity(endpoint) > 0 {
            if let Some(wait) = self.slowed() {
                return Some(wait);
            }
            let (_, claimed_at) = self.queue.front()?;
            if claimed_at.elapsed() > fresh_for {
                // Its lease runs out before an attempt could finish. Given back, due at once,
                // rather than left to wait out its lease: with a long --request-timeout that
                // kept it from any lane for minutes after the endpoint came back (measured: 256
                // deliveries of 1,000,000 held back for 5 minutes by an endpoint that hung).
                let (delivery, _) = self.queue.pop_front().expect("front exists");
                let shared = self.shared.clone();
                self.in_flight.spawn(async move {
                    shared.record(unattempted(delivery, DeliveryOutcome::Released)).await;
                    Some(now_ms()) // due again at once: claim it again
                });
                continue;
            }
            if endpoint.disabled {
                let (delivery, _) = self.queue.pop_front().expect("front exists");
                let shared = self.shared.clone();
                self.in_flight.spawn(async move {
                    shared.record(unattempted(delivery, DeliveryOutcome::Parked)).await;
                    // Not parked after all if the endpoint was enabled again meanwhile
                    // (`update_deliveries`): then it is due now, for this lane to claim.
                    Some(now_ms())
                });
                continue;
            }
            if let Some(wait) = self.policy.pace(tokio::time::Instant::now()) {
                return Some(wait);
            }
            let (delivery, _) = self.queue.pop_front().expect("front exists");
            self.policy.started(tokio::time::Instant::now());
            if self.sending() == 0 {
                self.heard_at = Instant::now();
            }
            let (shared, endpoint, reports) = (self.shared.clone(), endpoint.clone(), self.reports_tx.clone());
            let recording = self.recording.clone();
            let app_uid = self.app_uid.clone();
            let span = info_span!("attempt", msg_id = %delivery.msg_id);
            self.in_flight.spawn(
                async move {
                    let schedule =
                        shared.schedules.of(&shared.store, &delivery.event_type, &shared.default_schedule).await;
                    shared.metrics.attempt_started();
                    let started = Instant::now();
                    let (result, mut report, event) = attempt(
                        &shared.sender,
                        (&shared.transforms, shared.config.transformation),
                        &schedule,
                        &endpoint,
                        app_uid.as_deref(),
                        delivery,
                    )
                    .await;
                    let gave_up = result.outcome == DeliveryOutcome::Failed;
                    report.took = started.elapsed();
                    shared.metrics.attempt_finished(AttemptAnswer::of(report.status), report.took, gave_up);
                    let _ = reports.send(report);
                    // What this result makes due, for the lane to claim once it is written: a
                    // FIFO endpoint's next head, or this delivery's retry.
                    let makes_due = match result.outcome {
                        _ if endpoint.fifo => Some(now_ms()),
                        DeliveryOutcome::RetryAt(at) => Some(at),
                        _ => None,
                    };
                    recording.fetch_add(1, Ordering::Relaxed);
                    shared.record(result).await;
                    recording.fetch_sub(1, Ordering::Relaxed);
                    // An operational event follows the record it reports on.
                    if let Some(event) = event {
                        shared.emit(event).await;
                    }
                    makes_due
                }
                .instrument(span),
            );
        }
        None
    }

    /// Reacts to a finished attempt as the policy decides: slow down, recover, or disable
    /// the endpoint.
    async fn on_report(&mut self, report: Report) {
        let failed = matches!(report.outcome, DeliveryOutcome::RetryAt(_) | DeliveryOutcome::Failed);
        let now = tokio::time::Instant::now();
        self.heard_at = Instant::now();
        let answer = Answer { status: report.status, retry_after: report.retry_after, failed, took: report.took };
        match self.policy.answered(answer, now) {
            Verdict::Disable => self.disable("answered 410 Gone").await,
            Verdict::CheckFailing => self.check_failing_too_long().await,
            Verdict::Carry => {}
        }
    }

    async fn check_failing_too_long(&mut self) {
        if let Ok(Some(since)) = self.shared.store.endpoint_failing_since(&self.endpoint_id).await {
            if failing_too_long(since, now_ms(), self.shared.config.disable_after) {
                self.disable("failed without a single success for too long").await;
            }
        }
    }

    async fn disable(&mut self, why: &str) {
        match self.shared.store.disable_endpoint(&self.endpoint_id).await {
            Ok(true) => {
                info!(reason = why, "endpoint disabled; its undelivered messages are kept");
                self.shared.metrics.endpoint_disabled();
                if let Some(endpoint) = &self.endpoint {
                    let since = self.shared.store.endpoint_failing_since(&self.endpoint_id).await.ok().flatten();
                    let about = crate::attempt::endpoint_ref(endpoint, self.app_uid.as_deref());
                    let event = OperationalEvent::EndpointDisabled(about, since.map(hookd_core::time::from_ms));
                    self.shared.emit(event).await;
                }
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "disabling the endpoint failed"),
        }
        self.loaded_at = None; // re-read: the queued deliveries get parked
    }

    /// Stopping: hands back what was claimed but not started, lets attempts in flight
    /// finish, and lets go of the endpoint so another node can take it at once.
    async fn wind_down(&mut self) {
        self.detach().await;
        for (delivery, _) in self.queue.drain(..) {
            self.shared.record(unattempted(delivery, DeliveryOutcome::Released)).await;
        }
        while self.in_flight.join_next().await.is_some() {}
        let _ = self.shared.store.release_endpoint(&self.endpoint_id, &self.shared.config.node_id).await;
    }
}

/// The next pushed delivery; never resolves without an inbox.
async fn next_pushed(inbox: &mut Option<LaneInbox>) -> Option<Pushed> {
    match inbox {
        Some(inbox) => inbox.deliveries.recv().await,
        None => std::future::pending().await,
    }
}

fn min_wait(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.map_or(b, |a| a.min(b)))
}
