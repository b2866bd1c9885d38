//! Messages and their attempts. Publishing writes the message and one delivery per matching
//! endpoint in a single transaction: when it commits, the deliveries are durable.

use hookd_core::{ApplicationId, AttemptId, EndpointId, MessageId};

use crate::backlog::Scope;
use crate::filter::{bind_all, Conditions, Value};
use crate::{
    finish_page, from_json_opt, page_sql, with_db, Attempt, AttemptFilter, DeliveryFilter, DeliveryStatus, Destination,
    EndpointMessage, Entity, ListQuery, Message, MessageFilter, Page, Result, Store, StoreError, TriggerType,
};

/// The columns a publish writes, in its order.
pub(crate) const INSERT_COLUMNS: &str =
    "id, app_id, event_type, event_id, payload, channels, created_at, tags, content_type, deliver_at, payload_expires_at, request";
pub(crate) const COLUMNS: &str =
    "id, app_id, event_type, event_id, payload, channels, created_at, tags, content_type, \
     deliver_at, payload_expires_at, expunged_at, request";
/// A message's row, by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: MessageId,
    app_id: ApplicationId,
    event_type: String,
    event_id: Option<String>,
    payload: String,
    channels: Option<String>,
    created_at: i64,
    tags: Option<String>,
    content_type: Option<String>,
    deliver_at: Option<i64>,
    payload_expires_at: Option<i64>,
    expunged_at: Option<i64>,
    request: Option<String>,
}

/// A message's row, then its delivery's status and due time.
#[derive(sqlx::FromRow)]
struct EndpointMessageRow {
    #[sqlx(flatten)]
    message: Row,
    status: i64,
    next_attempt_at: Option<i64>,
}

pub(crate) fn decode(r: Row) -> Result<Message> {
    Ok(Message {
        id: r.id,
        app_id: r.app_id,
        event_type: r.event_type,
        event_id: r.event_id,
        payload: r.payload,
        channels: from_json_opt(r.channels)?,
        created_at: r.created_at,
        tags: from_json_opt(r.tags)?,
        content_type: r.content_type,
        deliver_at: r.deliver_at,
        payload_expires_at: r.payload_expires_at,
        expunged_at: r.expunged_at,
        request: from_json_opt(r.request)?,
    })
}

pub(crate) const ATTEMPT_COLUMNS: &str = "id, msg_id, endpoint_id, app_id, url, status, response_status_code, \
     response, duration_ms, trigger_type, error, created_at";
/// An attempt's row, by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    id: AttemptId,
    msg_id: MessageId,
    endpoint_id: EndpointId,
    app_id: ApplicationId,
    url: String,
    status: i64,
    response_status_code: i64,
    response: String,
    duration_ms: i64,
    trigger_type: i64,
    error: Option<String>,
    created_at: i64,
}

pub(crate) fn decode_attempt(r: AttemptRow) -> Attempt {
    Attempt {
        id: r.id,
        msg_id: r.msg_id,
        endpoint_id: r.endpoint_id,
        app_id: r.app_id,
        url: r.url,
        status: DeliveryStatus::from_code(r.status),
        response_status_code: r.response_status_code,
        response: r.response,
        duration_ms: r.duration_ms,
        trigger_type: TriggerType::from_code(r.trigger_type),
        error: r.error,
        created_at: r.created_at,
    }
}

impl Store {
    /// Finds a message of an application by id or eventId.
    pub async fn get_message(&self, app_id: &ApplicationId, id_or_event_id: &str) -> Result<Message> {
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE app_id = $1 AND (id = $2 OR event_id = $2)");
        let row: Option<Row> = with_db!(self.reader(), p => sqlx::query_as(&sql).bind(app_id).bind(id_or_event_id).fetch_optional(p).await?);
        decode(row.ok_or(StoreError::NotFound(Entity::Message))?)
    }

