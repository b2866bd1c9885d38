//! Making deliveries due again: a manual resend, recovering failed deliveries, unparking an
//! endpoint that was re-enabled, releasing leases of a node that died or stopped. Each tells
//! the listener (`notify.rs`) which endpoints have work again.

use hookd_core::id::min_body_at;
use hookd_core::time::now_ms;
use hookd_core::{ApplicationId, EndpointId, MessageId};

use super::{state, touch_queues_sql};
use crate::integrity::lock_app_sql;
use crate::DeliveryStatus::{Fail, Pending, Sending};
use crate::{found, with_db, Backend, Entity, Result, Store, ROWS_PER_STATEMENT};

/// The locking clause that keeps the messages a statement reads from retention until it
/// commits (PostgreSQL; SQLite's one writer needs none). See `integrity.rs`.
fn lock_messages(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR KEY SHARE OF m",
        Backend::Sqlite => "",
    }
}

impl Store {
    /// Queues a manual resend of a message to an endpoint: one attempt, as soon as possible,
    /// never retried. A delivery still in its retry schedule is simply brought forward.
    pub async fn queue_resend(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
    ) -> Result<()> {
        // A message still in the endpoint's backlog has no row yet: made first, so that the
        // resend brings its delivery forward, as it does any pending one, rather than make a
        // manual one-off that would leave the message without its retries (`backlog.rs`).
        self.settle(crate::backlog::Scope::Endpoint(endpoint_id.as_str())).await?;
        let now = now_ms();
        with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            if self.backend() == Backend::Postgres {
                sqlx::query(&lock_app_sql(true)).bind(app_id).execute(&mut *tx).await?;
            }
            // The message is locked, so that retention cannot delete it under the new delivery
            // (`integrity.rs`); one deleted already is not found.
            let stored = sqlx::query(&format!(
                "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, manual, next_attempt_at, updated_at, \
                 in_order) SELECT m.id, $2, $3, {pending}, 0, TRUE, $4, $4, \
                 COALESCE((SELECT fifo FROM endpoints WHERE id = $2), FALSE) FROM messages m WHERE m.id = $1{lock} \
                 ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET {set_pending}, next_attempt_at = $4, updated_at = $4, \
                 lease_token = NULL, manual = CASE WHEN deliveries.{finished} THEN TRUE ELSE deliveries.manual END",
                pending = Pending.code(),
                set_pending = state::is(Pending),
                finished = *state::FINISHED,
                lock = lock_messages(self.backend()),
            ))
            .bind(msg_id)
            .bind(endpoint_id)
            .bind(app_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            found(stored.rows_affected(), Entity::Message)?;
            sqlx::query(&touch_queues_sql(self.backend(), 1)).bind(endpoint_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.announce_due(std::slice::from_ref(endpoint_id)).await;
        Ok(())
    }

    /// Makes an endpoint's parked deliveries due again (after it was re-enabled).
    pub async fn unpark_endpoint(&self, endpoint_id: &EndpointId) -> Result<u64> {
        let now = now_ms();
        let n = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(&format!(
                "UPDATE deliveries SET next_attempt_at = $2, updated_at = $2 WHERE endpoint_id = $1 AND {}",
                *state::PARKED
            ))
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
            self.announce_due(std::slice::from_ref(endpoint_id)).await;
        }
        Ok(n)
    }

    /// Re-queues an endpoint's failed deliveries of messages created in `[since, until)`
    /// (ms), each with a fresh retry schedule. Returns how many.
    pub async fn recover_endpoint(&self, endpoint_id: &EndpointId, since: i64, until: Option<i64>) -> Result<u64> {
        let now = now_ms();
        let from = format!("msg_{}", min_body_at(since));
        let to = format!("msg_{}", min_body_at(until.unwrap_or(now + 1)));
        let n = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(&format!(
                "UPDATE deliveries SET {}, attempts = 0, manual = FALSE, next_attempt_at = $4, updated_at = $4 \
                 WHERE endpoint_id = $1 AND {} AND msg_id >= $2 AND msg_id < $3",
                state::is(Pending),
                state::is(Fail)
            ))
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
            self.announce_due(std::slice::from_ref(endpoint_id)).await;
        }
        Ok(n)
    }

