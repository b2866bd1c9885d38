//! The recorder: one task that writes attempt results in batches. Whatever arrives while a
//! batch is being written goes into the next transaction, so under load many results share
//! one commit. Each result is acknowledged once it is written. A lane does not keep an
//! attempt slot for the wait (the delivery stays leased until the record lands, so nothing is
//! attempted twice meanwhile), but it bounds how many of its results may wait.

use std::time::Duration;

use hookd_store::{AttemptResult, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::warn;

const MAX_BATCH: usize = 512;

type Entry = (AttemptResult, oneshot::Sender<()>);

/// Sends results to the recorder task.
#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Entry>,
}

impl Recorder {
    pub fn spawn(store: Store) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        (Self { tx }, tokio::spawn(run(store, rx)))
    }

    /// Records a result and waits until it is written (or the recorder gave up on it).
    pub async fn record(&self, result: AttemptResult) {
        let (ack, written) = oneshot::channel();
        if self.tx.send((result, ack)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Entry>) {
    let mut batch: Vec<Entry> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results: Vec<AttemptResult> = batch.iter().map(|(r, _)| r.clone()).collect();
        write_with_retries(&store, &results).await;
        for (_, ack) in batch.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// Retries a failed write for a while (the database may be restarting). If it never
/// succeeds the deliveries stay leased, their leases expire and they are attempted again:
/// at least once, never lost.
async fn write_with_retries(store: &Store, results: &[AttemptResult]) {
    let mut backoff = Duration::from_millis(50);
    for _ in 0..20 {
        match store.record_attempts(results).await {
            Ok(()) => return,
            Err(e) => {
                warn!(error = %e, batch = results.len(), "recording attempts failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    warn!(batch = results.len(), "gave up recording attempts; they will be retried when their leases expire");
}
