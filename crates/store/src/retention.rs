//! Retention: deleting what is old enough to go, in small batches so that publishes and
//! attempt records (which share SQLite's one writer) never wait long behind a deletion.
//!
//! A message goes, with its deliveries and attempts (in the same transaction; see
//! `integrity.rs`), only once every delivery of it is finished: delivered, or failed for
//! good. One still pending, retrying, sending, or parked on a disabled endpoint keeps it,
//! whatever its age, and so does one still in an endpoint's backlog (`backlog.rs`), so
//! retention never drops an undelivered message.

use std::time::Duration;

use hookd_core::id::{min_body_at, MessageId};

use crate::{with_db, Backend, Result, Store};

/// Messages looked at per statement.
const BATCH: i64 = 500;
/// The deliveries and attempts of the messages a batch deleted (`$1` < id ≤ `$2`), on
/// PostgreSQL (SQLite's foreign keys cascade): those whose message is gone, found on the key
/// (both are indexed by message first). After the messages' delete, in its transaction: a
/// resend that locked a message before it is committed by then (see `integrity.rs`).
const DEPENDANTS: [&str; 2] = [
    "DELETE FROM deliveries WHERE msg_id > $1 AND msg_id <= $2 \
     AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = deliveries.msg_id)",
    "DELETE FROM attempts WHERE msg_id > $1 AND msg_id <= $2 \
     AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = attempts.msg_id)",
];
/// Pause between two batches: room for the group commit.
const PAUSE: Duration = Duration::from_millis(20);

impl Store {
    /// Deletes the messages created before `before` (ms) whose deliveries are all finished,
    /// with their deliveries and attempts; returns how many messages went.
    pub async fn delete_finished_messages_before(&self, before: i64) -> Result<u64> {
        // Message ids sort by creation time, so the age bound is an id bound, on the key.
        let bound = format!("{}{}", MessageId::PREFIX, min_body_at(before));
        let mut after = String::new();
        let pg = self.backend() == Backend::Postgres;
        let mut deleted = 0;
        loop {
            // The last id of the next batch; kept messages are stepped over, not looked at again.
            let last: Option<(String,)> = with_db!(self.reader(), p => sqlx::query_as(
                "SELECT id FROM messages WHERE id > $1 AND id < $2 ORDER BY id LIMIT 1 OFFSET $3",
            )
            .bind(&after)
            .bind(&bound)
            .bind(BATCH - 1)
            .fetch_optional(p)
            .await?);
            // (The bound itself would be a message created in that very millisecond with a
            // random part of zeros: taking it along is harmless.)
            let upto = last.map_or_else(|| bound.clone(), |(id,)| id);
            // Nor one still in an endpoint's backlog (`backlog.rs`; none on PostgreSQL).
            let delete = format!(
                "DELETE FROM messages WHERE id > $1 AND id <= $2 AND NOT EXISTS \
                 (SELECT 1 FROM deliveries d WHERE d.msg_id = messages.id AND d.{}) AND NOT EXISTS \
                 (SELECT 1 FROM endpoint_queues q JOIN endpoints e ON e.id = q.endpoint_id \
                 WHERE q.backlog_after IS NOT NULL AND q.backlog_after < messages.seq AND e.app_id = messages.app_id)",
                *crate::queue::state::UNFINISHED
            );
            deleted += with_db!(self.writer(), p => {
                let mut tx = p.begin().await?;
                let n = sqlx::query(&delete).bind(&after).bind(&upto).execute(&mut *tx).await?.rows_affected();
                if pg {
                    for sql in DEPENDANTS {
                        sqlx::query(sql).bind(&after).bind(&upto).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                n
            });
            if upto == bound {
                return Ok(deleted);
            }
            after = upto;
            tokio::time::sleep(PAUSE).await;
        }
    }

    /// Deletes the counts of filtered messages for the hours that ended before `before` (ms),
    /// which the messages of those hours have left with; returns how many counts went.
    pub async fn delete_filter_counts_before(&self, before: i64) -> Result<u64> {
        Ok(with_db!(self.writer(), p => sqlx::query("DELETE FROM endpoint_filtered WHERE hour < $1")
            .bind(before.div_euclid(crate::endpoints::HOUR_MS))
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// Deletes idempotency keys (and the responses kept with them) created before `before`
    /// (ms); returns how many.
    pub async fn delete_idempotency_keys_before(&self, before: i64) -> Result<u64> {
        let mut deleted = 0;
        loop {
            // The age of the BATCH-th oldest key, so each statement deletes about a batch.
            let nth: Option<(i64,)> = with_db!(self.reader(), p => sqlx::query_as(
                "SELECT created_at FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT 1 OFFSET $2",
            )
            .bind(before)
            .bind(BATCH - 1)
            .fetch_optional(p)
            .await?);
            let upto = nth.map_or(before, |(at,)| at + 1);
            deleted += with_db!(self.writer(), p => sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(upto)
                .execute(p)
                .await?
                .rows_affected());
            if upto == before {
                return Ok(deleted);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
}
