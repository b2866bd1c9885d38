//! Recording attempt results. Each result goes straight to the store's group commit, which
//! writes it in its next transaction together with whatever else is waiting (other results,
//! publishes), so under load many share one commit. A lane does not keep an attempt slot for
//! the wait (the delivery stays leased until the record lands, so nothing is attempted twice
//! meanwhile), but it bounds how many of its results may wait.

use std::sync::Arc;
use std::time::Duration;

use hookd_store::{AttemptResult, Store, StoreError};
use tracing::warn;

/// Records a result, retrying a failed write for a while (the database may be restarting).
/// If it never succeeds the delivery stays leased, its lease expires and it is attempted
/// again: at least once, never lost.
pub(crate) async fn record(store: &Store, result: AttemptResult) {
    let result = Arc::new(result);
    let mut backoff = Duration::from_millis(50);
    for _ in 0..20 {
        match store.record_attempt(result.clone()).await {
            Ok(()) => return,
            // The endpoint was deleted meanwhile, and its deliveries with it: nothing to record.
            Err(StoreError::NotFound(_)) => return,
            Err(e) => {
                warn!(error = %e, msg_id = %result.msg_id, "recording an attempt failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    warn!(msg_id = %result.msg_id, "gave up recording an attempt; it will be retried when its lease expires");
}
