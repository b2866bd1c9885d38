//! The group commit's multi-row inserts, one implementation per backend.
//!
//! SQLite takes multi-row `VALUES`, bound row by row in chunks (it has no arrays), on the
//! group commit's own rusqlite connection (see `exec.rs`), except deliveries spread over
//! many endpoints, which go one row per statement (see `sqlite_delivery_chunk`).
//! PostgreSQL takes one array per column through `UNNEST`, so each statement has one text
//! whatever the number of rows: it is parsed and planned once per connection, where `VALUES`
//! lists of varying length would be prepared again for nearly every batch size.

use std::collections::HashMap;
use std::future::Future;

use hookd_core::MessageId;
use sqlx::PgConnection;

use crate::exec::{Arg, Cell, Exec, Kind};
use crate::integrity::lock_apps_shared_cte;
use crate::messages::{ATTEMPT_COLUMNS, INSERT_COLUMNS};
use crate::publish::{NewDelivery, PublishJob};
use crate::{placeholders, Attempt, Backend, Result, ROWS_PER_STATEMENT};

/// The columns of a new delivery row: `NewDelivery`'s values, then attempts and manual.
const DELIVERY_COLUMNS: &str =
    "msg_id, endpoint_id, app_id, next_attempt_at, updated_at, status, lease_token, in_order, attempts, manual";

/// The inserts of a group commit, on a connection inside its transaction.
pub(crate) trait BulkInsert: Exec {
    /// Inserts the jobs' messages, skipping those whose `eventId` is taken; returns the ids of
    /// those inserted, each with its place in its application's log (see `backlog.rs`).
    fn insert_messages(&mut self, jobs: &[&PublishJob]) -> impl Future<Output = Result<Vec<(MessageId, i64)>>> + Send;
    fn insert_deliveries(&mut self, rows: &[NewDelivery<'_>]) -> impl Future<Output = Result<()>> + Send;
    fn insert_attempts(&mut self, attempts: &[&Attempt]) -> impl Future<Output = Result<()>> + Send;
}

impl BulkInsert for rusqlite::Connection {
    async fn insert_messages(&mut self, jobs: &[&PublishJob]) -> Result<Vec<(MessageId, i64)>> {
        // Each application's log goes on from its last message (`messages_log`), in the order
        // of the batch; this thread is SQLite's one writer, so that is commit order.
        let mut next_seq: HashMap<&str, i64> = HashMap::new();
        let mut seqs = Vec::with_capacity(jobs.len());
        for job in jobs {
            let app = job.app_id.as_str();
            if !next_seq.contains_key(app) {
                let last = self
                    .fetch(
                        "SELECT MAX(seq) FROM messages WHERE app_id = $1 AND seq IS NOT NULL",
                        &[app.into()],
                        &[Kind::Int],
                    )
                    .await?;
                let last = last.into_iter().next().and_then(|row| row.into_iter().next());
                next_seq.insert(app, last.map(Cell::int_opt).transpose()?.flatten().unwrap_or(0) + 1);
            }
            let seq = next_seq.get_mut(app).expect("just inserted");
            seqs.push(*seq);
            *seq += 1;
        }
        let mut inserted = Vec::with_capacity(jobs.len());
        let mut at = 0;
        for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO messages ({INSERT_COLUMNS}, seq, to_endpoint) VALUES {} ON CONFLICT DO NOTHING \
                 RETURNING id, seq",
                placeholders(Backend::Sqlite, chunk.len(), 14, "")
            );
            let json: Vec<[Option<String>; 3]> = chunk
                .iter()
                .map(|j| {
                    let m = &j.msg;
                    [
                        m.channels.as_ref().map(crate::to_json),
                        m.tags.as_ref().map(crate::to_json),
                        m.request.as_ref().map(crate::to_json),
                    ]
                })
                .collect();
            let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 14);
            for ((job, [channels, tags, request]), seq) in chunk.iter().zip(&json).zip(&seqs[at..]) {
                let msg = &job.msg;
                args.extend([
                    msg.id.as_str().into(),
                    job.app_id.as_str().into(),
                    msg.event_type.as_str().into(),
                    msg.event_id.as_deref().into(),
                    msg.payload.as_str().into(),
                    channels.into(),
                    msg.created_at.into(),
                    tags.into(),
                    msg.content_type.as_deref().into(),
                    msg.scheduled().into(),
                    msg.payload_expires_at.into(),
                    request.into(),
                    (*seq).into(),
                    msg.to_endpoint.as_ref().map(hookd_core::EndpointId::as_str).into(),
                ]);
            }
            at += chunk.len();
            for row in self.fetch(&sql, &args, &[Kind::Text, Kind::Int]).await? {
                let [id, seq]: [Cell; 2] = row.try_into().expect("two columns");
                inserted.push((MessageId::from_stored(id.string()?), seq.int()?));
            }
        }
        Ok(inserted)
    }

    async fn insert_deliveries(&mut self, rows: &[NewDelivery<'_>]) -> Result<()> {
        for chunk in rows.chunks(sqlite_delivery_chunk(rows)) {
            let sql = format!(
                "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES {}",
                placeholders(Backend::Sqlite, chunk.len(), 8, "0, FALSE")
            );
            let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 8);
            for d in chunk {
                let (due, updated_at, status, token) = d.columns();
                args.extend([
                    d.job.msg.id.as_str().into(),
                    d.endpoint_id.as_str().into(),
                    d.job.app_id.as_str().into(),
                    due.into(),
                    updated_at.into(),
                    status.into(),
                    token.into(),
                    i64::from(d.in_order).into(),
                ]);
            }
            self.execute(&sql, &args).await?;
        }
        Ok(())
    }

    async fn insert_attempts(&mut self, attempts: &[&Attempt]) -> Result<()> {
        for chunk in attempts.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO attempts ({ATTEMPT_COLUMNS}) VALUES {}",
                placeholders(Backend::Sqlite, chunk.len(), 12, "")
            );
            let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 12);
            for a in chunk {
                args.extend([
                    a.id.as_str().into(),
                    a.msg_id.as_str().into(),
                    a.endpoint_id.as_str().into(),
                    a.app_id.as_str().into(),
                    a.url.as_str().into(),
                    (a.status as i64).into(),
                    a.response_status_code.into(),
                    a.response.as_str().into(),
                    a.duration_ms.into(),
                    (a.trigger_type as i64).into(),
                    a.error.as_deref().into(),
                    a.created_at.into(),
                ]);
            }
            self.execute(&sql, &args).await?;
        }
        Ok(())
    }
}

