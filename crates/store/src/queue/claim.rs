//! Claiming deliveries, gathered across endpoints.
//!
//! Each lane claims its own endpoint's due deliveries. A publish that fans out to many
//! endpoints wakes all their lanes at once; one claim transaction per lane would then queue
//! up behind SQLite's single writer (and cost PostgreSQL a round trip each). Instead every
//! claim waiting at that moment runs with the others as one transaction of three statements,
//! much as publishes are group-committed: on SQLite on the group commit's thread, between its
//! batches (`commit.rs`); on PostgreSQL on a task of its own ([`spawn_claimer`]).
//!
//! A claim leases an endpoint's earliest due deliveries (its `next_attempt_at` moves to the
//! end of the lease) and reads them back with their messages.

use std::collections::{HashMap, HashSet};

use hookd_core::id::new_body_at;
use hookd_core::time::now_ms;
use hookd_core::{ApplicationId, EndpointId, MessageId};
use tokio::sync::{mpsc, oneshot};

use sqlx::Connection;

use super::{relax_durability, row_lock, state, ClaimedDelivery, DeliveryClaim};
use crate::commit::{sqlite_begin, sqlite_end};
use crate::exec::{Arg, Cell, Exec, Kind};
use crate::DeliveryStatus::Sending;
use crate::{backlog, with_db, Backend, Database, Db, Params, Result, Store, StoreError};

/// One lane's request to claim its endpoint's due deliveries.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRequest {
    pub endpoint_id: EndpointId,
    pub limit: i64,
    pub lease_ms: i64,
}

/// A claimed delivery as read, with its message ([`CLAIMED_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimRow {
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub app_id: ApplicationId,
    pub attempts: i64,
    pub manual: bool,
    pub event_type: String,
    pub event_id: Option<String>,
    pub payload: String,
    pub content_type: Option<String>,
    /// An `IngestedRequest` as JSON.
    pub request: Option<String>,
}

/// The kinds of [`CLAIMED_COLUMNS`].
const CLAIMED_KINDS: [Kind; 10] = [
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Int,
    Kind::Bool,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
];

impl ClaimRow {
    /// A row of [`CLAIMED_COLUMNS`] read as [`CLAIMED_KINDS`].
    fn from_cells(row: Vec<Cell>) -> Result<Self> {
        let [msg_id, endpoint_id, app_id, attempts, manual, event_type, event_id, payload, content_type, request]: [Cell;
            10] = row.try_into().map_err(|_| StoreError::Corrupt("a claimed delivery has ten columns".into()))?;
        Ok(ClaimRow {
            msg_id: MessageId::from_stored(msg_id.string()?),
            endpoint_id: EndpointId::from_stored(endpoint_id.string()?),
            app_id: ApplicationId::from_stored(app_id.string()?),
            attempts: attempts.int()?,
            manual: manual.bool()?,
            event_type: event_type.string()?,
            event_id: event_id.text()?,
            payload: payload.string()?,
            content_type: content_type.text()?,
            request: request.text()?,
        })
    }
}

/// Reads claimed deliveries with their messages (a `WHERE` follows).
const CLAIMED_COLUMNS: &str =
    "SELECT d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.manual, m.event_type, m.event_id, m.payload, \
     m.content_type, m.request \
     FROM deliveries d JOIN messages m ON m.id = d.msg_id";

pub(crate) fn claimed_delivery(r: ClaimRow, lease_token: &str) -> ClaimedDelivery {
    // Written by this code from an `IngestedRequest`; unreadable only if edited by hand, and
    // then sent as a published message rather than not at all.
    let request = r.request.and_then(|json| serde_json::from_str(&json).ok());
    ClaimedDelivery {
        msg_id: r.msg_id,
        endpoint_id: r.endpoint_id,
        app_id: r.app_id,
        attempts: r.attempts,
        manual: r.manual,
        event_type: r.event_type,
        event_id: r.event_id,
        payload: r.payload,
        content_type: r.content_type,
        request,
        lease_token: lease_token.to_owned(),
    }
}

