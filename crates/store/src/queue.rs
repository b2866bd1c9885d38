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

use std::collections::HashMap;
use std::sync::Arc;

use hookd_core::id::{min_body_at, new_body_at};
use hookd_core::time::now_ms;

use crate::{placeholders, with_db, Attempt, Backend, Database, Params, Result, Store, StoreError, ROWS_PER_STATEMENT};

/// A claimed delivery with its message.
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
    /// The message's `eventId`, if it has one.
    pub event_id: Option<String>,
    pub payload: String,
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

type ClaimRow = (String, String, String, i64, bool, String, Option<String>, String);

/// Reads claimed deliveries with their messages (a `WHERE` follows).
const CLAIMED_COLUMNS: &str =
    "SELECT d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.manual, m.event_type, m.event_id, m.payload \
     FROM deliveries d JOIN messages m ON m.id = d.msg_id";

fn claimed_delivery(r: ClaimRow) -> ClaimedDelivery {
    ClaimedDelivery {
        msg_id: r.0,
        endpoint_id: r.1,
        app_id: r.2,
        attempts: r.3,
        manual: r.4,
        event_type: r.5,
        event_id: r.6,
        payload: r.7,
    }
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

/// One lane's request to claim its endpoint's due deliveries.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRequest {
    pub endpoint_id: String,
    pub limit: i64,
    pub lease_ms: i64,
}

/// Locks the rows a claim selects on PostgreSQL, skipping those another claim holds.
fn row_lock(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    }
}

