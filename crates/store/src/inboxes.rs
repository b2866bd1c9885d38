//! Webhook tester inboxes and the requests they capture.
//!
//! An expired inbox is treated as absent by every read (so its capture URL answers 404 at once)
//! and is deleted, with its requests, by [`Store::delete_expired_inboxes`]. The cap on stored
//! requests is enforced in the transaction that inserts a request, so an inbox never holds
//! more than `max_requests`.

use hookd_core::time::now_ms;
use hookd_core::{InboxId, InboxRequestId};

use crate::{
    finish_page, from_json, page_sql, to_json, with_db, Backend, CapturedRequest, Inbox, InboxData, InboxResponse,
    ListQuery, Page, Result, SignatureCheck, Store, StoreError,
};
use crate::{sealed, Entity};

const COLUMNS: &str = "id, name, secret, endpoint_id, response_status, response_headers, \
     response_body, response_delay_ms, max_requests, expires_at, created_at, updated_at";
/// An inbox's row, by column name.
#[derive(sqlx::FromRow)]
struct Row {
    id: InboxId,
    name: Option<String>,
    secret: Option<String>,
    endpoint_id: Option<String>,
    response_status: i64,
    response_headers: String,
    response_body: String,
    response_delay_ms: i64,
    max_requests: i64,
    expires_at: i64,
    created_at: i64,
    updated_at: i64,
}