/// Claims gathered into one transaction at most (each adds a sub-select to one statement;
/// SQLite allows 500 terms in a compound select).
pub(crate) const MAX_BATCH: usize = 128;

pub(crate) struct ClaimJob {
    request: ClaimRequest,
    reply: oneshot::Sender<Result<DeliveryClaim>>,
}

/// Hands a claim to the claim task and waits for its answer.
pub(crate) async fn submit(store: &Store, request: ClaimRequest) -> Result<DeliveryClaim> {
    let (reply, answer) = oneshot::channel();
    store.claimer.send(ClaimJob { request, reply }).await.map_err(|_| StoreError::Closed)?;
    answer.await.map_err(|_| StoreError::Closed)?
}

/// The channel through which lanes hand their claims to whoever runs them in batches: on
/// SQLite the group commit's thread (`commit.rs`), on PostgreSQL [`spawn_claimer`]'s task.
pub(crate) fn claim_channel() -> (mpsc::Sender<ClaimJob>, mpsc::Receiver<ClaimJob>) {
    mpsc::channel(4 * MAX_BATCH)
}

/// Starts the task that runs claims in batches (PostgreSQL).
pub(crate) fn spawn_claimer(db: Database, mut rx: mpsc::Receiver<ClaimJob>) {
    tokio::spawn(async move {
        let mut waiting: Vec<ClaimJob> = Vec::with_capacity(MAX_BATCH);
        while !waiting.is_empty() || rx.recv_many(&mut waiting, MAX_BATCH).await > 0 {
            let batch = take_batch(&mut waiting);
            run_batch(&db, &mut None, batch).await;
        }
    });
}

/// Takes the waiting claims that can share a transaction: each endpoint once, one lease
/// length. The rest wait for the next round.
pub(crate) fn take_batch(waiting: &mut Vec<ClaimJob>) -> Vec<ClaimJob> {
    let lease_ms = waiting[0].request.lease_ms;
    let mut endpoints = HashSet::new();
    let (batch, rest): (Vec<ClaimJob>, Vec<ClaimJob>) = std::mem::take(waiting)
        .into_iter()
        .partition(|job| job.request.lease_ms == lease_ms && endpoints.insert(job.request.endpoint_id.clone()));
    *waiting = rest;
    batch
}

/// Runs a batch of claims and answers each; `sqlite`: the group commit's connection, on
/// SQLite.
pub(crate) async fn run_batch(db: &Database, sqlite: &mut Option<rusqlite::Connection>, batch: Vec<ClaimJob>) {
    let requests: Vec<ClaimRequest> = batch.iter().map(|job| job.request.clone()).collect();
    match db.claim_for_endpoints(sqlite, &requests).await {
        Ok(claims) => {
            for (job, claim) in batch.into_iter().zip(claims) {
                let _ = job.reply.send(Ok(claim));
            }
        }
        // Each claim on its own gets its own answer (and its own error).
        Err(_) => {
            for job in batch {
                let result = db.claim_for_endpoints(sqlite, std::slice::from_ref(&job.request)).await;
                let _ = job.reply.send(result.map(|mut claims| claims.remove(0)));
            }
        }
    }
}

impl Store {
    /// Claims up to `limit` due deliveries of one endpoint for `lease_ms`. With `in_order`
    /// (FIFO endpoints) only the oldest pending delivery is a candidate, and only once due.
    ///
    /// Claims of different endpoints made at the same time (a fan-out wakes many lanes at
    /// once) are gathered into one transaction; see `claim.rs`.
    pub async fn claim_endpoint_deliveries(
        &self,
        endpoint_id: &EndpointId,
        limit: i64,
        lease_ms: i64,
        in_order: bool,
    ) -> Result<DeliveryClaim> {
        if in_order {
            return self.claim_fifo_head(endpoint_id, lease_ms).await;
        }
        submit(self, ClaimRequest { endpoint_id: endpoint_id.clone(), limit, lease_ms }).await
    }