impl Store {
    /// Leases up to `limit` endpoints whose queue is due and not leased by anyone.
    pub async fn claim_endpoints(&self, limit: i64, lease_ms: i64, owner: &str) -> Result<Vec<String>> {
        let now = now_ms();
        let sql = format!(
            "UPDATE endpoint_queues SET lease_until = $1, lease_owner = $2 WHERE endpoint_id IN \
             (SELECT endpoint_id FROM endpoint_queues WHERE next_due_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
             ORDER BY next_due_at LIMIT $4{}) RETURNING endpoint_id",
            row_lock(self.backend())
        );
        let rows: Vec<(String,)> = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(now + lease_ms)
            .bind(owner)
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await?);
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Extends an endpoint lease; `false` when `owner` no longer holds it.
    pub async fn renew_endpoint_lease(&self, endpoint_id: &str, owner: &str, lease_ms: i64) -> Result<bool> {
        let n = with_db!(self.writer(), p => sqlx::query(
            "UPDATE endpoint_queues SET lease_until = $3 WHERE endpoint_id = $1 AND lease_owner = $2",
        )
        .bind(endpoint_id)
        .bind(owner)
        .bind(now_ms() + lease_ms)
        .execute(p)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Lets go of an endpoint, recording when its next delivery is due. Returns `false` (and
    /// keeps the lease) when work arrived meanwhile, so the caller carries on.
    pub async fn release_endpoint(&self, endpoint_id: &str, owner: &str) -> Result<bool> {
        let held: Option<(i64,)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT version FROM endpoint_queues WHERE endpoint_id = $1 AND lease_owner = $2",
        )
        .bind(endpoint_id)
        .bind(owner)
        .fetch_optional(p)
        .await?);
        let Some((version,)) = held else { return Ok(true) };
        let next_due = self.next_due_for_endpoint(endpoint_id).await?;
        let n = with_db!(self.writer(), p => sqlx::query(
            "UPDATE endpoint_queues SET next_due_at = $3, lease_until = NULL, lease_owner = NULL \
             WHERE endpoint_id = $1 AND lease_owner = $2 AND version = $4",
        )
        .bind(endpoint_id)
        .bind(owner)
        .bind(next_due)
        .bind(version)
        .execute(p)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// When the endpoint's earliest pending delivery is due (ms), if it has one.
    pub async fn next_due_for_endpoint(&self, endpoint_id: &str) -> Result<Option<i64>> {
        let row: (Option<i64>,) = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint_id = $1 AND next_attempt_at IS NOT NULL",
        )
        .bind(endpoint_id)
        .fetch_one(p)
        .await?);
        Ok(row.0)
    }

    /// When the earliest unleased endpoint queue is due (ms), if any.
    pub async fn next_due_endpoint_at(&self) -> Result<Option<i64>> {
        let row: (Option<i64>,) = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT MIN(next_due_at) FROM endpoint_queues WHERE next_due_at IS NOT NULL AND (lease_until IS NULL OR lease_until < $1)",
        )
        .bind(now_ms())
        .fetch_one(p)
        .await?);
        Ok(row.0)
    }

    /// Claims up to `limit` due deliveries of one endpoint for `lease_ms`. With `in_order`
    /// (FIFO endpoints) only the oldest pending delivery is a candidate, and only once due.
    ///
    /// Claims of different endpoints made at the same time (a fan-out wakes many lanes at
    /// once) are gathered into one transaction; see `claim.rs`.
    pub async fn claim_endpoint_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
        lease_ms: i64,
        in_order: bool,
    ) -> Result<DeliveryClaim> {
        if in_order {
            return self.claim_fifo_head(endpoint_id, lease_ms).await;
        }
        crate::claim::submit(self, ClaimRequest { endpoint_id: endpoint_id.to_owned(), limit, lease_ms }).await
    }

    /// Leases a FIFO endpoint's oldest pending delivery, if it is due.
    async fn claim_fifo_head(&self, endpoint_id: &str, lease_ms: i64) -> Result<DeliveryClaim> {
        let now = now_ms();
        let lease_until = now + lease_ms;
        let token = new_body_at(now);
        let head: Option<(String, i64)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT msg_id, next_attempt_at FROM deliveries WHERE endpoint_id = $1 AND next_attempt_at IS NOT NULL \
             ORDER BY msg_id LIMIT 1",
        )
        .bind(endpoint_id)
        .fetch_optional(p)
        .await?);
        let (msg_id, due) = match head {
            None => return Ok(DeliveryClaim::default()),
            Some((_, due)) if due > now => return Ok(DeliveryClaim { deliveries: vec![], next_due: Some(due) }),
            Some(head) => head,
        };
        // The head is leased only if nobody changed it since it was read.
        let claim_head = "UPDATE deliveries SET status = 3, next_attempt_at = $1, lease_token = $2 \
             WHERE endpoint_id = $3 AND msg_id = $4 AND next_attempt_at = $5";
        let fetch =
            format!("{CLAIMED_COLUMNS} WHERE d.endpoint_id = $1 AND d.next_attempt_at = $2 AND d.lease_token = $3");
        let rows: Vec<ClaimRow> = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let claimed = sqlx::query(claim_head)
                .bind(lease_until)
                .bind(&token)
                .bind(endpoint_id)
                .bind(&msg_id)
                .bind(due)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let rows = if claimed == 0 {
                Vec::new()
            } else {
                sqlx::query_as(&fetch).bind(endpoint_id).bind(lease_until).bind(&token).fetch_all(&mut *tx).await?
            };
            tx.commit().await?;
            rows
        });
        let next_due = if rows.is_empty() { self.next_due_for_endpoint(endpoint_id).await? } else { None };
        Ok(DeliveryClaim { deliveries: rows.into_iter().map(claimed_delivery).collect(), next_due })
    }
}

