//! Endpoint leases: a node claims the endpoints whose queue is due and works each in a lane
//! of its own, renews the lease while it works, and lets go when nothing is due soon.

use std::sync::LazyLock;

use hookd_core::time::now_ms;
use hookd_core::EndpointId;

use super::row_lock;
use crate::{with_db, Result, Store};

/// When endpoint `$1`'s earliest pending delivery is due (ms), if it has one.
const NEXT_DUE_SQL: &str =
    "SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint_id = $1 AND next_attempt_at IS NOT NULL";

impl Store {
    /// Leases up to `limit` endpoints whose queue is due and not leased by anyone.
    pub async fn claim_endpoints(&self, limit: i64, lease_ms: i64, owner: &str) -> Result<Vec<EndpointId>> {
        let now = now_ms();
        let sql = format!(
            "UPDATE endpoint_queues SET lease_until = $1, lease_owner = $2 WHERE endpoint_id IN \
             (SELECT endpoint_id FROM endpoint_queues WHERE next_due_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
             ORDER BY next_due_at LIMIT $4{}) RETURNING endpoint_id",
            row_lock(self.backend())
        );
        let rows: Vec<(EndpointId,)> = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(now + lease_ms)
            .bind(owner)
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await?);
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Extends an endpoint lease; `false` when `owner` no longer holds it.
    pub async fn renew_endpoint_lease(&self, endpoint_id: &EndpointId, owner: &str, lease_ms: i64) -> Result<bool> {
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
    /// keeps the lease) when work arrived meanwhile, so the caller carries on; `true` also
    /// when `owner` no longer holds it (there is nothing to let go).
    ///
    /// One statement when it lets go, so one round trip where reading the version and the
    /// next due time first took three (it is run once per lane run, and with many endpoints
    /// that each get a trickle, lanes start and stop all the time). The version guard is what keeps a
    /// publish from being missed: a publish that stores a delivery for this endpoint also
    /// bumps the queue row's version (`touch_queues_sql`). On SQLite the statement runs
    /// alone at the single writer. On PostgreSQL both subqueries read the statement's
    /// snapshot; a publish that bumps the version after it is seen by the recheck of the
    /// `WHERE` on the row's newest version, which no longer matches the version read, so
    /// nothing is released.
    pub async fn release_endpoint(&self, endpoint_id: &EndpointId, owner: &str) -> Result<bool> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "UPDATE endpoint_queues SET lease_until = NULL, lease_owner = NULL, \
                 next_due_at = CASE WHEN backlog_after IS NOT NULL THEN 0 ELSE ({NEXT_DUE_SQL}) END \
                 WHERE endpoint_id = $1 AND lease_owner = $2 AND version = \
                 (SELECT version FROM endpoint_queues WHERE endpoint_id = $1)"
            )
        });
        let n = with_db!(self.writer(), p => sqlx::query(&SQL)
        .bind(endpoint_id)
        .bind(owner)
        .execute(p)
        .await?
        .rows_affected());
        if n == 1 {
            return Ok(true);
        }
        let held: Option<(i64,)> = with_db!(self.writer(), p => sqlx::query_as(
            "SELECT version FROM endpoint_queues WHERE endpoint_id = $1 AND lease_owner = $2",
        )
        .bind(endpoint_id)
        .bind(owner)
        .fetch_optional(p)
        .await?);
        Ok(held.is_none())
    }

    /// When the endpoint's earliest pending delivery is due (ms), if it has one.
    pub async fn next_due_for_endpoint(&self, endpoint_id: &EndpointId) -> Result<Option<i64>> {
        let row: (Option<i64>,) = with_db!(self.reader(), p => sqlx::query_as(NEXT_DUE_SQL)
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
}
