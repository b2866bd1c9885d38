//! Embedded, versioned migrations, one list per backend.
//!
//! Each migration runs in its own transaction together with the row that records it, so a
//! crash mid-migration leaves the previous version intact. On PostgreSQL an advisory lock
//! keeps nodes that start together from migrating twice.

use crate::{with_db, Backend, Database, Result, StoreError};

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_inboxes.sql")),
    (3, include_str!("../migrations/sqlite/0003_handed_over.sql")),
    (4, include_str!("../migrations/sqlite/0004_retention.sql")),
    (5, include_str!("../migrations/sqlite/0005_token_expiry.sql")),
    (6, include_str!("../migrations/sqlite/0006_message_fields.sql")),
    (7, include_str!("../migrations/sqlite/0007_event_type_groups.sql")),
    (8, include_str!("../migrations/sqlite/0008_event_type_retry_schedule.sql")),
    (9, include_str!("../migrations/sqlite/0009_endpoint_request_timeout.sql")),
    (10, include_str!("../migrations/sqlite/0010_endpoint_filter.sql")),
    (11, include_str!("../migrations/sqlite/0011_endpoint_auth.sql")),
    (12, include_str!("../migrations/sqlite/0012_endpoint_transformation.sql")),
    (13, include_str!("../migrations/sqlite/0013_settings.sql")),
    (14, include_str!("../migrations/sqlite/0014_sources.sql")),
    (15, include_str!("../migrations/sqlite/0015_in_order_deliveries.sql")),
    (16, include_str!("../migrations/sqlite/0016_backlogs.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_inboxes.sql")),
    (3, include_str!("../migrations/postgres/0003_handed_over.sql")),
    (4, include_str!("../migrations/postgres/0004_retention.sql")),
    (5, include_str!("../migrations/postgres/0005_token_expiry.sql")),
    (6, include_str!("../migrations/postgres/0006_message_fields.sql")),
    (7, include_str!("../migrations/postgres/0007_event_type_groups.sql")),
    (8, include_str!("../migrations/postgres/0008_event_type_retry_schedule.sql")),
    (9, include_str!("../migrations/postgres/0009_endpoint_request_timeout.sql")),
    (10, include_str!("../migrations/postgres/0010_endpoint_filter.sql")),
    (11, include_str!("../migrations/postgres/0011_endpoint_auth.sql")),
    (12, include_str!("../migrations/postgres/0012_endpoint_transformation.sql")),
    (13, include_str!("../migrations/postgres/0013_settings.sql")),
    (14, include_str!("../migrations/postgres/0014_sources.sql")),
    (15, include_str!("../migrations/postgres/0015_in_order_deliveries.sql")),
    (16, include_str!("../migrations/postgres/0016_deliveries_without_foreign_keys.sql")),
    (17, include_str!("../migrations/postgres/0017_in_order_index.sql")),
    (18, include_str!("../migrations/postgres/0018_backlogs.sql")),
];

/// Arbitrary constant naming hookd's migration lock.
const PG_LOCK_KEY: i64 = 0x0068_6f6f_6b64;

impl Database {
    /// Applies every migration not yet applied (when a store opens, before its tasks run).
    /// Idempotent.
    pub(crate) async fn migrate(&self) -> Result<()> {
        let migrations = match self.backend() {
            Backend::Sqlite => SQLITE,
            Backend::Postgres => POSTGRES,
        };
        let is_pg = self.backend() == Backend::Postgres;
        with_db!(self.writer(), p => {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS hookd_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .execute(p)
            .await?;
            for (version, sql) in migrations {
                let mut tx = p.begin().await?;
                if is_pg {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_LOCK_KEY).execute(&mut *tx).await?;
                }
                let done: Option<(i64,)> = sqlx::query_as("SELECT version FROM hookd_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
                if done.is_some() {
                    continue;
                }
                sqlx::raw_sql(sql)
                    .execute(&mut *tx)
                    .await
                    .map_err(|source| StoreError::Migration { version: *version, source })?;
                sqlx::query("INSERT INTO hookd_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(hookd_core::time::now_ms())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tracing::info!(version, "applied migration");
            }
        });
        Ok(())
    }
}
