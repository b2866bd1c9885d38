//! The durable delivery queue.
//!
//! Work is organised per endpoint. `endpoint_queues` has one row per endpoint with the time
//! its earliest delivery is due and a lease: a node claims *endpoints* whose queue is due,
//! then works each one alone (its own concurrency cap, rate limit and ordering), claiming that
//! endpoint's due deliveries in small batches. A slow or dead endpoint therefore only ever
//! occupies its own queue.
//!
//! Both kinds of claim are leases written into the rows: a claimed delivery's
//! `next_attempt_at` moves to the end of its lease, an endpoint's `lease_until` likewise. A
//! node that dies simply lets its leases run out and the work becomes due again. No
//! transaction is held open while an HTTP request is in flight.
//!
//! By concern:
//! - `leases.rs`: endpoint leases (which node works which endpoint);
//! - `claim.rs`: claiming an endpoint's due deliveries, batched across lanes;
//! - `record.rs`: what an attempt's result writes (in the group commit, `commit.rs`);
//! - `requeue.rs`: making deliveries due again (resend, recover, unpark, released leases).

pub(crate) mod claim;
mod leases;
mod record;
mod requeue;
pub(crate) mod state;

pub(crate) use claim::{
    claim_channel, run_batch as run_claims, spawn_claimer, take_batch as take_claims, ClaimJob, MAX_BATCH as MAX_CLAIMS,
};
pub(crate) use record::{delivery_updates, failing_updates, update_deliveries, update_failing, RecordJob};

use hookd_core::{ApplicationId, EndpointId, MessageId};

use crate::{placeholders, with_db, Attempt, Backend, Result, Store};

/// A claimed delivery with its message.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub app_id: ApplicationId,
    /// Attempts made before this one.
    pub attempts: i64,
    /// A manual resend: one attempt, never retried.
    pub manual: bool,
    pub event_type: String,
    /// The message's `eventId`, if it has one.
    pub event_id: Option<String>,
    pub payload: String,
    /// A raw payload's `Content-Type` (`None`: JSON).
    pub content_type: Option<String>,
    /// The request it came as, when a source ingested it: sent with the same method,
    /// sub-path, query and headers.
    pub request: Option<crate::IngestedRequest>,
    /// The lease it was claimed (or handed over) under; see [`AttemptResult::lease_token`].
    pub lease_token: String,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Succeeded,
    /// Failed; try again at this time (ms).
    RetryAt(i64),
    /// Failed for good.
    Failed,
    /// Not attempted because the endpoint is disabled: kept pending until it is enabled again.
    Parked,
    /// Not attempted (the node is stopping): due again at once, for whichever node is next.
    Released,
    /// Not to be sent at all: the endpoint's transformation canceled it.
    Canceled,
}

/// The result of one attempt, to record.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// `None` for a delivery that was parked without an attempt.
    pub attempt: Option<Attempt>,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub outcome: DeliveryOutcome,
    /// The lease the delivery was attempted under. The outcome applies to the delivery only
    /// while that lease is the delivery's: a resend, a replay or an expunge made while the
    /// attempt was in flight (or a lease that ran out and was taken again) ends it, and then
    /// only the attempt is logged (the resend is not lost to an older attempt's answer).
    pub lease_token: String,
}

/// What claiming an endpoint's deliveries found.
#[derive(Debug, Default)]
pub struct DeliveryClaim {
    pub deliveries: Vec<ClaimedDelivery>,
    /// When the claim took everything due (fewer than asked for): when the endpoint's next
    /// pending delivery is due (possibly one of those just claimed, at its lease's end), if it
    /// has any.
    pub next_due: Option<i64>,
}

/// Lowers endpoint queues' due times (creating their rows) and bumps their versions, so a
/// lease holder that is letting go notices the new work: a statement for `rows` rows of
/// (endpoint id, due time), bound in that order.
pub(crate) fn touch_queues_sql(backend: Backend, rows: usize) -> String {
    format!(
        "INSERT INTO endpoint_queues (endpoint_id, next_due_at, version) VALUES {} \
         ON CONFLICT (endpoint_id) DO UPDATE SET version = endpoint_queues.version + 1, \
         next_due_at = CASE WHEN endpoint_queues.next_due_at IS NULL OR endpoint_queues.next_due_at > excluded.next_due_at \
         THEN excluded.next_due_at ELSE endpoint_queues.next_due_at END",
        placeholders(backend, rows, 2, "1")
    )
}

/// Claims and attempt records need not wait for their commit to reach the disk: one lost in
/// a crash only means a delivery is attempted again, which at-least-once allows. (SQLite gets
/// the same from `synchronous = NORMAL`; publishes, which must not be lost, sync.)
pub(crate) async fn relax_durability<'c, DB: sqlx::Database>(
    tx: &mut sqlx::Transaction<'c, DB>,
    postgres: bool,
) -> Result<()>
where
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    if postgres {
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut **tx).await?;
    }
    Ok(())
}

/// Locks the rows a claim selects on PostgreSQL, skipping those another claim holds.
pub(super) fn row_lock(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    }
}

impl Store {
    /// Number of deliveries not yet finished.
    pub async fn pending_deliveries(&self) -> Result<i64> {
        self.settle(crate::backlog::Scope::All).await?;
        let row: (i64,) = with_db!(self.reader(), p => sqlx::query_as(
            &format!("SELECT COUNT(*) FROM deliveries WHERE {}", *state::UNFINISHED),
        )
        .fetch_one(p)
        .await?);
        Ok(row.0)
    }
}
