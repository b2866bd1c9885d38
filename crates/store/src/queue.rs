//! The durable delivery queue.
//!
//! A delivery row is due when `next_attempt_at <= now`. Claiming a batch sets its
//! `next_attempt_at` to the end of a lease and stamps a random `lease_token`: no other worker
//! (or node) claims it until the lease ends, and if the worker dies the row simply becomes due
//! again. Recording the attempt sets the final state or the time of the next retry. No
//! transaction is held open while the HTTP request is in flight.

use hookd_core::id::new_body_at;
use hookd_core::time::now_ms;

use crate::{from_json, with_db, Attempt, Backend, Metadata, OldSecret, Result, Store};

/// A claimed delivery with everything needed to attempt it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub msg_id: String,
    pub endpoint_id: String,
    pub app_id: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// A manual resend: one attempt, never retried.
    pub manual: bool,
    pub event_type: String,
    pub payload: String,
    pub url: String,
    pub endpoint_disabled: bool,
    pub secret: String,
    pub old_secrets: Vec<OldSecret>,
    pub headers: Metadata,
}

impl ClaimedDelivery {
    /// Secrets that sign an attempt made at `now`.
    pub fn signing_keys(&self, now: i64) -> Vec<&str> {
        std::iter::once(self.secret.as_str())
            .chain(
                self.old_secrets
                    .iter()
                    .filter(|s| s.expires_at > now)
                    .map(|s| s.key.as_str()),
            )
            .collect()
    }
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
}

/// The result of one attempt, to record.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// `None` for a delivery that was parked without an attempt.
    pub attempt: Option<Attempt>,
    pub msg_id: String,
    pub endpoint_id: String,
    pub outcome: DeliveryOutcome,
}

type ClaimRow = (
    String,
    String,
    String,
    i64,
    bool,
    String,
    String,
    String,
    bool,
    String,
    String,
    String,
);

impl Store {
    /// Claims up to `limit` due deliveries for `lease_ms` milliseconds.
    pub async fn claim_due(&self, limit: i64, lease_ms: i64) -> Result<Vec<ClaimedDelivery>> {
        let now = now_ms();
        let lease_until = now + lease_ms;
        let token = new_body_at(now);
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let claim = format!(
            "UPDATE deliveries SET status = 3, next_attempt_at = $1, lease_token = $2 \
             WHERE (msg_id, endpoint_id) IN (SELECT msg_id, endpoint_id FROM deliveries \
             WHERE next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4{lock})"
        );
        let fetch = "SELECT d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.manual, m.event_type, m.payload, \
             e.url, e.disabled, e.secret, e.old_secrets, e.headers \
             FROM deliveries d JOIN messages m ON m.id = d.msg_id JOIN endpoints e ON e.id = d.endpoint_id \
             WHERE d.next_attempt_at = $1 AND d.lease_token = $2";
        let rows: Vec<ClaimRow> = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let claimed = sqlx::query(&claim)
                .bind(lease_until)
                .bind(&token)
                .bind(now)
                .bind(limit)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let rows = if claimed == 0 {
                Vec::new()
            } else {
                sqlx::query_as(fetch).bind(lease_until).bind(&token).fetch_all(&mut *tx).await?
            };
            tx.commit().await?;
            rows
        });
        rows.into_iter()
            .map(|r| {
                Ok(ClaimedDelivery {
                    msg_id: r.0,
                    endpoint_id: r.1,
                    app_id: r.2,
                    attempts: r.3,
                    manual: r.4,
                    event_type: r.5,
                    payload: r.6,
                    url: r.7,
                    endpoint_disabled: r.8,
                    secret: r.9,
                    old_secrets: from_json(&r.10)?,
                    headers: from_json(&r.11)?,
                })
            })
            .collect()
    }

    /// Records a batch of attempt results in one transaction.
    pub async fn record_attempts(&self, results: &[AttemptResult]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            for r in results {
                if let Some(a) = &r.attempt {
                    sqlx::query(&format!(
                        "INSERT INTO attempts ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                        crate::messages::ATTEMPT_COLUMNS
                    ))
                    .bind(&a.id)
                    .bind(&a.msg_id)
                    .bind(&a.endpoint_id)
                    .bind(&a.app_id)
                    .bind(&a.url)
                    .bind(a.status as i64)
                    .bind(a.response_status_code)
                    .bind(&a.response)
                    .bind(a.duration_ms)
                    .bind(a.trigger_type as i64)
                    .bind(&a.error)
                    .bind(a.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                let counted = i64::from(r.attempt.is_some());
                let (status, next): (i64, Option<i64>) = match r.outcome {
                    DeliveryOutcome::Succeeded => (0, None),
                    DeliveryOutcome::RetryAt(at) => (1, Some(at)),
                    DeliveryOutcome::Failed => (2, None),
                    DeliveryOutcome::Parked => (1, None),
                };
                sqlx::query(
                    "UPDATE deliveries SET status = $3, next_attempt_at = $4, attempts = attempts + $5, \
                     manual = FALSE, lease_token = NULL, updated_at = $6 WHERE msg_id = $1 AND endpoint_id = $2",
                )
                .bind(&r.msg_id)
                .bind(&r.endpoint_id)
                .bind(status)
                .bind(next)
                .bind(counted)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// When the earliest pending delivery is due (ms), if any.
    pub async fn next_due_at(&self) -> Result<Option<i64>> {
        let row: (Option<i64>,) = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE next_attempt_at IS NOT NULL",
        )
        .fetch_one(p)
        .await?);
        Ok(row.0)
    }

    /// Queues a manual resend of a message to an endpoint: one attempt, as soon as possible,
    /// never retried. A delivery still in its retry schedule is simply brought forward.
    pub async fn queue_resend(&self, app_id: &str, msg_id: &str, endpoint_id: &str) -> Result<()> {
        let now = now_ms();
        with_db!(self.writer(), p => sqlx::query(
            "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, manual, next_attempt_at, updated_at) \
             VALUES ($1, $2, $3, 1, 0, TRUE, $4, $4) \
             ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = 1, next_attempt_at = $4, updated_at = $4, \
             manual = CASE WHEN deliveries.status IN (0, 2) THEN TRUE ELSE deliveries.manual END",
        )
        .bind(msg_id)
        .bind(endpoint_id)
        .bind(app_id)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Makes an endpoint's parked deliveries due again (after it was re-enabled).
    pub async fn unpark_endpoint(&self, endpoint_id: &str) -> Result<u64> {
        let now = now_ms();
        let n = with_db!(self.writer(), p => sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $2, updated_at = $2 \
             WHERE endpoint_id = $1 AND status = 1 AND next_attempt_at IS NULL",
        )
        .bind(endpoint_id)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
        Ok(n)
    }

    /// Makes every leased delivery due now. Only for a node that knows it is the only one
    /// using this database (SQLite, under the data-dir lock).
    pub async fn release_all_leases(&self) -> Result<u64> {
        let now = now_ms();
        let n = with_db!(self.writer(), p => sqlx::query(
            "UPDATE deliveries SET status = 1, next_attempt_at = $1, lease_token = NULL WHERE status = 3",
        )
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
        Ok(n)
    }

    /// Number of deliveries not yet finished.
    pub async fn pending_deliveries(&self) -> Result<i64> {
        let row: (i64,) = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT COUNT(*) FROM deliveries WHERE status IN (1, 3)",
        )
        .fetch_one(p)
        .await?);
        Ok(row.0)
    }
}
