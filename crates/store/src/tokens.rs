//! API tokens. Only a SHA-256 hash of each token is stored: a leaked database does not leak
//! working tokens. The admin token is configured or kept in the data dir, not here.

use hookd_core::id::TokenId;
use hookd_core::time::now_ms;

use crate::{with_db, Result, Scope, Store};

impl Store {
    /// Stores the hash of a new application-scoped token.
    pub async fn create_app_token(&self, app_id: &str, token_hash: &str) -> Result<String> {
        let id = TokenId::generate().into_string();
        with_db!(self.writer(), p => sqlx::query(
            "INSERT INTO api_tokens (id, app_id, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(app_id)
        .bind(token_hash)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
        Ok(id)
    }

    /// The scope of a stored token, by its hash.
    pub async fn token_scope(&self, token_hash: &str) -> Result<Option<Scope>> {
        let row: Option<(Option<String>,)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT app_id FROM api_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(p)
        .await?);
        Ok(row.map(|(app,)| app.map_or(Scope::Admin, Scope::App)))
    }
}
