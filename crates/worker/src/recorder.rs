//! The recorder: one task that writes attempt results in batches. Whatever arrives while a
//! batch is being written goes into the next transaction, so under load many results share
//! one commit. A lane hands a result over and moves on (its delivery stays leased until the
//! record lands, so nothing is attempted twice meanwhile); the bounded queue is the
//! back-pressure. Each result is also acknowledged once written, for those who must wait (FIFO
//! lanes, whose next claim depends on it).

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

    /// Queues a result for writing (waiting only while the queue is full); the returned
    /// handle resolves once it is written.
    pub async fn submit(&self, result: AttemptResult) -> Written {
        let (ack, written) = oneshot::channel();
        let _ = self.tx.send((result, ack)).await;
        Written(written)
    }

    /// Records a result and waits until it is written.
    pub async fn record(&self, result: AttemptResult) {
        self.submit(result).await.wait().await;
    }
}

/// Resolves once a submitted result is written (or the recorder gave up on it).
pub(crate) struct Written(oneshot::Receiver<()>);

impl Written {
    pub async fn wait(self) {
        let _ = self.0.await;
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
