//! What the foreign keys of deliveries and attempts guaranteed on PostgreSQL, kept without
//! them (migration 0016: the two checks per row nearly doubled the cost of a publish's
//! delivery rows there).
//!
//! No delivery or attempt may outlive its endpoint or message. Deleting either deletes its
//! deliveries and attempts in the same transaction, after the row itself, so that the deletes
//! see whatever committed while they waited for the row. Three writers could otherwise add
//! one behind a delete, and each is kept from it:
//!
//! - A publish batch routes to the endpoints it reads, then inserts their deliveries; an
//!   endpoint deleted in between would keep them (a delivery handed to a lane touches no row
//!   the delete takes). So a batch holds an advisory lock per application, shared, from
//!   before it reads the routes (the statement that stores its messages takes it) to its
//!   commit, and deleting an endpoint or an application
//!   takes that lock exclusively first: the delete waits for the batches that may have read
//!   the endpoint, and the batches after it no longer see it. The lock lives in PostgreSQL's
//!   lock table, not in a row: one per application per batch, no write.
//! - A record updates its delivery's row before it inserts the attempt, and inserts it only
//!   while the row exists: a delete in progress holds the row, so the record waits, then finds
//!   nothing to add to; a record that got there first is committed before the delete's own
//!   statement for attempts runs, which then deletes it. (Only a record whose lease was lost
//!   meanwhile updates nothing, so waits for nothing: its attempt can outlive a delete that
//!   runs in that same moment. When what was deleted is its endpoint, retention takes it
//!   with its message.)
//! - A resend (or a replay) locks its message (`FOR KEY SHARE`) before inserting the
//!   delivery; retention's delete of the message waits for it, then takes the delivery along.
//!
//! The same application lock keeps `deliveries.in_order` equal to its endpoint's `fifo`, which
//! lets PostgreSQL index only FIFO endpoints' pending deliveries by message (migration 0017):
//! every writer that stores a delivery with the `fifo` it read (a publish batch, a resend, a
//! replay) holds the lock shared, and an update of an endpoint, which rewrites `in_order` on
//! the endpoint's deliveries when `fifo` changes, holds it exclusively.
//!
//! SQLite keeps its foreign keys (its one writer serializes all of this, and the checks cost
//! it little), so there the cascade deletes what the statements below delete on PostgreSQL.

use hookd_core::{ApplicationId, EndpointId};

use crate::{found, with_db, Backend, Entity, Result, Store};

/// The advisory lock class of applications (two-key form: this, the application id's hash).
/// Hash collisions only make unrelated applications wait for each other's deletes.
const APP_LOCK_CLASS: i32 = 0x686f_6f6b; // "hook"

/// A publish batch's shared locks on its applications (`apps`, a text array parameter of
/// the batch's message insert), as a `WITH` that the insert joins: taken by the statement
/// that stores the messages, so with no round trip of their own, and before the batch reads
/// its routes (the next statement, hence a later snapshot). Taken in one order, so that
/// batches waiting behind two deletes never wait for each other.
pub(crate) fn lock_apps_shared_cte(apps: &str) -> String {
    format!(
        "WITH locked AS (SELECT count(pg_advisory_xact_lock_shared({APP_LOCK_CLASS}, k)) AS n FROM \
         (SELECT DISTINCT hashtext(a) AS k FROM UNNEST({apps}::text[]) AS a ORDER BY k) AS keys) "
    )
}

/// The lock on an application (`$1`): exclusive for a delete, shared for a resend or a
/// replay, taken first in their transactions.
pub(crate) fn lock_app_sql(shared: bool) -> String {
    let mode = if shared { "_shared" } else { "" };
    format!("SELECT pg_advisory_xact_lock{mode}({APP_LOCK_CLASS}, hashtext($1))")
}

/// The exclusive locks on the applications of endpoints (`$1`, a text array), in the order
/// every holder takes them (see [`lock_apps_shared_cte`]): taken by what reads an
/// application's log past a backlog's mark (`backlog.rs`), so that no publish batch of the
/// application is in flight while it reads, and none commits behind what it read.
pub(crate) fn lock_apps_of_endpoints_sql() -> String {
    format!(
        "SELECT count(pg_advisory_xact_lock({APP_LOCK_CLASS}, k)) FROM \
         (SELECT DISTINCT hashtext(e.app_id) AS k FROM endpoints e WHERE e.id = ANY($1::text[]) ORDER BY k) AS keys"
    )
}

/// The exclusive lock on an endpoint's application (`$1`, the endpoint).
pub(crate) fn lock_app_of_endpoint_sql() -> String {
    format!("SELECT pg_advisory_xact_lock({APP_LOCK_CLASS}, hashtext(app_id)) FROM endpoints WHERE id = $1")
}

/// Deletes an endpoint's deliveries and attempts (after the endpoint's row, in its transaction;
/// PostgreSQL only).
const DEPENDANTS_OF_ENDPOINT: [&str; 2] =
    ["DELETE FROM deliveries WHERE endpoint_id = $1", "DELETE FROM attempts WHERE endpoint_id = $1"];

impl Store {
    /// Deletes an endpoint with its deliveries and attempts; `NotFound` when there was none.
    pub(crate) async fn delete_endpoint_rows(&self, id: &EndpointId) -> Result<()> {
        let pg = self.backend() == Backend::Postgres;
        with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            if pg {
                sqlx::query(&lock_app_of_endpoint_sql()).bind(id).execute(&mut *tx).await?;
            }
            let deleted = sqlx::query("DELETE FROM endpoints WHERE id = $1").bind(id).execute(&mut *tx).await?;
            found(deleted.rows_affected(), Entity::Endpoint)?;
            if pg {
                for sql in DEPENDANTS_OF_ENDPOINT {
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes an application with what it holds (its endpoints and messages by cascade, their
    /// deliveries and attempts here); returns the endpoints it had, `NotFound` when there was
    /// none.
    pub(crate) async fn delete_application_rows(&self, id: &ApplicationId) -> Result<Vec<EndpointId>> {
        let pg = self.backend() == Backend::Postgres;
        let endpoints: Vec<EndpointId> = with_db!(self.writer(), p => {
            let mut tx = p.begin().await?;
            if pg {
                sqlx::query(&lock_app_sql(false)).bind(id).execute(&mut *tx).await?;
            }
            // Read under the lock: no endpoint is added to a publish batch's routes after this.
            let endpoints: Vec<EndpointId> = sqlx::query_scalar("SELECT id FROM endpoints WHERE app_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM applications WHERE id = $1").bind(id).execute(&mut *tx).await?;
            found(deleted.rows_affected(), Entity::Application)?;
            if pg {
                for endpoint in &endpoints {
                    for sql in DEPENDANTS_OF_ENDPOINT {
                        sqlx::query(sql).bind(endpoint).execute(&mut *tx).await?;
                    }
                }
            }
            tx.commit().await?;
            endpoints
        });
        Ok(endpoints)
    }
}
