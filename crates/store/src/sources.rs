//! Sources (receiving webhooks) and the requests they refused.
//!
//! A source owns an application, made in the same transaction and deleted with it (the
//! source row goes by `ON DELETE CASCADE`): what a source accepts is an ordinary message of
//! that application, so deliveries, retries, attempt logs, resend and recovery are the
//! engine's. The source's type settings hold the provider's secret and are sealed.

use hookd_core::time::now_ms;
use hookd_core::{ApplicationId, EndpointId, IngestLogId, SourceId};

use crate::{
    conflict_or, finish_page, found, from_json, page_sql, sealed, to_json, with_db, DeliveryState, DeliveryStatus,
    Entity, IngestRefusal, ListQuery, Page, Result, Source, SourceData, Store, StoreError,
};

const COLUMNS: &str = "id, uid, name, kind, config, metadata, token, app_id, allow_private, created_at, updated_at";

/// A source's row, by column name.
#[derive(sqlx::FromRow)]
struct Row {
    id: SourceId,
    uid: Option<String>,
    name: String,
    kind: String,
    config: String,
    metadata: String,
    token: String,
    app_id: ApplicationId,
    allow_private: bool,
    created_at: i64,
    updated_at: i64,
}

/// Refused requests kept per source, the newest: whoever holds a source's URL can send it
/// anything, and refusals must not fill the disk before retention deletes them.
pub const MAX_REFUSALS_PER_SOURCE: i64 = 1000;

/// Deletes a source's oldest refusals beyond the cap (`$2`).
const TRIM_REFUSALS: &str = "DELETE FROM ingest_refusals WHERE source_id = $1 AND id <= \
     (SELECT id FROM ingest_refusals WHERE source_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)";

const REFUSAL_COLUMNS: &str =
    "id, source_id, status_code, error_text, method, path, query, headers, payload, created_at";

/// A refused request's row, by column name.
#[derive(sqlx::FromRow)]
struct RefusalRow {
    id: IngestLogId,
    source_id: SourceId,
    status_code: i64,
    error_text: String,
    method: String,
    path: String,
    query: String,
    headers: String,
    payload: String,
    created_at: i64,
}

fn decode_refusal(r: RefusalRow) -> Result<IngestRefusal> {
    Ok(IngestRefusal {
        id: r.id,
        source_id: r.source_id,
        status_code: r.status_code,
        error_text: r.error_text,
        method: r.method,
        path: r.path,
        query: r.query,
        headers: from_json(&r.headers)?,
        payload: r.payload,
        created_at: r.created_at,
    })
}

fn uid_taken(data: &SourceData) -> String {
    format!("a source with uid '{}' already exists", data.uid.as_deref().unwrap_or_default())
}

/// The uid of a source's application: visible in the application list, and reserved.
fn source_app_uid(source_id: &SourceId) -> String {
    format!("hookd.source.{source_id}")
}

