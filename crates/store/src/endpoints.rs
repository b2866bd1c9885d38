//! Endpoints and their secrets.

use hookd_core::endpoint_auth::{MtlsConfig, OAuthConfig};
use hookd_core::id::{min_body_at, MessageId};
use hookd_core::time::now_ms;
use hookd_core::{ApplicationId, EndpointId};

use crate::backlog::Scope;
use crate::integrity::lock_app_of_endpoint_sql;
use crate::{
    conflict_or, finish_page, found, from_json, from_json_opt, page_sql, to_json, with_db, Endpoint, EndpointData,
    EndpointStats, ListQuery, OldSecret, Page, Result, Store, StoreError, Transformation,
};
use crate::{sealed, DeliveryStatus, Entity};

/// The span of one count of filtered messages (`endpoint_filtered.hour` is an hour number
/// since the epoch).
pub(crate) const HOUR_MS: i64 = 3_600_000;

pub(crate) const COLUMNS: &str = "id, app_id, uid, url, description, event_types, channels, disabled, metadata, \
     throttle_rate, fifo, headers, secret, old_secrets, created_at, updated_at, request_timeout_ms, filter, oauth, mtls, transformation, allow_private";

/// An endpoint's row, by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: EndpointId,
    app_id: ApplicationId,
    uid: Option<String>,
    url: String,
    description: String,
    event_types: Option<String>,
    channels: Option<String>,
    disabled: bool,
    metadata: String,
    throttle_rate: Option<i64>,
    fifo: bool,
    headers: String,
    secret: String,
    old_secrets: String,
    created_at: i64,
    updated_at: i64,
    request_timeout_ms: Option<i64>,
    filter: Option<String>,
    oauth: Option<String>,
    mtls: Option<String>,
    transformation: Option<String>,
    allow_private: bool,
}

/// An endpoint's row with its application's columns that its lane needs.
#[derive(sqlx::FromRow)]
struct LaneRow {
    #[sqlx(flatten)]
    endpoint: Row,
    app_throttle_rate: Option<i64>,
    app_uid: Option<String>,
}

/// An endpoint as its lane reads it ([`Store::get_endpoint_for_lane`]).
pub struct LaneEndpoint {
    pub endpoint: Endpoint,
    /// The application's rate limit, which applies where the endpoint has none.
    pub app_throttle_rate: Option<i64>,
    /// The application's uid, named in operational events.
    pub app_uid: Option<String>,
}

