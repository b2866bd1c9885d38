//! Messages and their attempts. Publishing writes the message and one delivery per matching
//! endpoint in a single transaction: when it commits, the deliveries are durable.

use crate::Entity;
use crate::{
    finish_page, from_json_opt, page_sql, with_db, Attempt, DeliveryStatus, Destination, ListQuery, Message, Page,
    Result, Store, StoreError, TriggerType,
};

pub(crate) const COLUMNS: &str = "id, app_id, event_type, event_id, payload, channels, created_at";
pub(crate) type Row = (String, String, String, Option<String>, String, Option<String>, i64);

pub(crate) fn decode(r: Row) -> Result<Message> {
    Ok(Message {
        id: r.0,
        app_id: r.1,
        event_type: r.2,
        event_id: r.3,
        payload: r.4,
        channels: from_json_opt(r.5)?,
        created_at: r.6,
    })
}

pub(crate) const ATTEMPT_COLUMNS: &str = "id, msg_id, endpoint_id, app_id, url, status, response_status_code, \
     response, duration_ms, trigger_type, error, created_at";
pub(crate) type AttemptRow = (String, String, String, String, String, i64, i64, String, i64, i64, Option<String>, i64);

pub(crate) fn decode_attempt(r: AttemptRow) -> Attempt {
    Attempt {
        id: r.0,
        msg_id: r.1,
        endpoint_id: r.2,
        app_id: r.3,
        url: r.4,
        status: DeliveryStatus::from_code(r.5),
        response_status_code: r.6,
        response: r.7,
        duration_ms: r.8,
        trigger_type: TriggerType::from_code(r.9),
        error: r.10,
        created_at: r.11,
    }
}

/// Filters for listing messages.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub event_types: Option<Vec<String>>,
    pub channel: Option<String>,
    /// Only messages created before / after these times (ms).
    pub before: Option<i64>,
    pub after: Option<i64>,
}

impl Store {
    /// Finds a message of an application by id or eventId.
    pub async fn get_message(&self, app_id: &str, id_or_event_id: &str) -> Result<Message> {
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE app_id = $1 AND (id = $2 OR event_id = $2)");
        let row: Option<Row> = with_db!(self.reader(), p => sqlx::query_as(&sql).bind(app_id).bind(id_or_event_id).fetch_optional(p).await?);
        decode(row.ok_or(StoreError::NotFound(Entity::Message))?)
    }

    pub async fn list_messages(&self, app_id: &str, filter: &MessageFilter, q: &ListQuery) -> Result<Page<Message>> {
        let (tail, cursor) = page_sql("id", q, 5, false);
        let sql = format!(
            "SELECT {COLUMNS} FROM messages WHERE app_id = $1 \
             AND ($2 IS NULL OR created_at < $2) AND ($3 IS NULL OR created_at > $3) \
             AND ($4 IS NULL OR channels LIKE $4){tail}"
        );
        // Channels are a JSON array of names that cannot contain quotes, so a quoted LIKE
        // pattern matches exactly one element.
        let channel_pattern = filter.channel.as_ref().map(|c| format!("%\"{c}\"%"));
        let rows: Vec<Row> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql).bind(app_id).bind(filter.before).bind(filter.after).bind(&channel_pattern);
            if let Some(c) = &cursor {
                query = query.bind(c);
            }
            query.fetch_all(p).await?
        });
        let mut messages = rows.into_iter().map(decode).collect::<Result<Vec<_>>>()?;
        if let Some(types) = &filter.event_types {
            messages.retain(|m| types.contains(&m.event_type));
        }
        Ok(finish_page(messages, q, |m| &m.id))
    }

    /// Attempts of one message (optionally of one endpoint), newest first.
    pub async fn list_attempts_by_message(
        &self,
        msg_id: &str,
        endpoint_id: Option<&str>,
        q: &ListQuery,
    ) -> Result<Page<Attempt>> {
        self.list_attempts("msg_id", msg_id, endpoint_id.map(|e| ("endpoint_id", e)), q).await
    }

    /// Attempts made to one endpoint, newest first.
    pub async fn list_attempts_by_endpoint(&self, endpoint_id: &str, q: &ListQuery) -> Result<Page<Attempt>> {
        self.list_attempts("endpoint_id", endpoint_id, None, q).await
    }

    async fn list_attempts(
        &self,
        col: &str,
        value: &str,
        also: Option<(&str, &str)>,
        q: &ListQuery,
    ) -> Result<Page<Attempt>> {
        let (tail, cursor) = page_sql("id", q, 3, false);
        let also_col = also.map(|a| a.0).unwrap_or(col);
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE {col} = $1 AND ($2 IS NULL OR {also_col} = $2){tail}"
        );
        let rows: Vec<AttemptRow> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql).bind(value).bind(also.map(|a| a.1));
            if let Some(c) = &cursor {
                query = query.bind(c);
            }
            query.fetch_all(p).await?
        });
        let attempts = rows.into_iter().map(decode_attempt).collect();
        Ok(finish_page(attempts, q, |a| &a.id))
    }

    pub async fn get_attempt(&self, msg_id: &str, attempt_id: &str) -> Result<Attempt> {
        let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE msg_id = $1 AND id = $2");
        let row: Option<AttemptRow> =
            with_db!(self.reader(), p => sqlx::query_as(&sql).bind(msg_id).bind(attempt_id).fetch_optional(p).await?);
        Ok(decode_attempt(row.ok_or(StoreError::NotFound(Entity::Attempt))?))
    }

    /// The endpoints a message was routed to, with each delivery's state, newest endpoint first.
    pub async fn list_destinations(&self, msg_id: &str, q: &ListQuery) -> Result<Page<Destination>> {
        let (tail, cursor) = page_sql("endpoint_id", q, 2, false);
        let sql = format!("SELECT endpoint_id, status, next_attempt_at FROM deliveries WHERE msg_id = $1{tail}");
        let rows: Vec<(String, i64, Option<i64>)> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql).bind(msg_id);
            if let Some(c) = &cursor {
                query = query.bind(c);
            }
            query.fetch_all(p).await?
        });
        let mut destinations = Vec::with_capacity(rows.len());
        for (endpoint_id, status, next) in rows {
            destinations.push(Destination {
                endpoint: self.get_endpoint_by_id(&endpoint_id).await?,
                status: DeliveryStatus::from_code(status),
                next_attempt_at: next,
            });
        }
        Ok(finish_page(destinations, q, |d| &d.endpoint.id))
    }
}