/// Endpoints in one batch beyond which SQLite gets its deliveries one row per statement.
const SQLITE_SPREAD_ENDPOINTS: usize = 16;

/// Rows per statement for a batch of deliveries on SQLite.
///
/// Inside a transaction, a statement that writes several rows and may fail halfway (a key or
/// a foreign key) runs with a statement journal: SQLite copies every page the statement is
/// about to change, the first time, so that it can undo that statement alone. Deliveries'
/// rows go into indexes that lead with the endpoint (two for a pending delivery, three if its
/// endpoint is FIFO, one for a delivery handed over), so a batch spread over many endpoints
/// changes a few pages per endpoint and index, and a multi-row insert copied them all
/// (measured with three for every pending delivery, before migration 0015): with 100 hanging
/// endpoints and 32 publishes in flight, the copies and their allocations were 22% of the
/// commit thread's CPU. A single-row insert needs no statement
/// journal (a failing row has changed nothing), so spread batches go one row per statement,
/// on the prepared statement the connection caches. Measured there: 570–612 messages/s
/// against 449–476/s, the commit thread 1,332–1,420 µs per message against 1,782–1,920 µs.
/// Batches on few endpoints (one endpoint, fan-out 10) change few pages, and one statement
/// for many rows stays as cheap for them (BENCHMARKS.md, thirteenth session).
fn sqlite_delivery_chunk(rows: &[NewDelivery<'_>]) -> usize {
    // Counted only up to the threshold: the batch's rows are not sorted or copied for it.
    let mut endpoints: Vec<&str> = Vec::with_capacity(SQLITE_SPREAD_ENDPOINTS + 1);
    for id in rows.iter().map(|d| d.endpoint_id.as_str()) {
        if !endpoints.contains(&id) {
            endpoints.push(id);
            if endpoints.len() > SQLITE_SPREAD_ENDPOINTS {
                return 1;
            }
        }
    }
    ROWS_PER_STATEMENT
}

/// One column of a batch, as the array PostgreSQL unnests.
fn column<'a, T, U>(rows: &'a [T], f: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

impl BulkInsert for PgConnection {
    async fn insert_messages(&mut self, jobs: &[&PublishJob]) -> Result<Vec<(MessageId, i64)>> {
        // Under the applications' lock (see `integrity.rs`), which `locked` takes.
        let sql = format!(
            "{}INSERT INTO messages ({INSERT_COLUMNS}, to_endpoint) SELECT m.* FROM UNNEST($1::text[], $2::text[], \
             $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[], $9::text[], $10::int8[], \
             $11::int8[], $12::text[], $13::text[]) AS m, locked ON CONFLICT DO NOTHING RETURNING id, seq",
            lock_apps_shared_cte("$2")
        );
        // `seq` (the application's log, see `backlog.rs`) is the column's default, taken under
        // the lock.
        let ids: Vec<(MessageId, i64)> = sqlx::query_as(&sql)
            .bind(column(jobs, |j| j.msg.id.as_str()))
            .bind(column(jobs, |j| j.app_id.as_str()))
            .bind(column(jobs, |j| j.msg.event_type.as_str()))
            .bind(column(jobs, |j| j.msg.event_id.as_deref()))
            .bind(column(jobs, |j| j.msg.payload.as_str()))
            .bind(column(jobs, |j| j.msg.channels.as_ref().map(crate::to_json)))
            .bind(column(jobs, |j| j.msg.created_at))
            .bind(column(jobs, |j| j.msg.tags.as_ref().map(crate::to_json)))
            .bind(column(jobs, |j| j.msg.content_type.as_deref()))
            .bind(column(jobs, |j| j.msg.scheduled()))
            .bind(column(jobs, |j| j.msg.payload_expires_at))
            .bind(column(jobs, |j| j.msg.request.as_ref().map(crate::to_json)))
            .bind(column(jobs, |j| j.msg.to_endpoint.as_ref().map(hookd_core::EndpointId::as_str)))
            .fetch_all(&mut *self)
            .await?;
        Ok(ids)
    }

    async fn insert_deliveries(&mut self, rows: &[NewDelivery<'_>]) -> Result<()> {
        let columns: Vec<_> = rows.iter().map(NewDelivery::columns).collect();
        let sql = format!(
            "INSERT INTO deliveries ({DELIVERY_COLUMNS}) SELECT *, 0, FALSE FROM UNNEST($1::text[], $2::text[], \
             $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::text[], $8::bool[])"
        );
        sqlx::query(&sql)
            .bind(column(rows, |d| d.job.msg.id.as_str()))
            .bind(column(rows, |d| d.endpoint_id.as_str()))
            .bind(column(rows, |d| d.job.app_id.as_str()))
            .bind(column(&columns, |c| c.0))
            .bind(column(&columns, |c| c.1))
            .bind(column(&columns, |c| c.2))
            .bind(column(&columns, |c| c.3))
            .bind(column(rows, |d| d.in_order))
            .execute(&mut *self)
            .await?;
        Ok(())
    }

    async fn insert_attempts(&mut self, attempts: &[&Attempt]) -> Result<()> {
        let sql = format!(
            "INSERT INTO attempts ({ATTEMPT_COLUMNS}) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], \
             $4::text[], $5::text[], $6::int8[], $7::int8[], $8::text[], $9::int8[], $10::int8[], $11::text[], \
             $12::int8[]) AS a (id, msg_id, endpoint_id) WHERE EXISTS (SELECT 1 FROM deliveries d \
             WHERE d.msg_id = a.msg_id AND d.endpoint_id = a.endpoint_id)"
        );
        sqlx::query(&sql)
            .bind(column(attempts, |a| a.id.as_str()))
            .bind(column(attempts, |a| a.msg_id.as_str()))
            .bind(column(attempts, |a| a.endpoint_id.as_str()))
            .bind(column(attempts, |a| a.app_id.as_str()))
            .bind(column(attempts, |a| a.url.as_str()))
            .bind(column(attempts, |a| a.status as i64))
            .bind(column(attempts, |a| a.response_status_code))
            .bind(column(attempts, |a| a.response.as_str()))
            .bind(column(attempts, |a| a.duration_ms))
            .bind(column(attempts, |a| a.trigger_type as i64))
            .bind(column(attempts, |a| a.error.as_deref()))
            .bind(column(attempts, |a| a.created_at))
            .execute(&mut *self)
            .await?;
        Ok(())
    }
}