impl Store {
    fn decode_source(&self, r: Row) -> Result<Source> {
        Ok(Source {
            id: r.id,
            uid: r.uid,
            name: r.name,
            kind: r.kind,
            config: from_json(&self.open(sealed::SOURCE_CONFIG, &r.config)?)?,
            metadata: from_json(&r.metadata)?,
            token: r.token,
            app_id: r.app_id,
            allow_private: r.allow_private,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }

    /// Makes a source and its application (`app_id`) in one transaction.
    pub async fn create_source(
        &self,
        id: &SourceId,
        app_id: &ApplicationId,
        token: &str,
        data: &SourceData,
    ) -> Result<Source> {
        let now = now_ms();
        let sql = format!(
            "INSERT INTO sources ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {COLUMNS}"
        );
        let row: Row = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO applications (id, uid, name, metadata, throttle_rate, created_at, updated_at) \
                 VALUES ($1, $2, $3, '{}', NULL, $4, $4)",
            )
            .bind(app_id)
            .bind(source_app_uid(id))
            .bind(format!("source {}", data.name))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query_as(&sql)
                .bind(id)
                .bind(&data.uid)
                .bind(&data.name)
                .bind(&data.kind)
                .bind(self.seal(sealed::SOURCE_CONFIG, &to_json(&data.config)))
                .bind(to_json(&data.metadata))
                .bind(token)
                .bind(app_id)
                .bind(data.allow_private)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| conflict_or(e, || uid_taken(data)))?;
            tx.commit().await?;
            row
        });
        self.decode_source(row)
    }

    /// Finds a source by id or uid.
    pub async fn get_source(&self, id_or_uid: &str) -> Result<Source> {
        let sql = format!("SELECT {COLUMNS} FROM sources WHERE id = $1 OR uid = $1");
        let row: Option<Row> =
            with_db!(self.reader(), p => sqlx::query_as(&sql).bind(id_or_uid).fetch_optional(p).await?);
        self.decode_source(row.ok_or(StoreError::NotFound(Entity::Source))?)
    }

    /// The source whose URL carries `token`.
    pub async fn get_source_by_token(&self, token: &str) -> Result<Source> {
        let sql = format!("SELECT {COLUMNS} FROM sources WHERE token = $1");
        let row: Option<Row> = with_db!(self.reader(), p => sqlx::query_as(&sql).bind(token).fetch_optional(p).await?);
        self.decode_source(row.ok_or(StoreError::NotFound(Entity::Source))?)
    }

    /// Saves new fields; the source's endpoints take its `allow_private` in the same
    /// transaction.
    pub async fn update_source(&self, id: &SourceId, data: &SourceData) -> Result<Source> {
        let now = now_ms();
        let sql = format!(
            "UPDATE sources SET uid = $2, name = $3, kind = $4, config = $5, metadata = $6, allow_private = $7, \
             updated_at = $8 WHERE id = $1 RETURNING {COLUMNS}"
        );
        let (row, endpoints) = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let row: Option<Row> = sqlx::query_as(&sql)
                .bind(id)
                .bind(&data.uid)
                .bind(&data.name)
                .bind(&data.kind)
                .bind(self.seal(sealed::SOURCE_CONFIG, &to_json(&data.config)))
                .bind(to_json(&data.metadata))
                .bind(data.allow_private)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| conflict_or(e, || uid_taken(data)))?;
            let Some(row) = row else { return Err(StoreError::NotFound(Entity::Source)) };
            let endpoints: Vec<EndpointId> = sqlx::query_scalar(
                "UPDATE endpoints SET allow_private = $2 WHERE app_id = $1 AND allow_private <> $2 RETURNING id",
            )
            .bind(&row.app_id)
            .bind(data.allow_private)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query("UPDATE applications SET name = $2, updated_at = $3 WHERE id = $1")
                .bind(&row.app_id)
                .bind(format!("source {}", data.name))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            (row, endpoints)
        });
        self.announce_changed(&endpoints).await;
        self.decode_source(row)
    }

    /// Gives the source a new URL token; the old one stops working at once.
    pub async fn rotate_source_token(&self, id: &SourceId, token: &str) -> Result<Source> {
        let sql = format!("UPDATE sources SET token = $2, updated_at = $3 WHERE id = $1 RETURNING {COLUMNS}");
        let row: Option<Row> = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(id)
            .bind(token)
            .bind(now_ms())
            .fetch_optional(p)
            .await?);
        self.decode_source(row.ok_or(StoreError::NotFound(Entity::Source))?)
    }

    /// Deletes a source with its application: its endpoints, messages, attempts and refused
    /// requests go too.
    pub async fn delete_source(&self, id: &SourceId) -> Result<()> {
        let source = self.get_source(id.as_str()).await?;
        self.delete_application(&source.app_id).await
    }

    /// Sources, newest first.
    pub async fn list_sources(&self, q: &ListQuery) -> Result<Page<Source>> {
        let (tail, cursor) = page_sql("id", q, 1, false);
        let sql = format!("SELECT {COLUMNS} FROM sources WHERE 1 = 1{tail}");
        let rows: Vec<Row> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql);
            if let Some(c) = &cursor {
                query = query.bind(c);
            }
            query.fetch_all(p).await?
        });
        let sources = rows.into_iter().map(|r| self.decode_source(r)).collect::<Result<Vec<_>>>()?;
        Ok(finish_page(sources, q, |s| &s.id))
    }

    /// Keeps a refused request, and drops the source's oldest beyond
    /// [`MAX_REFUSALS_PER_SOURCE`], in one transaction.
    pub async fn insert_ingest_refusal(&self, r: &IngestRefusal) -> Result<()> {
        let sql =
            format!("INSERT INTO ingest_refusals ({REFUSAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        // On PostgreSQL concurrent refusals of one source queue on its row, so the cap is
        // exact; SQLite has a single writer anyway.
        let lock = match self.backend() {
            crate::Backend::Postgres => " FOR UPDATE",
            crate::Backend::Sqlite => "",
        };
        let find = format!("SELECT id FROM sources WHERE id = $1{lock}");
        let done: Result<u64> = with_db!(self.writer(), p => async {
            let mut tx = p.begin().await?;
            let found: Option<(String,)> = sqlx::query_as(&find).bind(&r.source_id).fetch_optional(&mut *tx).await?;
            if found.is_none() {
                return Ok(0);
            }
            let n = sqlx::query(&sql)
                .bind(&r.id)
                .bind(&r.source_id)
                .bind(r.status_code)
                .bind(&r.error_text)
                .bind(&r.method)
                .bind(&r.path)
                .bind(&r.query)
                .bind(to_json(&r.headers))
                .bind(&r.payload)
                .bind(r.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(TRIM_REFUSALS).bind(&r.source_id).bind(MAX_REFUSALS_PER_SOURCE).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n)
        }
        .await);
        match done {
            Ok(n) => found(n, Entity::Source),
            // The source went meanwhile.
            Err(e) if crate::is_foreign_key_violation(&e) => Err(StoreError::NotFound(Entity::Source)),
            Err(e) => Err(e),
        }
    }

    /// A source's refused requests, newest first.
    pub async fn list_ingest_refusals(&self, source_id: &SourceId, q: &ListQuery) -> Result<Page<IngestRefusal>> {
        let (tail, cursor) = page_sql("id", q, 2, false);
        let sql = format!("SELECT {REFUSAL_COLUMNS} FROM ingest_refusals WHERE source_id = $1{tail}");
        let rows: Vec<RefusalRow> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql).bind(source_id);
            if let Some(c) = &cursor {
                query = query.bind(c);
            }
            query.fetch_all(p).await?
        });
        let refusals = rows.into_iter().map(decode_refusal).collect::<Result<Vec<_>>>()?;
        Ok(finish_page(refusals, q, |r| &r.id))
    }

    /// Deletes refused requests kept since before `before` (ms); returns how many.
    pub async fn delete_ingest_refusals_before(&self, before: i64) -> Result<u64> {
        let n = with_db!(self.writer(), p => sqlx::query("DELETE FROM ingest_refusals WHERE created_at < $1")
            .bind(before)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n)
    }

    /// The deliveries of these messages, by message then endpoint.
    pub async fn delivery_states(&self, msg_ids: &[&str]) -> Result<Vec<DeliveryState>> {
        if msg_ids.is_empty() {
            return Ok(vec![]);
        }
        self.settle(crate::backlog::Scope::Messages(msg_ids)).await?;
        let mut params = crate::Params::new(self.backend());
        let list: Vec<String> = msg_ids.iter().map(|_| params.next()).collect();
        let sql = format!(
            "SELECT msg_id, endpoint_id, status, attempts FROM deliveries WHERE msg_id IN ({}) \
             ORDER BY msg_id, endpoint_id",
            list.join(", ")
        );
        let rows: Vec<(hookd_core::MessageId, hookd_core::EndpointId, i64, i64)> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql);
            for id in msg_ids {
                query = query.bind(*id);
            }
            query.fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(|(msg_id, endpoint_id, status, attempts)| DeliveryState {
                msg_id,
                endpoint_id,
                status: DeliveryStatus::from_code(status),
                attempts,
            })
            .collect())
    }
}
