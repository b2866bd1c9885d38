//! Publishing, with group commit.
//!
//! A publish stores the message and one delivery per matching endpoint, and lowers those
//! endpoints' queue due times, all in one transaction: when it commits, the deliveries are
//! durable. Concurrent publishes are gathered by one task and committed together with one sync
//! to disk per batch (a publish whose `eventId` is taken gets its 409 without failing the
//! others). Under load that turns hundreds of fsyncs per second into a few.
//!
//! Deliveries to endpoints whose lane runs on this node and has room are stored leased to it
//! and handed over once committed (see `push.rs`); the others are stored due and their
//! endpoints woken.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use hookd_core::id::new_body_at;
use hookd_core::matching::{matches, Subscription};
use hookd_core::time::now_ms;
use sqlx::Acquire;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Permit;
use tokio::sync::{mpsc, oneshot};

use crate::messages::{decode, COLUMNS};
use crate::push::{Attached, Pushed};
use crate::queue::touch_queues_sql;
use crate::{
    from_json_opt, is_foreign_key_violation, is_transient, placeholders, with_db, ClaimedDelivery, Message, NewMessage,
    Result, Store, StoreError, ROWS_PER_STATEMENT,
};

/// Publishes gathered into one transaction at most.
const MAX_BATCH: usize = 256;

/// The stored message, and the endpoints to wake: those with deliveries due now that were not
/// handed to a lane.
pub(crate) type Published = (Message, Vec<String>);

pub(crate) struct PublishJob {
    app_id: String,
    msg: NewMessage,
    reply: oneshot::Sender<Result<Published>>,
}

/// An application's endpoints as routing needs them: id, event types, channels.
type Route = (String, Option<Vec<String>>, Option<Vec<String>>);

