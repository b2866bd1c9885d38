//! Applications.

use hookd_core::time::now_ms;
use hookd_core::{ApplicationId, EndpointId};

use crate::filter::{bind_all, Conditions};
use crate::Entity;
use crate::{
    conflict_or, finish_page, from_json, page_sql, to_json, with_db, Application, ApplicationData, ApplicationFilter,
    ListQuery, Page, Result, Store, StoreError,
};

const COLUMNS: &str = "id, uid, name, metadata, throttle_rate, created_at, updated_at";
/// An application's row, by column name.
#[derive(sqlx::FromRow)]
struct Row {
    id: ApplicationId,
    uid: Option<String>,
    name: String,
    metadata: String,
    throttle_rate: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

fn decode(r: Row) -> Result<Application> {
    Ok(Application {
        id: r.id,
        uid: r.uid,
        name: r.name,
        metadata: from_json(&r.metadata)?,
        throttle_rate: r.throttle_rate,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn uid_taken(uid: &Option<String>) -> String {
    format!("an application with uid '{}' already exists", uid.as_deref().unwrap_or_default())
}

impl Store {
    pub async fn create_application(&self, id: &ApplicationId, data: &ApplicationData) -> Result<Application> {
        let now = now_ms();
        let sql =
            format!("INSERT INTO applications ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}");
        let row: Row = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(id)
            .bind(&data.uid)
            .bind(&data.name)
            .bind(to_json(&data.metadata))
            .bind(data.throttle_rate)
            .bind(now)
            .fetch_one(p)
            .await
            .map_err(|e| conflict_or(e, || uid_taken(&data.uid)))?);
        decode(row)
    }

    /// Finds an application by id or uid.
    pub async fn get_application(&self, id_or_uid: &str) -> Result<Application> {
        let sql = format!("SELECT {COLUMNS} FROM applications WHERE id = $1 OR uid = $1");
        let row: Option<Row> =
            with_db!(self.reader(), p => sqlx::query_as(&sql).bind(id_or_uid).fetch_optional(p).await?);
        decode(row.ok_or(StoreError::NotFound(Entity::Application))?)
    }

    pub async fn update_application(&self, id: &ApplicationId, data: &ApplicationData) -> Result<Application> {
        let sql = format!(
            "UPDATE applications SET uid = $2, name = $3, metadata = $4, throttle_rate = $5, updated_at = $6 \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row: Option<Row> = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(id)
            .bind(&data.uid)
            .bind(&data.name)
            .bind(to_json(&data.metadata))
            .bind(data.throttle_rate)
            .bind(now_ms())
            .fetch_optional(p)
            .await
            .map_err(|e| conflict_or(e, || uid_taken(&data.uid)))?);
        let updated = decode(row.ok_or(StoreError::NotFound(Entity::Application))?)?;
        // Its endpoints' lanes keep its rate limit and uid.
        self.announce_changed(&self.application_endpoint_ids(id).await?).await;
        Ok(updated)
    }

    /// Deletes an application with its endpoints, messages and attempts.
    pub async fn delete_application(&self, id: &ApplicationId) -> Result<()> {
        let endpoints = self.delete_application_rows(id).await?;
        self.announce_changed(&endpoints).await;
        Ok(())
    }

    async fn application_endpoint_ids(&self, id: &ApplicationId) -> Result<Vec<EndpointId>> {
        let sql = "SELECT id FROM endpoints WHERE app_id = $1";
        Ok(with_db!(self.reader(), p => sqlx::query_scalar(sql).bind(id).fetch_all(p).await?))
    }

    /// Lists applications, newest first, as `filter` asks.
    pub async fn list_applications(&self, q: &ListQuery, filter: &ApplicationFilter) -> Result<Page<Application>> {
        let mut c = Conditions::all();
        let endpoints = "SELECT 1 FROM endpoints e WHERE e.app_id = applications.id";
        if filter.exclude_without_endpoints {
            c.and_sql(&format!("EXISTS ({endpoints})"));
        }
        if filter.exclude_only_disabled {
            c.and_sql(&format!("NOT (EXISTS ({endpoints}) AND NOT EXISTS ({endpoints} AND NOT e.disabled))"));
        }
        let (tail, cursor) = page_sql("id", q, c.next_param(), false);
        let sql = format!("SELECT {COLUMNS} FROM applications WHERE {}{tail}", c.sql());
        let rows: Vec<Row> =
            with_db!(self.reader(), p => bind_all!(sqlx::query_as(&sql), c, &cursor).fetch_all(p).await?);
        let apps = rows.into_iter().map(decode).collect::<Result<Vec<_>>>()?;
        Ok(finish_page(apps, q, |a| &a.id))
    }
}
