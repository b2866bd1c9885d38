//! Event types: the catalogue of what applications can subscribe to.

use hookd_core::time::now_ms;

use crate::Entity;
use crate::{
    conflict_or, finish_page, from_json_opt, page_sql, with_db, EventType, EventTypeData, ListQuery, Page, Result,
    Store, StoreError,
};

const COLUMNS: &str =
    "name, description, schemas, archived, deprecated, feature_flag, feature_flags, group_name, created_at, updated_at";
/// An event type's row, by column name.
#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    description: String,
    schemas: Option<String>,
    archived: bool,
    deprecated: bool,
    feature_flag: Option<String>,
    feature_flags: Option<String>,
    group_name: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn decode(r: Row) -> Result<EventType> {
    Ok(EventType {
        name: r.name,
        description: r.description,
        schemas: from_json_opt(r.schemas)?,
        archived: r.archived,
        deprecated: r.deprecated,
        feature_flag: r.feature_flag,
        feature_flags: from_json_opt(r.feature_flags)?,
        group_name: r.group_name,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

impl Store {
    pub async fn create_event_type(&self, name: &str, data: &EventTypeData) -> Result<EventType> {
        let sql = format!(
            "INSERT INTO event_types ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {COLUMNS}"
        );
        let row: Row = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(name)
            .bind(&data.description)
            .bind(data.schemas.as_ref().map(|s| s.to_string()))
            .bind(data.archived)
            .bind(data.deprecated)
            .bind(&data.feature_flag)
            .bind(data.feature_flags.as_ref().map(crate::to_json))
            .bind(&data.group_name)
            .bind(now_ms())
            .fetch_one(p)
            .await
            .map_err(|e| conflict_or(e, || format!("event type '{name}' already exists")))?);
        decode(row)
    }

    pub async fn get_event_type(&self, name: &str) -> Result<EventType> {
        let sql = format!("SELECT {COLUMNS} FROM event_types WHERE name = $1");
        let row: Option<Row> = with_db!(self.reader(), p => sqlx::query_as(&sql).bind(name).fetch_optional(p).await?);
        decode(row.ok_or(StoreError::NotFound(Entity::EventType))?)
    }

    pub async fn update_event_type(&self, name: &str, data: &EventTypeData) -> Result<EventType> {
        let sql = format!(
            "UPDATE event_types SET description = $2, schemas = $3, archived = $4, deprecated = $5, \
             feature_flag = $6, feature_flags = $7, group_name = $8, updated_at = $9 WHERE name = $1 \
             RETURNING {COLUMNS}"
        );
        let row: Option<Row> = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(name)
            .bind(&data.description)
            .bind(data.schemas.as_ref().map(|s| s.to_string()))
            .bind(data.archived)
            .bind(data.deprecated)
            .bind(&data.feature_flag)
            .bind(data.feature_flags.as_ref().map(crate::to_json))
            .bind(&data.group_name)
            .bind(now_ms())
            .fetch_optional(p)
            .await?);
        decode(row.ok_or(StoreError::NotFound(Entity::EventType))?)
    }

    /// Lists event types by name; archived ones only when asked for.
    pub async fn list_event_types(&self, q: &ListQuery, include_archived: bool) -> Result<Page<EventType>> {
        let (tail, cursor) = page_sql("name", q, 2, true);
        let sql = format!("SELECT {COLUMNS} FROM event_types WHERE ($1 OR NOT archived){tail}");
        let rows: Vec<Row> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql).bind(include_archived);
            if let Some(c) = &cursor {
                query = query.bind(c);
            }
            query.fetch_all(p).await?
        });
        let types = rows.into_iter().map(decode).collect::<Result<Vec<_>>>()?;
        Ok(finish_page(types, q, |t| &t.name))
    }

    /// The subset of `names` that exist and are not archived.
    pub async fn existing_event_types(&self, names: &[String]) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for name in names {
            let row: Option<(String,)> = with_db!(self.reader(), p => sqlx::query_as(
                "SELECT name FROM event_types WHERE name = $1 AND NOT archived",
            )
            .bind(name)
            .fetch_optional(p)
            .await?);
            found.extend(row.map(|r| r.0));
        }
        Ok(found)
    }

    /// Deletes an event type for good (`expunge`); endpoints that named it keep the name.
    pub async fn delete_event_type(&self, name: &str) -> Result<()> {
        let done = with_db!(self.writer(), p => sqlx::query("DELETE FROM event_types WHERE name = $1")
            .bind(name)
            .execute(p)
            .await?
            .rows_affected());
        crate::found(done, Entity::EventType)
    }

    /// An event type's own retry schedule, in milliseconds (`None`: the server's applies).
    pub async fn event_type_retry_schedule(&self, name: &str) -> Result<Option<Vec<i64>>> {
        let row: Option<(Option<String>,)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT retry_schedule FROM event_types WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(p)
        .await?);
        from_json_opt(row.ok_or(StoreError::NotFound(Entity::EventType))?.0)
    }

    /// Sets (or, with `None`, removes) an event type's own retry schedule, in milliseconds.
    pub async fn set_event_type_retry_schedule(&self, name: &str, delays_ms: Option<&[i64]>) -> Result<()> {
        let done = with_db!(self.writer(), p => sqlx::query(
            "UPDATE event_types SET retry_schedule = $2, updated_at = $3 WHERE name = $1",
        )
        .bind(name)
        .bind(delays_ms.map(|d| crate::to_json(&d)))
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
        crate::found(done, Entity::EventType)
    }
}