impl Store {
    /// Stores a message and its deliveries atomically; returns the message and the ids of the
    /// endpoints whose lanes must be woken to deliver it.
    pub async fn create_message(&self, app_id: &str, msg: &NewMessage) -> Result<Published> {
        let (reply, answer) = oneshot::channel();
        let job = PublishJob { app_id: app_id.to_owned(), msg: msg.clone(), reply };
        self.publisher.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Starts the task that commits publishes in batches.
pub(crate) fn spawn_publisher(store: Store) -> mpsc::Sender<PublishJob> {
    let (tx, mut rx) = mpsc::channel::<PublishJob>(4 * MAX_BATCH);
    tokio::spawn(async move {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            let lanes = store.local_lanes.read().await;
            match publish_retrying(&store, &jobs, &lanes).await {
                Ok(results) => {
                    for (job, result) in jobs.drain(..).zip(results) {
                        let _ = job.reply.send(result);
                    }
                }
                // The batch as a whole failed (e.g. its commit): each publish on its own gets
                // its own, precise answer.
                Err(_) => {
                    for job in jobs.drain(..) {
                        let one = std::slice::from_ref(&job);
                        let result = publish_batch(&store, one, &lanes).await;
                        // Its application is gone (deleted since the request looked it up).
                        let result =
                            result.map_err(|e| if is_foreign_key_violation(&e) { StoreError::NotFound } else { e });
                        let _ = job.reply.send(result.and_then(|mut r| r.remove(0)));
                    }
                }
            }
        }
    });
    tx
}

/// `publish_batch`, run again (a few times) when PostgreSQL failed it only to break a deadlock
/// or a serialization conflict.
async fn publish_retrying(
    store: &Store,
    jobs: &[PublishJob],
    lanes: &HashMap<String, Attached>,
) -> Result<Vec<Result<Published>>> {
    let mut retries = 0;
    loop {
        match publish_batch(store, jobs, lanes).await {
            Err(e) if is_transient(&e) && retries < 3 => retries += 1,
            outcome => return outcome,
        }
    }
}

/// Commits `jobs` in one transaction; the outer error means nothing was committed.
///
/// A handful of statements per batch, not per message: the messages go in with one multi-row
/// insert that skips duplicate `eventId`s (those publishes get a 409), then all their
/// deliveries, then one touch per endpoint queue.
async fn publish_batch(
    store: &Store,
    jobs: &[PublishJob],
    lanes: &HashMap<String, Attached>,
) -> Result<Vec<Result<Published>>> {
    let (backend, sqlite) = (store.backend(), store.is_sqlite());
    let now = now_ms();
    let lease_token = new_body_at(now);
    let mut handover: Vec<(Permit<'_, Pushed>, ClaimedDelivery)> = Vec::new();
    let results = with_db!(store.writer(), p => {
        let mut conn = p.acquire().await?;
        if sqlite {
            // Other writes on this connection skip the sync to disk (a lost claim or attempt
            // record only means a repeat); a publish's 202 must survive a power cut.
            sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
        }
        let mut tx = conn.begin().await?;
        let mut routes: HashMap<&str, Vec<Route>> = HashMap::new();
        for job in jobs {
            if !routes.contains_key(job.app_id.as_str()) {
                let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT id, event_types, channels FROM endpoints WHERE app_id = $1 AND NOT disabled",
                )
                .bind(&job.app_id)
                .fetch_all(&mut *tx)
                .await?;
                let decoded = rows
                    .into_iter()
                    .map(|(id, types, channels)| Ok((id, from_json_opt(types)?, from_json_opt(channels)?)))
                    .collect::<Result<Vec<Route>>>()?;
                routes.insert(&job.app_id, decoded);
            }
        }
        let mut inserted: HashSet<String> = HashSet::with_capacity(jobs.len());
        for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO messages ({COLUMNS}) VALUES {} ON CONFLICT DO NOTHING RETURNING id",
                placeholders(backend, chunk.len(), 7, "")
            );
            let mut insert = sqlx::query_scalar(&sql);
            for job in chunk {
                let msg = &job.msg;
                insert = insert
                    .bind(&msg.id)
                    .bind(&job.app_id)
                    .bind(&msg.event_type)
                    .bind(&msg.event_id)
                    .bind(&msg.payload)
                    .bind(msg.channels.as_ref().map(crate::to_json))
                    .bind(msg.created_at);
            }
            let ids: Vec<String> = insert.fetch_all(&mut *tx).await?;
            inserted.extend(ids);
        }
        // Each endpoint queue is touched once per batch, with its earliest new due time. (A
        // delivery handed to a lane has none: it is sending, and made due again only if its
        // node dies before recording it; see `release_expired_handovers`.)
        let mut queue_due: HashMap<&str, i64> = HashMap::new();
        let mut deliveries: Vec<NewDelivery<'_>> = Vec::new();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let msg = &job.msg;
            if !inserted.contains(&msg.id) {
                // Message ids are fresh, so the only row it can collide with is one with its eventId.
                let event_id = msg.event_id.as_deref().unwrap_or_default();
                results.push(Err(StoreError::Conflict(format!(
                    "a message with eventId '{event_id}' already exists in this application"
                ))));
                continue;
            }
            let mut to_wake = Vec::new();
            for (endpoint_id, _, _) in routes[job.app_id.as_str()].iter().filter(|(_, types, channels)| {
                let sub = Subscription { disabled: false, event_types: types.as_deref(), channels: channels.as_deref() };
                matches(&sub, &msg.event_type, msg.channels.as_deref())
            }) {
                let lane = lanes.get(endpoint_id).filter(|_| msg.deliver_at <= now);
                match lane.map(|lane| (lane, lane.tx.try_reserve())) {
                    Some((_, Ok(permit))) => {
                        handover.push((permit, claimed(job, endpoint_id)));
                        deliveries.push(NewDelivery { job, endpoint_id, due: None });
                        continue;
                    }
                    // The lane has all it can hold; it claims this from the database once it
                    // has room. Waking it now would only make it look again.
                    Some((lane, Err(TrySendError::Full(())))) => lane.overflowed.store(true, Ordering::Relaxed),
                    _ => to_wake.push(endpoint_id.clone()),
                }
                let earliest = queue_due.entry(endpoint_id).or_insert(msg.deliver_at);
                *earliest = (*earliest).min(msg.deliver_at);
                deliveries.push(NewDelivery { job, endpoint_id, due: Some(msg.deliver_at) });
            }
            let stored = (
                msg.id.clone(),
                job.app_id.clone(),
                msg.event_type.clone(),
                msg.event_id.clone(),
                msg.payload.clone(),
                msg.channels.as_ref().map(crate::to_json),
                msg.created_at,
            );
            results.push(decode(stored).map(|m| (m, to_wake)));
        }
        for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO deliveries (msg_id, endpoint_id, app_id, next_attempt_at, updated_at, status, lease_token, \
                 attempts, manual) VALUES {}",
                placeholders(backend, chunk.len(), 7, "0, FALSE")
            );
            let mut insert = sqlx::query(&sql);
            for d in chunk {
                let msg = &d.job.msg;
                // Handed over: status 3 (sending), leased from `updated_at` on.
                let (status, token, updated_at) = match d.due {
                    Some(_) => (1_i64, None, msg.created_at),
                    None => (3, Some(&lease_token), now),
                };
                insert = insert
                    .bind(&msg.id)
                    .bind(d.endpoint_id)
                    .bind(&d.job.app_id)
                    .bind(d.due)
                    .bind(updated_at)
                    .bind(status)
                    .bind(token);
            }
            insert.execute(&mut *tx).await?;
        }
        // In endpoint order, as every transaction that locks several queue rows takes them, so
        // that two of them never wait for each other (a deadlock PostgreSQL would break by
        // failing one).
        let mut touches: Vec<(&str, i64)> = queue_due.into_iter().collect();
        touches.sort_unstable();
        for chunk in touches.chunks(ROWS_PER_STATEMENT) {
            let sql = touch_queues_sql(backend, chunk.len());
            let mut touch = sqlx::query(&sql);
            for (endpoint_id, due) in chunk {
                touch = touch.bind(*endpoint_id).bind(due);
            }
            touch.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        if sqlite {
            sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
        }
        results
    });
    // Committed: the lanes may start. (Had the batch failed, dropping the permits would have
    // given their room back.)
    let leased_at = Instant::now();
    for (permit, delivery) in handover {
        permit.send((delivery, leased_at));
    }
    Ok(results)
}

/// A delivery row to insert.
struct NewDelivery<'a> {
    job: &'a PublishJob,
    endpoint_id: &'a str,
    /// When it is due; `None` when handed to a lane of this node by this publish.
    due: Option<i64>,
}

/// A delivery as its lane receives it.
fn claimed(job: &PublishJob, endpoint_id: &str) -> ClaimedDelivery {
    ClaimedDelivery {
        msg_id: job.msg.id.clone(),
        endpoint_id: endpoint_id.to_owned(),
        app_id: job.app_id.clone(),
        attempts: 0,
        manual: false,
        event_type: job.msg.event_type.clone(),
        event_id: job.msg.event_id.clone(),
        payload: job.msg.payload.clone(),
    }
}
