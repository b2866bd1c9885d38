//! Idempotency keys: a repeated POST with the same key gets the first response back.
//!
//! The first request claims the key (an in-progress row) before it runs, so concurrent
//! repeats cannot both create; when it finishes, its response is stored. A failed request
//! releases the key so the client can retry.
//!
//! A key is stored under a digest of its scope and itself ([`key_digest`]), not as the two
//! texts. The SDKs make every key at random, so each key lands on a random page of the
//! table's unique index, and a group commit writes one such page per keyed publish: the
//! smaller the index entries, the cheaper that page. Measured with the table alone (Python's
//! `sqlite3`, WAL, 24 keys per synced transaction, 48,000 keys, three runs): 34–39 µs of CPU
//! per key with the scope (a 64-digit token hash and the path) and the key as the primary
//! key, 25–27 µs with the 22-character digest, and 14–15 µs for keys in order, which no
//! client sends.

use base64::Engine;
use hookd_core::time::now_ms;
use sha2::{Digest, Sha256};

use crate::{is_unique_violation, with_db, IdempotentResponse, Result, Store};

/// A claim older than this is considered abandoned (its node died) and can be taken over.
const ABANDONED_MS: i64 = 60_000;
/// Status code marking an in-progress claim.
const IN_PROGRESS: i64 = 0;

/// What an idempotency key is stored under: the first 128 bits of SHA-256 over its scope and
/// itself, in unpadded base64url (22 characters). Neither may hold a line feed (a scope is a
/// token hash and a path, a key a header value), so the pair is unambiguous.
pub(crate) fn key_digest(scope: &str, key: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(scope.as_bytes());
    hash.update(b"\n");
    hash.update(key.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash.finalize()[..16])
}

impl Store {
    /// Claims `key` in `scope`. Returns `None` when claimed (go ahead), or what the first
    /// request with this key got (or that it is still running).
    pub async fn claim_idempotency_key(&self, scope: &str, key: &str) -> Result<Option<IdempotentResponse>> {
        let now = now_ms();
        let digest = key_digest(scope, key);
        let inserted = with_db!(self.writer(), p => sqlx::query(
            "INSERT INTO idempotency_keys (digest, status_code, body, created_at) VALUES ($1, $2, '', $3)",
        )
        .bind(&digest)
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
            "SELECT status_code, body, created_at FROM idempotency_keys WHERE digest = $1",
        )
        .bind(&digest)
        .fetch_optional(p)
        .await?);
        Ok(match row {
            // Released between our insert and select: the caller may retry.
            None => Some(IdempotentResponse::InProgress),
            Some((IN_PROGRESS, _, created)) if now - created > ABANDONED_MS => {
                let taken = with_db!(self.writer(), p => sqlx::query(
                    "UPDATE idempotency_keys SET created_at = $2 WHERE digest = $1 AND status_code = 0 AND created_at = $3",
                )
                .bind(&digest)
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
            "UPDATE idempotency_keys SET status_code = $2, body = $3 WHERE digest = $1",
        )
        .bind(key_digest(scope, key))
        .bind(i64::from(status_code))
        .bind(body)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Releases a claimed key whose request failed.
    pub async fn release_idempotency_key(&self, scope: &str, key: &str) -> Result<()> {
        with_db!(self.writer(), p => sqlx::query("DELETE FROM idempotency_keys WHERE digest = $1 AND status_code = 0")
            .bind(key_digest(scope, key))
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }
}