impl Database {
    /// Claims for several endpoints (each named once) in one transaction: one statement
    /// leases every endpoint's earliest due deliveries, one reads them back, and one tells,
    /// for the claims that came back short, when the endpoint's next delivery is due.
    pub(crate) async fn claim_for_endpoints(&self, requests: &[ClaimRequest]) -> Result<Vec<DeliveryClaim>> {
        let pg = !self.is_sqlite();
        let now = now_ms();
        let lease_ms = requests.first().map_or(0, |r| r.lease_ms);
        let lease_until = now + lease_ms;
        let token = new_body_at(now);
        // SQLite does not turn a row-value IN into key lookups (it scans the table), so there
        // the rows are named by rowid.
        let (row_key, inner_key, outer_key) = match self.backend() {
            Backend::Postgres => ("(msg_id, endpoint_id)", "msg_id, endpoint_id", "msg_id, endpoint_id"),
            Backend::Sqlite => ("rowid", "rowid AS k", "k"),
        };
        // Bound in this order: lease end, token, then per endpoint its id, now, and limit.
        let mut params = Params::new(self.backend());
        let (lease_param, token_param) = (params.next(), params.next());
        let per_endpoint: Vec<String> = (0..requests.len())
            .map(|i| {
                let (endpoint, now, limit) = (params.next(), params.next(), params.next());
                format!(
                    "SELECT {outer_key} FROM (SELECT {inner_key} FROM deliveries WHERE endpoint_id = {endpoint} \
                     AND next_attempt_at <= {now} ORDER BY next_attempt_at LIMIT {limit}{}) AS c{i}",
                    row_lock(self.backend())
                )
            })
            .collect();
        let lease = format!(
            "UPDATE deliveries SET status = 3, next_attempt_at = {lease_param}, lease_token = {token_param} \
             WHERE {row_key} IN ({})",
            per_endpoint.join(" UNION ALL ")
        );
        let mut params = Params::new(self.backend());
        let fetch = format!(
            "{CLAIMED_COLUMNS} WHERE d.next_attempt_at = {} AND d.lease_token = {} AND d.endpoint_id IN ({})",
            params.next(),
            params.next(),
            (0..requests.len()).map(|_| params.next()).collect::<Vec<_>>().join(", ")
        );
        let mut rows: Vec<ClaimRow> = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            relax_durability(&mut tx, pg).await?;
            let mut leasing = sqlx::query(&lease).bind(lease_until).bind(&token);
            for r in requests {
                leasing = leasing.bind(&r.endpoint_id).bind(now).bind(r.limit);
            }
            let claimed = leasing.execute(&mut *tx).await?.rows_affected();
            let rows = if claimed == 0 {
                Vec::new()
            } else {
                let mut reading = sqlx::query_as(&fetch).bind(lease_until).bind(&token);
                for r in requests {
                    reading = reading.bind(&r.endpoint_id);
                }
                reading.fetch_all(&mut *tx).await?
            };
            tx.commit().await?;
            rows
        });
        // Sorted here: an ORDER BY leads SQLite to walk all the endpoints' deliveries,
        // finished ones included, instead of the few just leased.
        rows.sort_unstable_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        let mut claims: Vec<DeliveryClaim> = requests.iter().map(|_| DeliveryClaim::default()).collect();
        let index: HashMap<&str, usize> =
            requests.iter().enumerate().map(|(i, r)| (r.endpoint_id.as_str(), i)).collect();
        for row in rows {
            let i = index[row.1.as_str()];
            claims[i].deliveries.push(claimed_delivery(row));
        }
        // A short claim took everything due: say when the rest is due.
        let short: Vec<usize> =
            (0..requests.len()).filter(|&i| (claims[i].deliveries.len() as i64) < requests[i].limit).collect();
        if !short.is_empty() {
            let mut params = Params::new(self.backend());
            let sql = (0..short.len())
                .map(|n| {
                    format!(
                        "SELECT CAST({n} AS BIGINT), (SELECT MIN(next_attempt_at) FROM deliveries \
                         WHERE endpoint_id = {} AND next_attempt_at IS NOT NULL)",
                        params.next()
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let due: Vec<(i64, Option<i64>)> = with_db!(self.reader(), p => {
                let mut query = sqlx::query_as(&sql);
                for &i in &short {
                    query = query.bind(&requests[i].endpoint_id);
                }
                query.fetch_all(p).await?
            });
            for (n, next_due) in due {
                claims[short[n as usize]].next_due = next_due;
            }
        }
        Ok(claims)
    }
}

impl Store {
    /// Records an attempt's result, and keeps its endpoint's "failing since" time (cleared by
    /// a success, set by the first failure after one). It is written in the next group commit,
    /// together with whatever else is waiting (see `commit.rs`). Shared rather than borrowed,
    /// so that a caller that retries keeps its result without copying it for every try.
    pub async fn record_attempt(&self, result: Arc<AttemptResult>) -> Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = RecordJob { result, reply };
        self.committers.records.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Since when the endpoint has failed without a single success, if it is failing.
    pub async fn endpoint_failing_since(&self, endpoint_id: &str) -> Result<Option<i64>> {
        let row: Option<(Option<i64>,)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT failing_since FROM endpoint_queues WHERE endpoint_id = $1",
        )
        .bind(endpoint_id)
        .fetch_optional(p)
        .await?);
        Ok(row.and_then(|r| r.0))
    }

    /// Queues a manual resend of a message to an endpoint: one attempt, as soon as possible,
    /// never retried. A delivery still in its retry schedule is simply brought forward.
    pub async fn queue_resend(&self, app_id: &str, msg_id: &str, endpoint_id: &str) -> Result<()> {
        let now = now_ms();
        with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, manual, next_attempt_at, updated_at) \
                 VALUES ($1, $2, $3, 1, 0, TRUE, $4, $4) \
                 ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = 1, next_attempt_at = $4, updated_at = $4, \
                 manual = CASE WHEN deliveries.status IN (0, 2) THEN TRUE ELSE deliveries.manual END",
            )
            .bind(msg_id)
            .bind(endpoint_id)
            .bind(app_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&touch_queues_sql(self.backend(), 1)).bind(endpoint_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.notify_due(&[endpoint_id.to_owned()]);
        Ok(())
    }

    /// Makes an endpoint's parked deliveries due again (after it was re-enabled).
    pub async fn unpark_endpoint(&self, endpoint_id: &str) -> Result<u64> {
        let now = now_ms();
        let n = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE deliveries SET next_attempt_at = $2, updated_at = $2 \
                 WHERE endpoint_id = $1 AND status = 1 AND next_attempt_at IS NULL",
            )
            .bind(endpoint_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                sqlx::query(&touch_queues_sql(self.backend(), 1)).bind(endpoint_id).bind(now).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE endpoint_queues SET failing_since = NULL WHERE endpoint_id = $1")
                .bind(endpoint_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n
        });
        if n > 0 {
            self.notify_due(&[endpoint_id.to_owned()]);
        }
        Ok(n)
    }

    /// Re-queues an endpoint's failed deliveries of messages created in `[since, until)`
    /// (ms), each with a fresh retry schedule. Returns how many.
    pub async fn recover_endpoint(&self, endpoint_id: &str, since: i64, until: Option<i64>) -> Result<u64> {
        let now = now_ms();
        let from = format!("msg_{}", min_body_at(since));
        let to = format!("msg_{}", min_body_at(until.unwrap_or(now + 1)));
        let n = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE deliveries SET status = 1, attempts = 0, manual = FALSE, next_attempt_at = $4, updated_at = $4 \
                 WHERE endpoint_id = $1 AND status = 2 AND msg_id >= $2 AND msg_id < $3",
            )
            .bind(endpoint_id)
            .bind(&from)
            .bind(&to)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                sqlx::query(&touch_queues_sql(self.backend(), 1)).bind(endpoint_id).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            n
        });
        if n > 0 {
            self.notify_due(&[endpoint_id.to_owned()]);
        }
        Ok(n)
    }

    /// Disables an endpoint (410 Gone, or failing for too long). `true` if it was enabled.
    pub async fn disable_endpoint(&self, endpoint_id: &str) -> Result<bool> {
        let n = with_db!(self.writer(), p => sqlx::query(
            "UPDATE endpoints SET disabled = TRUE, updated_at = $2 WHERE id = $1 AND NOT disabled",
        )
        .bind(endpoint_id)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Makes every lease due now. Only for a node that knows it is the only one using this
    /// database (SQLite, under the data-dir lock).
    pub async fn release_all_leases(&self) -> Result<u64> {
        let now = now_ms();
        let n = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE deliveries SET status = 1, next_attempt_at = $1, lease_token = NULL WHERE status = 3")
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE endpoint_queues SET lease_until = NULL, lease_owner = NULL, \
                 next_due_at = CASE WHEN next_due_at IS NULL OR next_due_at > $1 THEN $1 ELSE next_due_at END \
                 WHERE lease_owner IS NOT NULL",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            n
        });
        Ok(n)
    }

    /// Makes due again the deliveries handed over to a lane (see `notify.rs`) whose lease
    /// (`lease_ms` from their hand-over) is over without a record: their node died. Returns
    /// the endpoints that have work again (the listener is told too).
    pub async fn release_expired_handovers(&self, lease_ms: i64) -> Result<Vec<String>> {
        let now = now_ms();
        let endpoints: Vec<String> = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let mut endpoints: Vec<String> = sqlx::query_scalar(
                "UPDATE deliveries SET status = 1, next_attempt_at = $1, lease_token = NULL \
                 WHERE status = 3 AND next_attempt_at IS NULL AND updated_at < $2 RETURNING endpoint_id",
            )
            .bind(now)
            .bind(now - lease_ms)
            .fetch_all(&mut *tx)
            .await?;
            // In endpoint order, as every transaction locks queue rows.
            endpoints.sort_unstable();
            endpoints.dedup();
            for chunk in endpoints.chunks(ROWS_PER_STATEMENT) {
                let sql = touch_queues_sql(self.backend(), chunk.len());
                let mut touch = sqlx::query(&sql);
                for endpoint_id in chunk {
                    touch = touch.bind(endpoint_id).bind(now);
                }
                touch.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            endpoints
        });
        self.notify_due(&endpoints);
        Ok(endpoints)
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

