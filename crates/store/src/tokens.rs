//! API tokens. Only a SHA-256 hash of each token is stored: a leaked database does not leak
//! working tokens. The admin token is configured or kept in the data dir, not here.
//!
//! An application token made for the consumer portal expires; one made with `hookd token
//! create` does not. Either can be deleted (logged out).

use hookd_core::id::TokenId;
use hookd_core::time::now_ms;
use hookd_core::ApplicationId;

use crate::{with_db, Result, Scope, Store};

impl Store {
    /// Stores the hash of a new application-scoped token, valid until `expires_at` (ms) if
    /// given.
    pub async fn create_app_token(
        &self,
        app_id: &ApplicationId,
        token_hash: &str,
        expires_at: Option<i64>,
    ) -> Result<String> {
        let id = TokenId::generate().into_string();
        with_db!(self.writer(), p => sqlx::query(
            "INSERT INTO api_tokens (id, app_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(app_id)
        .bind(token_hash)
        .bind(now_ms())
        .bind(expires_at)
        .execute(p)
        .await?
        .rows_affected());
        Ok(id)
    }

    /// The scope of a stored token that has not expired, by its hash, and when it expires.
    pub async fn token_scope(&self, token_hash: &str) -> Result<Option<(Scope, Option<i64>)>> {
        let row: Option<(Option<String>, Option<i64>)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT app_id, expires_at FROM api_tokens WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(p)
        .await?);
        Ok(row.map(|(app, expires_at)| (app.map_or(Scope::Admin, Scope::App), expires_at)))
    }

    /// Deletes a token by its hash; whether there was one.
    pub async fn delete_token(&self, token_hash: &str) -> Result<bool> {
        let n = with_db!(self.writer(), p => sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n > 0)
    }
}