    /// The application's messages with these ids (those that exist), in one query: what a
    /// page of attempts listed `with_msg` needs.
    pub async fn get_messages(&self, app_id: &ApplicationId, ids: &[&str]) -> Result<Vec<Message>> {
        let mut messages = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(250) {
            let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT {COLUMNS} FROM messages WHERE app_id = $1 AND id IN ({})", list.join(", "));
            let rows: Vec<Row> = with_db!(self.reader(), p => {
                let mut query = sqlx::query_as(&sql).bind(app_id);
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(p).await?
            });
            for row in rows {
                messages.push(decode(row)?);
            }
        }
        Ok(messages)
    }

    pub async fn list_messages(
        &self,
        app_id: &ApplicationId,
        filter: &MessageFilter,
        q: &ListQuery,
    ) -> Result<Page<Message>> {
        let mut c = Conditions::new("app_id = $?", Value::Text(app_id.to_string()));
        filter.add_to(&mut c, "messages", "created_at");
        let (tail, cursor) = page_sql("id", q, c.next_param(), false);
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE {}{tail}", c.sql());
        let rows: Vec<Row> =
            with_db!(self.reader(), p => bind_all!(sqlx::query_as(&sql), c, &cursor).fetch_all(p).await?);
        let messages = rows.into_iter().map(decode).collect::<Result<Vec<_>>>()?;
        Ok(finish_page(messages, q, |m| &m.id))
    }

    /// Attempts of one message (optionally of one endpoint), newest first.
    pub async fn list_attempts_by_message(
        &self,
        msg_id: &MessageId,
        endpoint_id: Option<&EndpointId>,
        filter: &AttemptFilter,
        q: &ListQuery,
    ) -> Result<Page<Attempt>> {
        let mut c = Conditions::new("a.msg_id = $?", Value::Text(msg_id.to_string()));
        if let Some(endpoint_id) = endpoint_id {
            c.and("a.endpoint_id = $?", Value::Text(endpoint_id.to_string()));
        }
        self.list_attempts(c, filter, q).await
    }

    /// Attempts made to one endpoint, newest first.
    pub async fn list_attempts_by_endpoint(
        &self,
        endpoint_id: &EndpointId,
        filter: &AttemptFilter,
        q: &ListQuery,
    ) -> Result<Page<Attempt>> {
        self.list_attempts(Conditions::new("a.endpoint_id = $?", Value::Text(endpoint_id.to_string())), filter, q).await
    }

    async fn list_attempts(&self, mut c: Conditions, filter: &AttemptFilter, q: &ListQuery) -> Result<Page<Attempt>> {
        if let Some(status) = filter.status {
            c.and("a.status = $?", Value::Int(status.code()));
        }
        match filter.status_code_class {
            None => {}
            Some(0) => c.and_sql("a.response_status_code = 0"),
            Some(class) => {
                c.and("a.response_status_code >= $?", Value::Int(class));
                c.and("a.response_status_code < $?", Value::Int(class + 100));
            }
        }
        filter.message.add_to(&mut c, "m", "a.created_at");
        let join = if filter.message.on_message() { " JOIN messages m ON m.id = a.msg_id" } else { "" };
        let (tail, cursor) = page_sql("a.id", q, c.next_param(), false);
        let columns = ATTEMPT_COLUMNS.split(", ").map(|col| format!("a.{}", col.trim())).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT {columns} FROM attempts a{join} WHERE {}{tail}", c.sql());
        let rows: Vec<AttemptRow> =
            with_db!(self.reader(), p => bind_all!(sqlx::query_as(&sql), c, &cursor).fetch_all(p).await?);
        let attempts = rows.into_iter().map(decode_attempt).collect();
        Ok(finish_page(attempts, q, |a| &a.id))
    }