    /// Leases a FIFO endpoint's oldest pending delivery, if it is due.
    async fn claim_fifo_head(&self, endpoint_id: &EndpointId, lease_ms: i64) -> Result<DeliveryClaim> {
        let now = now_ms();
        let lease_until = now + lease_ms;
        let token = new_body_at(now);
        // Only FIFO endpoints' pending deliveries are in the index by message (migrations 0015,
        // and 0017 on PostgreSQL), and the query says `in_order` so that it is the one read;
        // every delivery of a FIFO endpoint is `in_order`.
        let head: Option<(String, i64)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT msg_id, next_attempt_at FROM deliveries WHERE endpoint_id = $1 AND next_attempt_at IS NOT NULL \
             AND in_order ORDER BY msg_id LIMIT 1",
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
        let claim_head = format!(
            "UPDATE deliveries SET {}, next_attempt_at = $1, lease_token = $2 \
             WHERE endpoint_id = $3 AND msg_id = $4 AND next_attempt_at = $5",
            state::is(Sending)
        );
        let fetch =
            format!("{CLAIMED_COLUMNS} WHERE d.endpoint_id = $1 AND d.next_attempt_at = $2 AND d.lease_token = $3");
        let rows: Vec<ClaimRow> = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let claimed = sqlx::query(&claim_head)
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
        Ok(DeliveryClaim { deliveries: rows.into_iter().map(|r| claimed_delivery(r, &token)).collect(), next_due })
    }
}

impl Database {
    /// Claims for several endpoints (each named once) in one transaction: one statement
    /// leases every endpoint's earliest due deliveries, one reads them back, and one tells,
    /// for the claims that came back short, when the endpoint's next delivery is due. On
    /// SQLite it runs on the group commit's thread and connection (`sqlite`), between its
    /// batches, as one more writer.
    pub(crate) async fn claim_for_endpoints(
        &self,
        sqlite: &mut Option<rusqlite::Connection>,
        requests: &[ClaimRequest],
    ) -> Result<Vec<DeliveryClaim>> {
        match (&self.db, sqlite.as_mut()) {
            (Db::Sqlite { writer, .. }, Some(conn)) => {
                let _turn = sqlite_begin(writer, conn, false).await?;
                let claimed = self.claim_in(&mut *conn, requests).await;
                sqlite_end(conn, claimed, false)
            }
            (Db::Postgres(pool), _) => {
                let mut conn = pool.acquire().await?;
                let mut tx = conn.begin().await?;
                relax_durability(&mut tx, true).await?;
                let claimed = self.claim_in(&mut *tx, requests).await?;
                tx.commit().await?;
                Ok(claimed)
            }
            (Db::Sqlite { .. }, None) => unreachable!("SQLite's claims run on the group commit's connection"),
        }
    }