    /// Replays messages of an application created in `[since, until)` (ms) to one of its
    /// endpoints, `msg_id` alone when given: each delivery starts again with a fresh retry
    /// schedule, whatever became of it (a source's replay). Returns how many.
    pub async fn replay_to_endpoint(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        since: i64,
        until: Option<i64>,
        msg_id: Option<&MessageId>,
    ) -> Result<u64> {
        let now = now_ms();
        let from = format!("msg_{}", min_body_at(since));
        let to = format!("msg_{}", min_body_at(until.unwrap_or(now + 1)));
        let n = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            if self.backend() == Backend::Postgres {
                sqlx::query(&lock_app_sql(true)).bind(app_id).execute(&mut *tx).await?;
            }
            let n = sqlx::query(&format!(
                "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, manual, next_attempt_at, updated_at, \
                 in_order) SELECT m.id, $2, m.app_id, {pending}, 0, FALSE, $5, $5, e.fifo FROM messages m \
                 JOIN endpoints e ON e.id = $2 \
                 WHERE m.app_id = $1 AND m.id >= $3 AND m.id < $4 AND ($6 IS NULL OR m.id = $6){lock} \
                 ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET {set_pending}, attempts = 0, manual = FALSE, \
                 next_attempt_at = $5, updated_at = $5, lease_token = NULL",
                pending = Pending.code(),
                set_pending = state::is(Pending),
                lock = lock_messages(self.backend()),
            ))
            .bind(app_id)
            .bind(endpoint_id)
            .bind(&from)
            .bind(&to)
            .bind(now)
            .bind(msg_id)
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
            self.announce_due(std::slice::from_ref(endpoint_id)).await;
        }
        Ok(n)
    }

    /// Disables an endpoint (410 Gone, or failing for too long). `true` if it was enabled.
    pub async fn disable_endpoint(&self, endpoint_id: &EndpointId) -> Result<bool> {
        let n = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            // Its backlog was routed while it was enabled, so it is kept, parked with the rest
            // of its deliveries (`backlog.rs`).
            if self.backend() == Backend::Postgres {
                sqlx::query(&crate::integrity::lock_app_of_endpoint_sql()).bind(endpoint_id).execute(&mut *tx).await?;
            }
            crate::backlog::settle_endpoint_in(&mut *tx, self.backend(), endpoint_id.as_str()).await?;
            let n = sqlx::query("UPDATE endpoints SET disabled = TRUE, updated_at = $2 WHERE id = $1 AND NOT disabled")
                .bind(endpoint_id)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n == 1)
    }

    /// Makes every lease due now. Only for a node that knows it is the only one using this
    /// database (SQLite, under the data-dir lock).
    pub async fn release_all_leases(&self) -> Result<u64> {
        let now = now_ms();
        let n = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let release = format!(
                "UPDATE deliveries SET {}, next_attempt_at = $1, lease_token = NULL WHERE {}",
                state::is(Pending),
                state::is(Sending)
            );
            let n = sqlx::query(&release)
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
    pub async fn release_expired_handovers(&self, lease_ms: i64) -> Result<Vec<EndpointId>> {
        let now = now_ms();
        let endpoints: Vec<EndpointId> = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let mut endpoints: Vec<EndpointId> = sqlx::query_scalar(
                &format!(
                    "UPDATE deliveries SET {}, next_attempt_at = $1, lease_token = NULL \
                     WHERE {} AND updated_at < $2 RETURNING endpoint_id",
                    state::is(Pending),
                    *state::HANDED_OVER
                ),
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
        self.announce_due(&endpoints).await;
        Ok(endpoints)
    }
}