/// An attempt's result waiting for the group commit that records it.
pub(crate) struct RecordJob {
    pub result: Arc<AttemptResult>,
    pub reply: tokio::sync::oneshot::Sender<Result<()>>,
}

/// A delivery's new state after an attempt: msg id, endpoint id, status, next attempt time,
/// attempts to add.
pub(crate) type DeliveryUpdate<'a> = (&'a str, &'a str, i64, Option<i64>, i64);

/// The delivery updates of a batch of results, in groups that each name a delivery at most
/// once (one multi-row update cannot apply two results to the same row in order; a delivery
/// appears twice only if it was released and claimed again within one batch).
pub(crate) fn delivery_updates<'a>(results: &[&'a AttemptResult], now: i64) -> Vec<Vec<DeliveryUpdate<'a>>> {
    let mut groups: Vec<Vec<DeliveryUpdate<'a>>> = vec![Vec::new()];
    let mut seen = std::collections::HashSet::new();
    for r in results {
        if !seen.insert((r.msg_id.as_str(), r.endpoint_id.as_str())) {
            groups.push(Vec::new());
            seen.clear();
            seen.insert((r.msg_id.as_str(), r.endpoint_id.as_str()));
        }
        let (status, next) = match r.outcome {
            DeliveryOutcome::Succeeded => (0, None),
            DeliveryOutcome::RetryAt(at) => (1, Some(at)),
            DeliveryOutcome::Failed => (2, None),
            DeliveryOutcome::Parked => (1, None),
            DeliveryOutcome::Released => (1, Some(now)),
        };
        let counted = i64::from(r.attempt.is_some());
        groups.last_mut().expect("one group at least").push((&r.msg_id, &r.endpoint_id, status, next, counted));
    }
    groups
}