fn decode(store: &Store, r: Row) -> Result<Inbox> {
    Ok(Inbox {
        id: r.id,
        name: r.name,
        secret: store.open_opt(sealed::INBOX_SECRET, r.secret)?,
        endpoint_id: r.endpoint_id,
        response: InboxResponse {
            status: u16::try_from(r.response_status).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            headers: from_json(&r.response_headers)?,
            body: r.response_body,
            delay_ms: r.response_delay_ms,
        },
        max_requests: r.max_requests,
        expires_at: r.expires_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

const REQUEST_COLUMNS: &str = "id, inbox_id, method, path, query, headers, body, body_size, \
     client_addr, refused_reason, signature_verified, signature_error, created_at";
/// A captured request's row, by column name.
#[derive(sqlx::FromRow)]
struct RequestRow {
    id: InboxRequestId,
    inbox_id: InboxId,
    method: String,
    path: String,
    query: String,
    headers: String,
    body: Vec<u8>,
    body_size: i64,
    client_addr: Option<String>,
    refused_reason: Option<String>,
    signature_verified: Option<bool>,
    signature_error: Option<String>,
    created_at: i64,
}

fn decode_request(r: RequestRow) -> Result<CapturedRequest> {
    let signature = match (r.signature_verified, r.signature_error) {
        (None, _) => None,
        (Some(true), _) => Some(SignatureCheck::Verified),
        (Some(false), why) => Some(SignatureCheck::Failed(why.unwrap_or_default())),
    };
    Ok(CapturedRequest {
        id: r.id,
        inbox_id: r.inbox_id,
        method: r.method,
        path: r.path,
        query: r.query,
        headers: from_json(&r.headers)?,
        body: r.body,
        body_size: r.body_size,
        client_addr: r.client_addr,
        refused: r.refused_reason,
        signature,
        created_at: r.created_at,
    })
}

/// Deletes an inbox's oldest requests beyond its cap (`$2`). The subquery finds the newest
/// request that no longer fits; it and everything older goes.
const TRIM: &str = "DELETE FROM inbox_requests WHERE inbox_id = $1 AND id <= \
     (SELECT id FROM inbox_requests WHERE inbox_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)";

impl Store {
    pub async fn create_inbox(&self, id: &InboxId, data: &InboxData) -> Result<Inbox> {
        let sql = format!(
            "INSERT INTO inboxes ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING {COLUMNS}"
        );
        let row: Row = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(id)
            .bind(&data.name)
            .bind(self.seal_opt(sealed::INBOX_SECRET, data.secret.as_deref()))
            .bind(&data.endpoint_id)
            .bind(i64::from(data.response.status))
            .bind(to_json(&data.response.headers))
            .bind(&data.response.body)
            .bind(data.response.delay_ms)
            .bind(data.max_requests)
            .bind(data.expires_at)
            .bind(now_ms())
            .fetch_one(p)
            .await?);
        decode(self, row)
    }

    /// An inbox that has not expired.
    pub async fn get_inbox(&self, id: &str) -> Result<Inbox> {
        let sql = format!("SELECT {COLUMNS} FROM inboxes WHERE id = $1 AND expires_at > $2");
        let row: Option<Row> = with_db!(self.reader(), p => sqlx::query_as(&sql)
            .bind(id)
            .bind(now_ms())
            .fetch_optional(p)
            .await?);
        decode(self, row.ok_or(StoreError::NotFound(Entity::Inbox))?)
    }

    /// Saves new fields; a lowered cap drops the oldest requests at once.
    pub async fn update_inbox(&self, id: &InboxId, data: &InboxData) -> Result<Inbox> {
        let sql = format!(
            "UPDATE inboxes SET name = $2, secret = $3, endpoint_id = $4, response_status = $5, \
             response_headers = $6, response_body = $7, response_delay_ms = $8, max_requests = $9, \
             expires_at = $10, updated_at = $11 WHERE id = $1 AND expires_at > $11 RETURNING {COLUMNS}"
        );
        let row: Option<Row> = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let row: Option<Row> = sqlx::query_as(&sql)
                .bind(id)
                .bind(&data.name)
                .bind(self.seal_opt(sealed::INBOX_SECRET, data.secret.as_deref()))
                .bind(&data.endpoint_id)
                .bind(i64::from(data.response.status))
                .bind(to_json(&data.response.headers))
                .bind(&data.response.body)
                .bind(data.response.delay_ms)
                .bind(data.max_requests)
                .bind(data.expires_at)
                .bind(now_ms())
                .fetch_optional(&mut *tx)
                .await?;
            sqlx::query(TRIM).bind(id).bind(data.max_requests).execute(&mut *tx).await?;
            tx.commit().await?;
            row
        });
        decode(self, row.ok_or(StoreError::NotFound(Entity::Inbox))?)
    }

    /// Deletes an inbox and its requests.
    pub async fn delete_inbox(&self, id: &InboxId) -> Result<()> {
        self.delete_by_id("inboxes", Entity::Inbox, id.as_str()).await
    }

    /// Inboxes that have not expired, newest first.
    pub async fn list_inboxes(&self, q: &ListQuery) -> Result<Page<Inbox>> {
        let (tail, cursor) = page_sql("id", q, 2, false);
        let sql = format!("SELECT {COLUMNS} FROM inboxes WHERE expires_at > $1{tail}");
        let rows: Vec<Row> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql).bind(now_ms());
            if let Some(c) = &cursor {
                query = query.bind(c);
            }
            query.fetch_all(p).await?
        });
        let inboxes = rows.into_iter().map(|r| decode(self, r)).collect::<Result<Vec<_>>>()?;
        Ok(finish_page(inboxes, q, |i| &i.id))
    }

    /// Deletes inboxes that expired at or before `now`, with their requests; returns how many.
    pub async fn delete_expired_inboxes(&self, now: i64) -> Result<u64> {
        let n = with_db!(self.writer(), p => sqlx::query("DELETE FROM inboxes WHERE expires_at <= $1")
            .bind(now)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n)
    }

    /// Stores a captured request and drops the inbox's oldest requests beyond its cap, in one
    /// transaction. `NotFound` when the inbox is gone or expired.
    pub async fn insert_inbox_request(&self, req: &CapturedRequest) -> Result<()> {
        // On PostgreSQL concurrent captures to one inbox queue on its row, so the cap is exact;
        // SQLite has a single writer anyway.
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let find = format!("SELECT max_requests FROM inboxes WHERE id = $1 AND expires_at > $2{lock}");
        let insert = format!(
            "INSERT INTO inbox_requests ({REQUEST_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        let (verified, why) = match &req.signature {
            None => (None, None),
            Some(SignatureCheck::Verified) => (Some(true), None),
            Some(SignatureCheck::Failed(why)) => (Some(false), Some(why.as_str())),
        };
        with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let cap: Option<(i64,)> = sqlx::query_as(&find)
                .bind(&req.inbox_id)
                .bind(req.created_at)
                .fetch_optional(&mut *tx)
                .await?;
            let (cap,) = cap.ok_or(StoreError::NotFound(Entity::Inbox))?;
            sqlx::query(&insert)
                .bind(&req.id)
                .bind(&req.inbox_id)
                .bind(&req.method)
                .bind(&req.path)
                .bind(&req.query)
                .bind(to_json(&req.headers))
                .bind(&req.body)
                .bind(req.body_size)
                .bind(&req.client_addr)
                .bind(&req.refused)
                .bind(verified)
                .bind(why)
                .bind(req.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(TRIM).bind(&req.inbox_id).bind(cap).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// An inbox's requests, newest first.
    pub async fn list_inbox_requests(&self, inbox_id: &InboxId, q: &ListQuery) -> Result<Page<CapturedRequest>> {
        let (tail, cursor) = page_sql("id", q, 2, false);
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM inbox_requests WHERE inbox_id = $1{tail}");
        let rows: Vec<RequestRow> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql).bind(inbox_id);
            if let Some(c) = &cursor {
                query = query.bind(c);
            }
            query.fetch_all(p).await?
        });
        let requests = rows.into_iter().map(decode_request).collect::<Result<Vec<_>>>()?;
        Ok(finish_page(requests, q, |r| &r.id))
    }

    /// Up to `limit` requests captured after the request `after`, oldest first: what a live
    /// view that last saw `after` has missed.
    pub async fn inbox_requests_after(
        &self,
        inbox_id: &InboxId,
        after: &str,
        limit: i64,
    ) -> Result<Vec<CapturedRequest>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM inbox_requests WHERE inbox_id = $1 AND id > $2 \
             ORDER BY id ASC LIMIT $3"
        );
        let rows: Vec<RequestRow> = with_db!(self.reader(), p => sqlx::query_as(&sql)
            .bind(inbox_id)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await?);
        rows.into_iter().map(decode_request).collect()
    }

    pub async fn get_inbox_request(&self, inbox_id: &InboxId, id: &str) -> Result<CapturedRequest> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM inbox_requests WHERE inbox_id = $1 AND id = $2");
        let row: Option<RequestRow> = with_db!(self.reader(), p => sqlx::query_as(&sql)
            .bind(inbox_id)
            .bind(id)
            .fetch_optional(p)
            .await?);
        decode_request(row.ok_or(StoreError::NotFound(Entity::InboxRequest))?)
    }

    pub async fn delete_inbox_request(&self, inbox_id: &InboxId, id: &InboxRequestId) -> Result<()> {
        let done = with_db!(self.writer(), p => sqlx::query(
            "DELETE FROM inbox_requests WHERE inbox_id = $1 AND id = $2",
        )
        .bind(inbox_id)
        .bind(id)
        .execute(p)
        .await?
        .rows_affected());
        crate::found(done, Entity::InboxRequest)
    }

    /// Deletes all of an inbox's requests; returns how many there were.
    pub async fn clear_inbox_requests(&self, inbox_id: &InboxId) -> Result<u64> {
        let n = with_db!(self.writer(), p => sqlx::query("DELETE FROM inbox_requests WHERE inbox_id = $1")
            .bind(inbox_id)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n)
    }
}
