//! Idempotency keys: a repeated POST with the same key gets the first response back.
//!
//! The first request claims the key (an in-progress row) before it runs, so concurrent
//! repeats cannot both create; when it finishes, its response is stored. A failed request
//! releases the key so the client can retry.

use hookd_core::time::now_ms;

use crate::{is_unique_violation, with_db, IdempotentResponse, Result, Store};

/// A claim older than this is considered abandoned (its node died) and can be taken over.
const ABANDONED_MS: i64 = 60_000;
/// Status code marking an in-progress claim.
const IN_PROGRESS: i64 = 0;

impl Store {
    /// Claims `key` in `scope`. Returns `None` when claimed (go ahead), or what the first
    /// request with this key got (or that it is still running).
    pub async fn claim_idempotency_key(&self, scope: &str, key: &str) -> Result<Option<IdempotentResponse>> {
        let now = now_ms();
        let inserted = with_db!(self.writer(), p => sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, status_code, body, created_at) VALUES ($1, $2, $3, '', $4)",
        )
        .bind(scope)
        .bind(key)
        .bind(IN_PROGRESS)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()));
        match inserted {
            Ok(_) => return Ok(None),
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let row: Option<(i64, String, i64)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT status_code, body, created_at FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(p)
        .await?);
        Ok(match row {
            // Released between our insert and select: the caller may retry.
            None => Some(IdempotentResponse::InProgress),
            Some((IN_PROGRESS, _, created)) if now - created > ABANDONED_MS => {
                let taken = with_db!(self.writer(), p => sqlx::query(
                    "UPDATE idempotency_keys SET created_at = $3 WHERE scope = $1 AND key = $2 AND status_code = 0 AND created_at = $4",
                )
                .bind(scope)
                .bind(key)
                .bind(now)
                .bind(created)
                .execute(p)
                .await?
                .rows_affected());
                if taken == 1 {
                    None
                } else {
                    Some(IdempotentResponse::InProgress)
                }
            }
            Some((IN_PROGRESS, _, _)) => Some(IdempotentResponse::InProgress),
            Some((code, body, _)) => Some(IdempotentResponse::Done { status_code: code as u16, body }),
        })
    }

    /// Stores the response for a claimed key.
    pub async fn complete_idempotency_key(&self, scope: &str, key: &str, status_code: u16, body: &str) -> Result<()> {
        with_db!(self.writer(), p => sqlx::query(
            "UPDATE idempotency_keys SET status_code = $3, body = $4 WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .bind(i64::from(status_code))
        .bind(body)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Releases a claimed key whose request failed.
    pub async fn release_idempotency_key(&self, scope: &str, key: &str) -> Result<()> {
        with_db!(self.writer(), p => sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status_code = 0")
            .bind(scope)
            .bind(key)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }
}
