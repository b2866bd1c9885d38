//! Claiming deliveries, gathered across endpoints.
//!
//! Each lane claims its own endpoint's due deliveries. A publish that fans out to many
//! endpoints wakes all their lanes at once; one claim transaction per lane would then queue
//! up behind SQLite's single writer (and cost PostgreSQL a round trip each). Instead one task
//! takes every claim waiting at that moment and runs them together as a transaction of three
//! statements, much as publishes are group-committed.

use std::collections::HashSet;

use tokio::sync::{mpsc, oneshot};

use crate::queue::{ClaimRequest, DeliveryClaim};
use crate::{Database, Result, Store, StoreError};

/// Claims gathered into one transaction at most (each adds a sub-select to one statement;
/// SQLite allows 500 terms in a compound select).
const MAX_BATCH: usize = 128;

pub(crate) struct ClaimJob {
    request: ClaimRequest,
    reply: oneshot::Sender<Result<DeliveryClaim>>,
}

/// Hands a claim to the claim task and waits for its answer.
pub(crate) async fn submit(store: &Store, request: ClaimRequest) -> Result<DeliveryClaim> {
    let (reply, answer) = oneshot::channel();
    store.claimer.send(ClaimJob { request, reply }).await.map_err(|_| StoreError::Closed)?;
    answer.await.map_err(|_| StoreError::Closed)?
}

/// Starts the task that runs claims in batches.
pub(crate) fn spawn_claimer(db: Database) -> mpsc::Sender<ClaimJob> {
    let (tx, mut rx) = mpsc::channel::<ClaimJob>(4 * MAX_BATCH);
    tokio::spawn(async move {
        let mut waiting: Vec<ClaimJob> = Vec::with_capacity(MAX_BATCH);
        while !waiting.is_empty() || rx.recv_many(&mut waiting, MAX_BATCH).await > 0 {
            let batch = take_batch(&mut waiting);
            run_batch(&db, batch).await;
        }
    });
    tx
}

/// Takes the waiting claims that can share a transaction: each endpoint once, one lease
/// length. The rest wait for the next round.
fn take_batch(waiting: &mut Vec<ClaimJob>) -> Vec<ClaimJob> {
    let lease_ms = waiting[0].request.lease_ms;
    let mut endpoints = HashSet::new();
    let (batch, rest): (Vec<ClaimJob>, Vec<ClaimJob>) = std::mem::take(waiting)
        .into_iter()
        .partition(|job| job.request.lease_ms == lease_ms && endpoints.insert(job.request.endpoint_id.clone()));
    *waiting = rest;
    batch
}

async fn run_batch(db: &Database, batch: Vec<ClaimJob>) {
    let requests: Vec<ClaimRequest> = batch.iter().map(|job| job.request.clone()).collect();
    match db.claim_for_endpoints(&requests).await {
        Ok(claims) => {
            for (job, claim) in batch.into_iter().zip(claims) {
                let _ = job.reply.send(Ok(claim));
            }
        }
        // Each claim on its own gets its own answer (and its own error).
        Err(_) => {
            for job in batch {
                let result = db.claim_for_endpoints(std::slice::from_ref(&job.request)).await;
                let _ = job.reply.send(result.map(|mut claims| claims.remove(0)));
            }
        }
    }
}