/// `UPDATE` of `rows` deliveries from `DeliveryUpdate`s (bound in that order), then the time.
pub(crate) fn update_deliveries_sql(backend: Backend, rows: usize) -> String {
    let mut params = Params::new(backend);
    format!(
        "WITH v (msg_id, endpoint_id, status, next_at, counted) AS (VALUES {}) \
         UPDATE deliveries SET status = v.status, next_attempt_at = v.next_at, \
         attempts = deliveries.attempts + v.counted, manual = FALSE, lease_token = NULL, updated_at = {} \
         FROM v WHERE deliveries.msg_id = v.msg_id AND deliveries.endpoint_id = v.endpoint_id",
        params.rows(rows, 5, ""),
        params.next()
    )
}

/// Each endpoint's "failing" verdict in a batch of results (1: failing, 0: not): cleared by
/// any success in the batch, else set by a failed attempt. In endpoint order.
pub(crate) fn failing_updates<'a>(results: &[&'a AttemptResult]) -> Vec<(&'a str, i64)> {
    let mut failing: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for r in results {
        match (r.outcome, &r.attempt) {
            (DeliveryOutcome::Succeeded, _) => {
                failing.insert(&r.endpoint_id, 0);
            }
            (DeliveryOutcome::RetryAt(_) | DeliveryOutcome::Failed, Some(_)) => {
                failing.entry(&r.endpoint_id).or_insert(1);
            }
            _ => {}
        }
    }
    failing.into_iter().collect()
}

/// `UPDATE` of `rows` endpoint queues' "failing since" from (endpoint, failing) pairs, then
/// the time: set if failing and not yet set, cleared if not failing. Rows whose state does not
/// change are not written.
pub(crate) fn update_failing_sql(backend: Backend, rows: usize) -> String {
    let mut params = Params::new(backend);
    format!(
        "WITH v (endpoint_id, failing) AS (VALUES {}) \
         UPDATE endpoint_queues SET failing_since = CASE WHEN v.failing = 1 THEN {} ELSE NULL END \
         FROM v WHERE endpoint_queues.endpoint_id = v.endpoint_id AND \
         ((v.failing = 1 AND endpoint_queues.failing_since IS NULL) OR \
          (v.failing = 0 AND endpoint_queues.failing_since IS NOT NULL))",
        params.rows(rows, 2, ""),
        params.next()
    )
}