    /// The statements of [`Database::claim_for_endpoints`], inside its transaction.
    async fn claim_in<C: Exec>(&self, tx: &mut C, requests: &[ClaimRequest]) -> Result<Vec<DeliveryClaim>> {
        let now = now_ms();
        let lease_ms = requests.first().map_or(0, |r| r.lease_ms);
        let lease_until = now + lease_ms;
        let token = new_body_at(now);
        let ids: Vec<&str> = requests.iter().map(|r| r.endpoint_id.as_str()).collect();
        let at = LeaseAt { now, until: lease_until, token: &token };
        let ClaimStatements { lease, lease_args, fetch, fetch_args } = match self.backend() {
            Backend::Postgres => postgres_claim(requests, &ids, &at),
            Backend::Sqlite => sqlite_claim(requests, &ids, &at),
        };
        let claimed = tx.execute(&lease, &lease_args).await?;
        let mut rows: Vec<ClaimRow> = Vec::new();
        if claimed > 0 {
            for row in tx.fetch(&fetch, &fetch_args, &CLAIMED_KINDS).await? {
                rows.push(ClaimRow::from_cells(row)?);
            }
        }
        // Sorted here: an ORDER BY leads SQLite to walk all the endpoints' deliveries,
        // finished ones included, instead of the few just leased.
        rows.sort_unstable_by(|a, b| (&a.endpoint_id, &a.msg_id).cmp(&(&b.endpoint_id, &b.msg_id)));
        let mut claims: Vec<DeliveryClaim> = requests.iter().map(|_| DeliveryClaim::default()).collect();
        let index: HashMap<&str, usize> =
            requests.iter().enumerate().map(|(i, r)| (r.endpoint_id.as_str(), i)).collect();
        for row in rows {
            let i = index[row.endpoint_id.as_str()];
            claims[i].deliveries.push(claimed_delivery(row, &token));
        }
        // Endpoints with a backlog (`backlog.rs`) fill their room from it, after their due
        // rows (retries). One whose backlog remains is due again at once.
        let mut remains = HashSet::new();
        for (endpoint_id, after) in backlog::lock_backlogs(tx, self.backend(), &ids).await? {
            let i = index[endpoint_id.as_str()];
            let room = (requests[i].limit as usize).saturating_sub(claims[i].deliveries.len());
            let take = backlog::Take::Lease { room, until: lease_until, token: &token };
            let taken = backlog::take(tx, self.backend(), &endpoint_id, after, take, now).await?;
            claims[i].deliveries.extend(taken.claimed);
            if taken.remains {
                remains.insert(i);
            }
        }
        // A short claim took everything due: say when the rest is due.
        let short: Vec<usize> =
            (0..requests.len()).filter(|&i| (claims[i].deliveries.len() as i64) < requests[i].limit).collect();
        if !short.is_empty() {
            let next_due = |endpoint: &str| {
                format!(
                    "(SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint_id = {endpoint} \
                     AND next_attempt_at IS NOT NULL)"
                )
            };
            let short_ids = short.iter().map(|&i| ids[i]);
            let (sql, args): (String, Vec<Arg<'_>>) = match self.backend() {
                Backend::Postgres => (
                    format!(
                        "SELECT r.n - 1, {} FROM UNNEST($1::text[]) WITH ORDINALITY AS r (endpoint_id, n)",
                        next_due("r.endpoint_id")
                    ),
                    vec![Arg::Texts(short_ids.collect())],
                ),
                Backend::Sqlite => {
                    let mut params = Params::new(Backend::Sqlite);
                    let sql = (0..short.len())
                        .map(|n| format!("SELECT CAST({n} AS BIGINT), {}", next_due(&params.next())))
                        .collect::<Vec<_>>()
                        .join(" UNION ALL ");
                    (sql, short_ids.map(Arg::from).collect())
                }
            };
            for row in tx.fetch(&sql, &args, &[Kind::Int, Kind::Int]).await? {
                let [n, next_due]: [Cell; 2] = row.try_into().expect("two columns");
                claims[short[n.int()? as usize]].next_due = next_due.int_opt()?;
            }
        }
        for i in remains {
            claims[i].next_due = Some(now);
        }
        Ok(claims)
    }
}

/// When and under which token a batch of claims leases its deliveries.
struct LeaseAt<'a> {
    now: i64,
    until: i64,
    token: &'a str,
}

/// A batch of claims' statements with their arguments: the lease, and the read of what it
/// leased.
struct ClaimStatements<'a> {
    lease: String,
    lease_args: Vec<Arg<'a>>,
    fetch: String,
    fetch_args: Vec<Arg<'a>>,
}

