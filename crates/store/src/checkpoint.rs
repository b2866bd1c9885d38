//! SQLite's write-ahead log, checkpointed in the background.
//!
//! In WAL mode a commit appends to the log, and a checkpoint copies the log back into the
//! database file (and syncs it). By default SQLite runs the checkpoint inside whichever commit
//! grows the log past 1,000 pages, so under a steady write load a commit stalls every second
//! or so for as long as copying takes; every publish waiting for that commit waits with it
//! (measured: the isolation test's p99 doubled). Instead, a task checkpoints from a reader
//! connection every quarter of a second, in the mode that never blocks the writer; the
//! writer's own automatic checkpoint stays, at a higher threshold, as the safety net that
//! bounds the log, and finds little left to copy.

use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::mpsc::WeakSender;
use tracing::warn;

/// How often the background checkpoint runs.
const EVERY: Duration = Duration::from_millis(250);

/// Pages the log may hold before the writer checkpoints itself (8,192 pages: 32 MB).
pub(crate) const WRITER_AUTOCHECKPOINT: &str = "8192";

/// Checkpoints `reader`'s database until `alive` (a sender that lives as long as the store)
/// has no store left.
pub(crate) fn spawn_checkpointer<T: Send + 'static>(reader: SqlitePool, alive: WeakSender<T>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if alive.upgrade().is_none() {
                return;
            }
            // PASSIVE copies what it can without waiting for readers or the writer.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&reader).await {
                warn!(error = %e, "background WAL checkpoint failed");
            }
        }
    });
}