    /// The messages routed to an endpoint, each with its delivery's state, newest first.
    pub async fn list_endpoint_messages(
        &self,
        endpoint_id: &EndpointId,
        filter: &DeliveryFilter,
        q: &ListQuery,
    ) -> Result<Page<EndpointMessage>> {
        self.settle(Scope::Endpoint(endpoint_id.as_str())).await?;
        let mut c = Conditions::new("d.endpoint_id = $?", Value::Text(endpoint_id.to_string()));
        if let Some(status) = filter.status {
            c.and("d.status = $?", Value::Int(status.code()));
        }
        filter.message.add_to(&mut c, "m", "m.created_at");
        let (tail, cursor) = page_sql("d.msg_id", q, c.next_param(), false);
        let columns = COLUMNS.split(", ").map(|col| format!("m.{}", col.trim())).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, d.status, d.next_attempt_at FROM deliveries d JOIN messages m ON m.id = d.msg_id \
             WHERE {}{tail}",
            c.sql()
        );
        let rows: Vec<EndpointMessageRow> =
            with_db!(self.reader(), p => bind_all!(sqlx::query_as(&sql), c, &cursor).fetch_all(p).await?);
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let message = decode(r.message)?;
            out.push(EndpointMessage {
                message,
                status: DeliveryStatus::from_code(r.status),
                next_attempt_at: r.next_attempt_at,
            });
        }
        Ok(finish_page(out, q, |e| &e.message.id))
    }

    pub async fn get_attempt(&self, msg_id: &MessageId, attempt_id: &str) -> Result<Attempt> {
        let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE msg_id = $1 AND id = $2");
        let row: Option<AttemptRow> =
            with_db!(self.reader(), p => sqlx::query_as(&sql).bind(msg_id).bind(attempt_id).fetch_optional(p).await?);
        Ok(decode_attempt(row.ok_or(StoreError::NotFound(Entity::Attempt))?))
    }

    /// The endpoints a message was routed to, with each delivery's state, newest endpoint first.
    pub async fn list_destinations(&self, msg_id: &MessageId, q: &ListQuery) -> Result<Page<Destination>> {
        self.settle(Scope::Messages(&[msg_id.as_str()])).await?;
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

    /// Expunges a message's payload: the message, its deliveries and attempts stay; its
    /// deliveries still pending are canceled (nothing is left to send), and it can no longer
    /// be resent. An attempt already under way completes. Returns whether it was expunged
    /// now (false: it already was).
    pub async fn expunge_message_content(&self, msg_id: &MessageId) -> Result<bool> {
        self.expunge_payloads("id = $1", Value::Text(msg_id.to_string())).await.map(|n| n > 0)
    }

    /// Expunges the payloads whose retention ran out by `now` (ms); returns how many.
    pub async fn expunge_expired_payloads(&self, now: i64) -> Result<u64> {
        self.expunge_payloads("payload_expires_at <= $1", Value::Int(now)).await
    }

    /// Expunges the payloads of the messages `condition` (on `$1`) selects, in one
    /// transaction with the cancellation of their pending deliveries.
    async fn expunge_payloads(&self, condition: &str, value: Value) -> Result<u64> {
        let now = hookd_core::time::now_ms();
        let selected = format!("{condition} AND expunged_at IS NULL");
        let cancel = format!(
            "UPDATE deliveries SET {canceled}, next_attempt_at = NULL, lease_token = NULL, updated_at = $2 \
             WHERE {unfinished} AND msg_id IN (SELECT id FROM messages WHERE {selected})",
            canceled = crate::queue::state::is(DeliveryStatus::Canceled),
            unfinished = *crate::queue::state::UNFINISHED,
        );
        let expunge = format!("UPDATE messages SET payload = '', expunged_at = $2 WHERE {selected}");
        let expunged = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let (a, b) = match &value {
                Value::Text(s) => (
                    sqlx::query(&cancel).bind(s.as_str()).bind(now),
                    sqlx::query(&expunge).bind(s.as_str()).bind(now),
                ),
                Value::Int(i) => (sqlx::query(&cancel).bind(*i).bind(now), sqlx::query(&expunge).bind(*i).bind(now)),
            };
            a.execute(&mut *tx).await?;
            let n = b.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            n
        });
        Ok(expunged)
    }

    /// Expunges the response body stored with an attempt.
    pub async fn expunge_attempt_content(&self, msg_id: &MessageId, attempt_id: &str) -> Result<()> {
        let done = with_db!(self.writer(), p => sqlx::query(
            "UPDATE attempts SET response = '' WHERE msg_id = $1 AND id = $2",
        )
        .bind(msg_id)
        .bind(attempt_id)
        .execute(p)
        .await?
        .rows_affected());
        crate::found(done, Entity::Attempt)
    }
}