/// The claims' statements on PostgreSQL: one text for any number of endpoints (arrays, and a
/// lateral sub-select per endpoint), so that PostgreSQL plans each statement once. With a
/// sub-select per endpoint joined by UNION ALL, every batch size was a statement of its own,
/// planned anew at almost every execution: 60 ms for 128 endpoints, more than all other
/// statements' execution together in the trickle shape (BENCHMARKS.md).
fn postgres_claim<'a>(requests: &[ClaimRequest], ids: &[&'a str], at: &LeaseAt<'a>) -> ClaimStatements<'a> {
    let lease = format!(
        "UPDATE deliveries SET {}, next_attempt_at = $1, lease_token = $2 \
         WHERE (msg_id, endpoint_id) IN (SELECT c.msg_id, c.endpoint_id \
         FROM UNNEST($3::text[], $4::bigint[]) AS r (endpoint_id, lim) CROSS JOIN LATERAL \
         (SELECT msg_id, endpoint_id FROM deliveries WHERE endpoint_id = r.endpoint_id \
         AND next_attempt_at <= $5 ORDER BY next_attempt_at LIMIT r.lim{}) AS c)",
        state::is(Sending),
        row_lock(Backend::Postgres)
    );
    let limits: Vec<Option<i64>> = requests.iter().map(|r| Some(r.limit)).collect();
    let lease_args: Vec<Arg<'_>> =
        vec![at.until.into(), at.token.into(), Arg::Texts(ids.to_vec()), Arg::Ints(limits), at.now.into()];
    let fetch = format!(
        "{CLAIMED_COLUMNS} WHERE d.next_attempt_at = $1 AND d.lease_token = $2 \
         AND d.endpoint_id = ANY($3::text[])"
    );
    let fetch_args: Vec<Arg<'_>> = vec![at.until.into(), at.token.into(), Arg::Texts(ids.to_vec())];
    ClaimStatements { lease, lease_args, fetch, fetch_args }
}

/// The claims' statements on SQLite, a sub-select per endpoint: SQLite prepares each text once
/// and keeps it (`exec.rs`), and does not turn a row-value IN into key lookups (it scans the
/// table), so there the rows are named by rowid.
fn sqlite_claim<'a>(requests: &[ClaimRequest], ids: &[&'a str], at: &LeaseAt<'a>) -> ClaimStatements<'a> {
    // Bound in this order: lease end, token, then per endpoint its id, now, and limit.
    let mut params = Params::new(Backend::Sqlite);
    let (lease_param, token_param) = (params.next(), params.next());
    let per_endpoint: Vec<String> = (0..requests.len())
        .map(|i| {
            let (endpoint, now, limit) = (params.next(), params.next(), params.next());
            format!(
                "SELECT k FROM (SELECT rowid AS k FROM deliveries WHERE endpoint_id = {endpoint} \
                 AND next_attempt_at <= {now} ORDER BY next_attempt_at LIMIT {limit}) AS c{i}"
            )
        })
        .collect();
    let lease = format!(
        "UPDATE deliveries SET {}, next_attempt_at = {lease_param}, lease_token = {token_param} \
         WHERE rowid IN ({})",
        state::is(Sending),
        per_endpoint.join(" UNION ALL ")
    );
    let mut lease_args: Vec<Arg<'_>> = vec![at.until.into(), at.token.into()];
    for (r, &id) in requests.iter().zip(ids) {
        lease_args.extend([id.into(), at.now.into(), r.limit.into()]);
    }
    let mut params = Params::new(Backend::Sqlite);
    let fetch = format!(
        "{CLAIMED_COLUMNS} WHERE d.next_attempt_at = {} AND d.lease_token = {} AND d.endpoint_id IN ({})",
        params.next(),
        params.next(),
        (0..requests.len()).map(|_| params.next()).collect::<Vec<_>>().join(", ")
    );
    let mut fetch_args: Vec<Arg<'_>> = vec![at.until.into(), at.token.into()];
    fetch_args.extend(ids.iter().map(|&id| Arg::from(id)));
    ClaimStatements { lease, lease_args, fetch, fetch_args }
}