impl Store {
    /// An endpoint from its row, its secrets opened.
    pub(crate) fn decode_endpoint(&self, r: Row) -> Result<Endpoint> {
        let old_secrets = self.open(sealed::ENDPOINT_OLD_SECRETS, &r.old_secrets)?;
        Ok(Endpoint {
            id: r.id,
            app_id: r.app_id,
            uid: r.uid,
            url: r.url,
            description: r.description,
            event_types: from_json_opt(r.event_types)?,
            channels: from_json_opt(r.channels)?,
            disabled: r.disabled,
            metadata: from_json(&r.metadata)?,
            throttle_rate: r.throttle_rate,
            fifo: r.fifo,
            headers: from_json(&r.headers)?,
            secret: self.open(sealed::ENDPOINT_SECRET, &r.secret)?,
            old_secrets: from_json(&old_secrets)?,
            request_timeout_ms: r.request_timeout_ms,
            filter: r.filter,
            oauth: from_json_opt(self.open_opt(sealed::ENDPOINT_OAUTH, r.oauth)?)?,
            mtls: from_json_opt(self.open_opt(sealed::ENDPOINT_MTLS, r.mtls)?)?,
            transformation: from_json_opt(r.transformation)?,
            allow_private: r.allow_private,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn uid_taken(data: &EndpointData) -> String {
    format!("an endpoint with uid '{}' already exists in this application", data.uid.as_deref().unwrap_or_default())
}

impl Store {
    pub async fn create_endpoint(
        &self,
        app_id: &ApplicationId,
        id: &EndpointId,
        data: &EndpointData,
        secret: &str,
    ) -> Result<Endpoint> {
        let sql = format!(
            "INSERT INTO endpoints ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $14, $11, $12, $17, $13, $13, $15, $16, NULL, NULL, NULL, \
             COALESCE((SELECT s.allow_private FROM sources s WHERE s.app_id = $2), FALSE)) RETURNING {COLUMNS}"
        );
        let row: Row = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(id)
            .bind(app_id)
            .bind(&data.uid)
            .bind(&data.url)
            .bind(&data.description)
            .bind(data.event_types.as_ref().map(to_json))
            .bind(data.channels.as_ref().map(to_json))
            .bind(data.disabled)
            .bind(to_json(&data.metadata))
            .bind(data.throttle_rate)
            .bind(to_json(&data.headers))
            .bind(self.seal(sealed::ENDPOINT_SECRET, secret))
            .bind(now_ms())
            .bind(data.fifo)
            .bind(data.request_timeout_ms)
            .bind(&data.filter)
            .bind(self.seal(sealed::ENDPOINT_OLD_SECRETS, "[]"))
            .fetch_one(p)
            .await
            .map_err(|e| conflict_or(e, || uid_taken(data)))?);
        self.decode_endpoint(row)
    }

    /// Finds an endpoint of an application by id or uid.
    pub async fn get_endpoint(&self, app_id: &ApplicationId, id_or_uid: &str) -> Result<Endpoint> {
        let sql = format!("SELECT {COLUMNS} FROM endpoints WHERE app_id = $1 AND (id = $2 OR uid = $2)");
        let row: Option<Row> =
            with_db!(self.reader(), p => sqlx::query_as(&sql).bind(app_id).bind(id_or_uid).fetch_optional(p).await?);
        self.decode_endpoint(row.ok_or(StoreError::NotFound(Entity::Endpoint))?)
    }

    pub async fn update_endpoint(&self, id: &EndpointId, data: &EndpointData) -> Result<Endpoint> {
        let sql = format!(
            "UPDATE endpoints SET uid = $2, url = $3, description = $4, event_types = $5, channels = $6, \
             disabled = $7, metadata = $8, throttle_rate = $9, headers = $10, updated_at = $11, fifo = $12, \
             request_timeout_ms = $13, filter = $14 WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row: Option<Row> = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            let pg = self.backend() == crate::Backend::Postgres;
            // On PostgreSQL, under the application's lock (exclusive; first, as every holder
            // takes it), so that no publish stores a delivery with the `fifo` it read before
            // this commits (`integrity.rs`); and with the row locked, so that two updates at
            // once agree on what `fifo` was.
            if pg {
                sqlx::query(&lock_app_of_endpoint_sql()).bind(id).execute(&mut *tx).await?;
            }
            // Its backlog is routed as it was (`backlog.rs`).
            crate::backlog::settle_endpoint_in(&mut *tx, self.backend(), id.as_str()).await?;
            let lock = if pg { " FOR UPDATE" } else { "" };
            let was_fifo: Option<bool> = sqlx::query_scalar(&format!("SELECT fifo FROM endpoints WHERE id = $1{lock}"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let row = sqlx::query_as(&sql)
                .bind(id)
                .bind(&data.uid)
                .bind(&data.url)
                .bind(&data.description)
                .bind(data.event_types.as_ref().map(to_json))
                .bind(data.channels.as_ref().map(to_json))
                .bind(data.disabled)
                .bind(to_json(&data.metadata))
                .bind(data.throttle_rate)
                .bind(to_json(&data.headers))
                .bind(now_ms())
                .bind(data.fifo)
                .bind(data.request_timeout_ms)
                .bind(&data.filter)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| conflict_or(e, || uid_taken(data)))?;
            // Its deliveries follow (`deliveries.in_order`, migration 0015): every one of them,
            // as a delivered one may be sent again (resend, recover). Proportional to the
            // endpoint's deliveries kept, and only when `fifo` changes.
            if was_fifo.is_some_and(|was| was != data.fifo) {
                sqlx::query("UPDATE deliveries SET in_order = $2 WHERE endpoint_id = $1")
                    .bind(id)
                    .bind(data.fifo)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            row
        });
        let updated = self.decode_endpoint(row.ok_or(StoreError::NotFound(Entity::Endpoint))?)?;
        self.announce_changed(std::slice::from_ref(id)).await;
        Ok(updated)
    }

    pub async fn delete_endpoint(&self, id: &EndpointId) -> Result<()> {
        self.delete_endpoint_rows(id).await?;
        self.announce_changed(std::slice::from_ref(id)).await;
        Ok(())
    }

    pub async fn list_endpoints(&self, app_id: &ApplicationId, q: &ListQuery) -> Result<Page<Endpoint>> {
        let (tail, cursor) = page_sql("id", q, 2, false);
        let sql = format!("SELECT {COLUMNS} FROM endpoints WHERE app_id = $1{tail}");
        let rows: Vec<Row> = with_db!(self.reader(), p => {
            let mut query = sqlx::query_as(&sql).bind(app_id);
            if let Some(c) = &cursor {
                query = query.bind(c);
            }
            query.fetch_all(p).await?
        });
        let endpoints = rows.into_iter().map(|r| self.decode_endpoint(r)).collect::<Result<Vec<_>>>()?;
        Ok(finish_page(endpoints, q, |e| &e.id))
    }

    /// Replaces the endpoint's secret; the previous one keeps signing until `grace_ms` from now.
    pub async fn rotate_endpoint_secret(&self, id: &EndpointId, new_secret: &str, grace_ms: i64) -> Result<Endpoint> {
        let now = now_ms();
        let current = self.get_endpoint_by_id(id.as_str()).await?;
        let mut old: Vec<OldSecret> = current.old_secrets.into_iter().filter(|s| s.expires_at > now).collect();
        if grace_ms > 0 {
            old.push(OldSecret { key: current.secret, expires_at: now + grace_ms });
        }
        let sql = format!(
            "UPDATE endpoints SET secret = $2, old_secrets = $3, updated_at = $4 WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row: Option<Row> = with_db!(self.writer(), p => sqlx::query_as(&sql)
            .bind(id)
            .bind(self.seal(sealed::ENDPOINT_SECRET, new_secret))
            .bind(self.seal(sealed::ENDPOINT_OLD_SECRETS, &to_json(&old)))
            .bind(now)
            .fetch_optional(p)
            .await?);
        let rotated = self.decode_endpoint(row.ok_or(StoreError::NotFound(Entity::Endpoint))?)?;
        self.announce_changed(std::slice::from_ref(id)).await;
        Ok(rotated)
    }

    /// Sets (or with `None` removes) the endpoint's OAuth 2.0 settings.
    pub async fn set_endpoint_oauth(&self, id: &EndpointId, oauth: Option<&OAuthConfig>) -> Result<()> {
        let sealed = oauth.map(|o| self.seal(sealed::ENDPOINT_OAUTH, &to_json(o)));
        self.set_endpoint_column(id, "oauth", sealed).await
    }

    /// Sets (or with `None` removes) the endpoint's TLS client identity.
    pub async fn set_endpoint_mtls(&self, id: &EndpointId, mtls: Option<&MtlsConfig>) -> Result<()> {
        let sealed = mtls.map(|m| self.seal(sealed::ENDPOINT_MTLS, &to_json(m)));
        self.set_endpoint_column(id, "mtls", sealed).await
    }

    /// Sets the endpoint's transformation.
    pub async fn set_endpoint_transformation(&self, id: &EndpointId, transformation: &Transformation) -> Result<()> {
        self.set_endpoint_column(id, "transformation", Some(to_json(transformation))).await
    }

    /// Sets one of the endpoint's JSON columns that have their own routes.
    async fn set_endpoint_column(&self, id: &EndpointId, column: &'static str, value: Option<String>) -> Result<()> {
        let sql = format!("UPDATE endpoints SET {column} = $2, updated_at = $3 WHERE id = $1");
        let done = with_db!(self.writer(), p => sqlx::query(&sql).bind(id).bind(value).bind(now_ms()).execute(p).await?.rows_affected());
        found(done, Entity::Endpoint)?;
        self.announce_changed(std::slice::from_ref(id)).await;
        Ok(())
    }

    pub async fn get_endpoint_by_id(&self, id: &str) -> Result<Endpoint> {
        let sql = format!("SELECT {COLUMNS} FROM endpoints WHERE id = $1");
        let row: Option<Row> = with_db!(self.reader(), p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        self.decode_endpoint(row.ok_or(StoreError::NotFound(Entity::Endpoint))?)
    }

    /// An endpoint with what its lane needs of its application, in one read: a lane reads
    /// them when it starts and when told they changed, and with many endpoints that each get
    /// a trickle, lanes start all the time.
    pub async fn get_endpoint_for_lane(&self, id: &EndpointId) -> Result<LaneEndpoint> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("e.{}", c.trim())).collect();
            format!(
                "SELECT {}, a.throttle_rate AS app_throttle_rate, a.uid AS app_uid \
                 FROM endpoints e JOIN applications a ON a.id = e.app_id WHERE e.id = $1",
                columns.join(", ")
            )
        });
        let row: Option<LaneRow> = with_db!(self.reader(), p => sqlx::query_as(&SQL).bind(id).fetch_optional(p).await?);
        let row = row.ok_or(StoreError::NotFound(Entity::Endpoint))?;
        Ok(LaneEndpoint {
            endpoint: self.decode_endpoint(row.endpoint)?,
            app_throttle_rate: row.app_throttle_rate,
            app_uid: row.app_uid,
        })
    }

    /// Counts of the endpoint's deliveries by status, of the messages created from `since`
    /// and before `until` (ms) when given. (Message ids sort by creation time, so the range is
    /// one of ids, on the key.)
    pub async fn endpoint_stats(
        &self,
        id: &EndpointId,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<EndpointStats> {
        self.settle(Scope::Endpoint(id.as_str())).await?;
        let bound = |at: i64| format!("{}{}", MessageId::PREFIX, min_body_at(at));
        let rows: Vec<(i64, i64)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT status, COUNT(*) FROM deliveries WHERE endpoint_id = $1 \
             AND ($2 IS NULL OR msg_id >= $2) AND ($3 IS NULL OR msg_id < $3) GROUP BY status",
        )
        .bind(id)
        .bind(since.map(bound))
        .bind(until.map(bound))
        .fetch_all(p)
        .await?);
        let mut stats = EndpointStats::default();
        for (status, count) in rows {
            match DeliveryStatus::from_code(status) {
                DeliveryStatus::Success => stats.success = count,
                DeliveryStatus::Fail => stats.fail = count,
                DeliveryStatus::Sending => stats.sending = count,
                DeliveryStatus::Pending => stats.pending += count,
                DeliveryStatus::Canceled => stats.canceled = count,
            }
        }
        let hour = |at: i64| at.div_euclid(HOUR_MS);
        let (filtered, errors): (i64, i64) = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(filtered), 0) AS BIGINT), CAST(COALESCE(SUM(errors), 0) AS BIGINT) FROM endpoint_filtered WHERE endpoint_id = $1 \
             AND ($2 IS NULL OR hour >= $2) AND ($3 IS NULL OR hour < $3)",
        )
        .bind(id)
        .bind(since.map(hour))
        .bind(until.map(|at| hour(at + HOUR_MS - 1)))
        .fetch_one(p)
        .await?);
        stats.filtered = filtered;
        stats.filter_errors = errors;
        Ok(stats)
    }
}
