//! Group commit: what must be stored as it happens, publishes and attempt records, is
//! written by a task that gathers whatever arrives while a transaction runs into the next one.
//! Under load that turns hundreds of transactions a second into a few, each with one sync to
//! disk, and a handful of multi-row statements: the messages (skipping taken `eventId`s),
//! their deliveries, the endpoint queues to touch, the attempts, the deliveries' new states,
//! and the endpoints' "failing since".
//!
//! On SQLite, which has one writer, one task writes both in the same transactions: in
//! separate ones they would take turns at the writer, each waiting for the other's commit
//! (measured: 30% fewer deliveries per second). On PostgreSQL each has its own task, as
//! transactions on different connections run side by side (measured: one task for both was
//! 10% slower).
//!
//! A batch that fails as a whole is written again one job at a time, so that each publish gets
//! its own precise answer and no job fails for another's fault.
//!
//! On SQLite a publish that fans out to many endpoints that are behind (their lanes have no
//! room, so each delivery row waits in the database) costs its commit a page of each
//! per-endpoint index for each of those endpoints, whatever the number of messages in the
//! batch: a commit is written to the log page by page. Gathering whatever arrives in a few
//! milliseconds before such a batch spreads that cost over more messages (see
//! [`GATHER_WIDE`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd_core::id::new_body_at;
use hookd_core::time::now_ms;
use hookd_core::{EndpointId, MessageId};
use sqlx::Connection;
use tokio::sync::mpsc::{self, OwnedPermit};
use tokio::sync::{oneshot, Notify};

use crate::bulk::BulkInsert;
use crate::exec::{Arg, Cell, Kind};
use crate::notify::{Handover, Pushed};
use crate::publish::{decode_routes, route, PublishJob, Published, Route, ROUTES_SQL, ROUTE_COLUMNS};
use crate::queue::{
    delivery_updates, failing_updates, relax_durability, run_claims, spawn_claimer, take_claims, touch_queues_sql,
    update_deliveries, update_failing, ClaimJob, RecordJob, MAX_CLAIMS,
};
use crate::{
    is_foreign_key_violation, is_transient, placeholders, AttemptResult, ClaimedDelivery, Database, Db, Entity,
    IdempotentResponse, PublishKey, Result, StoreError, ROWS_PER_STATEMENT,
};

/// Publishes gathered into one transaction at most.
const MAX_PUBLISHES: usize = 256;
/// Attempt results gathered into one transaction at most, taken after the publishes, so that
/// a burst of results (many endpoints timing out at once) is written over several short
/// transactions instead of a long one that publishes wait for. On SQLite publishes ride in
/// the same transactions, and a lower bound made results fall behind a 10-endpoint fan-out.
/// On PostgreSQL records commit on their own, but their first failures lock the endpoint
/// queue rows that publishes touch, so there they are kept shorter (measured: occasional
/// 100 ms spikes in the isolation test with 256, none with 128).
const MAX_RECORDS_SQLITE: usize = 512;
const MAX_RECORDS_POSTGRES: usize = 128;

/// On SQLite, how long the commit thread gathers publishes before writing a batch when the
/// last one was wide: its messages left at least [`WIDE_QUEUED`] deliveries each waiting in
/// the database (for endpoints without a lane here with room). Each such endpoint costs a
/// commit two index pages (about 8 KB written to the log, checksummed, later checkpointed),
/// however many of the batch's messages go to it. Measured with 100 hanging endpoints next to
/// a healthy one at 200 msg/s (BENCHMARKS.md, seventeenth session): 45% of the commit
/// thread's time was writing log pages, and at the machine's full speed the thread's time per
/// message fell from 3.4–3.7 ms to 1.9 ms with 20 ms of gathering, from 2.6–2.7 ms to 2.1 ms
/// with 10 ms on 0.7 cores. A bounded price in latency, paid only by such fan-outs.
const GATHER_WIDE: Duration = Duration::from_millis(10);
/// Deliveries left waiting in the database per message from which a batch counts as wide.
const WIDE_QUEUED: usize = 32;
/// Gathering waits only while publishes keep coming: when the previous batch with publishes
/// was taken less than this before (20 or more a second). A lone publish would wait for
/// nobody.
const GATHER_WHILE_WITHIN: Duration = Duration::from_millis(50);

/// Where publishes and attempt records go to be written.
#[derive(Clone)]
pub(crate) struct Committers {
    pub publishes: mpsc::Sender<PublishJob>,
    pub records: mpsc::Sender<RecordJob>,
    /// SQLite's commit thread, which `Store::close` stops.
    pub thread: Option<Arc<CommitThread>>,
}

/// SQLite's commit thread, seen from the store.
pub(crate) struct CommitThread {
    stop: Notify,
    done: tokio::sync::Mutex<Option<oneshot::Receiver<()>>>,
}

impl CommitThread {
    /// Stops the thread once the jobs waiting are written, and waits until it has closed its
    /// connection. Then the sqlx pools close last, and the last connection to close
    /// checkpoints the write-ahead log into the database file and removes it, so that a
    /// stopped hookd leaves its whole database in `hookd.db`.
    pub(crate) async fn stop(&self) {
        self.stop.notify_one();
        if let Some(done) = self.done.lock().await.take() {
            let _ = done.await;
        }
    }
}

/// Starts the group-commit tasks. SQLite has one writer, so one task writes both kinds of
/// job together, on a thread of its own with its own connection (`sqlite`): each statement
/// then runs where the batch is, instead of being handed to sqlx's connection thread and its
/// answer handed back (see `exec.rs`). PostgreSQL runs transactions side by side, so
/// publishes and records get a task each: their commits overlap, and records alone skip the
/// wait for the disk.
///
/// Lanes' claims (`claims`) are writes too: on SQLite the same thread runs them, between its
/// batches, for the same reason; on PostgreSQL a task of their own does (`claim.rs`).
pub(crate) fn spawn_committers(
    store: Database,
    sqlite: Option<rusqlite::Connection>,
    claims: mpsc::Receiver<ClaimJob>,
) -> Committers {
    let (publishes, publish_rx) = mpsc::channel(4 * MAX_PUBLISHES);
    let (records, record_rx) = mpsc::channel(4 * MAX_RECORDS_SQLITE);
    let mut thread = None;
    if let Some(conn) = sqlite {
        let runtime = tokio::runtime::Handle::current();
        let (done_tx, done) = oneshot::channel();
        let control = Arc::new(CommitThread { stop: Notify::new(), done: tokio::sync::Mutex::new(Some(done)) });
        let stop = control.clone();
        std::thread::Builder::new()
            .name("hookd-commit".into())
            .spawn(move || {
                let mut conn = Some(conn);
                let receivers = Receivers {
                    publishes: Some(publish_rx),
                    records: Some(record_rx),
                    claims: Some(claims),
                    stop: Some(stop),
                };
                runtime.block_on(commit_loop(store, receivers, MAX_RECORDS_SQLITE, &mut conn));
                drop(conn);
                let _ = done_tx.send(());
            })
            .expect("the group commit's thread starts");
        thread = Some(control);
    } else {
        spawn_claimer(store.clone(), claims);
        let receivers = Receivers { publishes: Some(publish_rx), records: None, claims: None, stop: None };
        let other = store.clone();
        tokio::spawn(async move { commit_loop(other, receivers, 0, &mut None).await });
        let receivers = Receivers { publishes: None, records: Some(record_rx), claims: None, stop: None };
        tokio::spawn(async move { commit_loop(store, receivers, MAX_RECORDS_POSTGRES, &mut None).await });
    }
    Committers { publishes, records, thread }
}

/// Opens the SQLite group commit's connection to the database file, set up as sqlx's writer
/// is (`Store::open_sqlite`, with the same constants): the file is already in WAL mode.
pub(crate) fn open_sqlite_connection(path: &std::path::Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(crate::SQLITE_BUSY_TIMEOUT)?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = memory; \
         PRAGMA cache_size = {}; PRAGMA wal_autocheckpoint = {}",
        crate::SQLITE_WRITER_CACHE,
        crate::checkpoint::WRITER_AUTOCHECKPOINT
    ))?;
    conn.set_prepared_statement_cache_capacity(crate::exec::SQLITE_STATEMENT_CACHE);
    Ok(conn)
}

/// The jobs one commit loop takes.
struct Receivers {
    publishes: Option<mpsc::Receiver<PublishJob>>,
    records: Option<mpsc::Receiver<RecordJob>>,
    claims: Option<mpsc::Receiver<ClaimJob>>,
    /// Told to stop (SQLite's thread, by `Store::close`).
    stop: Option<Arc<CommitThread>>,
}

/// Waits for a job, takes whatever else is waiting (publishes first, up to the limits) and
/// writes it all in one transaction, then runs a batch of the claims waiting in another;
/// again until the store is dropped.
async fn commit_loop(
    store: Database,
    mut rx: Receivers,
    max_records: usize,
    sqlite: &mut Option<rusqlite::Connection>,
) {
    let mut claims: Vec<ClaimJob> = Vec::new();
    // The last publish batch was wide (see `GATHER_WIDE`), and when it was taken; only SQLite
    // gathers.
    let mut wide = false;
    let mut last_publishes: Option<Instant> = None;
    loop {
        let (mut publishes, mut records) = (Vec::new(), Vec::new());
        if claims.is_empty() {
            tokio::select! {
                biased;
                Some(job) = receive(&mut rx.publishes) => publishes.push(job),
                Some(job) = receive(&mut rx.records) => records.push(job),
                Some(job) = receive(&mut rx.claims) => claims.push(job),
                Some(()) = stopped(&rx.stop) => return,
                else => return,
            }
        }
        let busy = last_publishes.is_some_and(|at| at.elapsed() < GATHER_WHILE_WITHIN);
        if wide && busy && !publishes.is_empty() && sqlite.is_some() {
            tokio::time::sleep(GATHER_WIDE).await;
        }
        take_waiting(&mut rx.publishes, &mut publishes, MAX_PUBLISHES);
        take_waiting(&mut rx.records, &mut records, max_records);
        take_waiting(&mut rx.claims, &mut claims, MAX_CLAIMS);
        if !publishes.is_empty() {
            last_publishes = Some(Instant::now());
        }
        if !publishes.is_empty() || !records.is_empty() {
            let messages = publishes.len();
            let queued = write_jobs(&store, sqlite, publishes, records).await;
            // Only a batch with publishes says whether publishes fan out wide.
            if let (Some(queued), true) = (queued, messages > 0) {
                wide = queued >= WIDE_QUEUED * messages;
            }
        }
        if !claims.is_empty() {
            let batch = take_claims(&mut claims);
            run_claims(&store, sqlite, batch).await;
        }
    }
}

/// Resolves when the loop is told to stop; `None` at once if it never is.
async fn stopped(stop: &Option<Arc<CommitThread>>) -> Option<()> {
    stop.as_ref()?.stop.notified().await;
    Some(())
}

async fn receive<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

fn take_waiting<T>(rx: &mut Option<mpsc::Receiver<T>>, into: &mut Vec<T>, max: usize) {
    if let Some(rx) = rx {
        while into.len() < max {
            match rx.try_recv() {
                Ok(job) => into.push(job),
                Err(_) => break,
            }
        }
    }
}

/// Writes one batch of jobs and answers each. Returns how many deliveries its publishes left
/// waiting in the database (not handed to a lane), if it was written as one batch.
async fn write_jobs(
    store: &Database,
    sqlite: &mut Option<rusqlite::Connection>,
    publishes: Vec<PublishJob>,
    records: Vec<RecordJob>,
) -> Option<usize> {
    // Held until the batch's deliveries are handed over (see `notify.rs`).
    let handover = match &store.listener {
        Some(listener) if !publishes.is_empty() => Some(listener.begin_handover().await),
        _ => None,
    };
    let handover = handover.as_deref();
    let results: Vec<&AttemptResult> = records.iter().map(|r| r.result.as_ref()).collect();
    if let Ok((published, queued)) = write_retrying(store, sqlite, &publishes, &results, handover).await {
        for (job, result) in publishes.into_iter().zip(published) {
            let _ = job.reply.send(result);
        }
        for job in records {
            let _ = job.reply.send(Ok(()));
        }
        return Some(queued);
    }
    // The batch as a whole failed (e.g. its commit): each job on its own gets its own answer.
    for job in publishes {
        let result = write_batch(store, sqlite, std::slice::from_ref(&job), &[], handover).await;
        let _ = job
            .reply
            .send(result.map_err(|e| gone_as_not_found(e, Entity::Application)).and_then(|(mut r, _)| r.remove(0)));
    }
    for job in records {
        let result = write_batch(store, sqlite, &[], &[job.result.as_ref()], handover).await;
        let _ = job.reply.send(result.map(|_| ()).map_err(|e| gone_as_not_found(e, Entity::Endpoint)));
    }
    None
}

/// A job that fails alone on a foreign key names a row deleted since it was made: a publish's
/// application, or on SQLite an attempt's endpoint (deleted, with its deliveries, while in
/// flight; PostgreSQL stores no attempt whose delivery is gone, see `integrity.rs`).
fn gone_as_not_found(e: StoreError, what: Entity) -> StoreError {
    if is_foreign_key_violation(&e) {
        StoreError::NotFound(what)
    } else {
        e
    }
}

/// The publishes that carry an idempotency key, each key once: a later publish in the same
/// batch with a key already there is a concurrent repeat, answered as still in progress.
fn keyed_publishes<'a>(
    publishes: &'a [PublishJob],
    repeats: &mut HashMap<usize, IdempotentResponse>,
) -> Vec<(usize, &'a PublishKey)> {
    let mut seen = HashSet::new();
    let mut keyed = Vec::new();
    for (i, job) in publishes.iter().enumerate() {
        if let Some(k) = &job.key {
            if seen.insert((k.scope.as_str(), k.key.as_str())) {
                keyed.push((i, k));
            } else {
                repeats.insert(i, IdempotentResponse::InProgress);
            }
        }
    }
    keyed
}

/// `write_batch`, run again (a few times) when PostgreSQL failed it only to break a deadlock
/// or a serialization conflict.
async fn write_retrying(
    store: &Database,
    sqlite: &mut Option<rusqlite::Connection>,
    publishes: &[PublishJob],
    records: &[&AttemptResult],
    handover: Option<&dyn Handover>,
) -> Result<(Vec<Result<Published>>, usize)> {
    let mut retries = 0;
    loop {
        match write_batch(store, sqlite, publishes, records, handover).await {
            Err(e) if is_transient(&e) && retries < 3 => retries += 1,
            outcome => return outcome,
        }
    }
}

/// Writes publishes and attempt records in one transaction and returns each publish's answer,
/// and how many deliveries the publishes left waiting in the database; the outer error means
/// nothing was committed.
async fn write_batch(
    store: &Database,
    sqlite: &mut Option<rusqlite::Connection>,
    publishes: &[PublishJob],
    records: &[&AttemptResult],
    handover: Option<&dyn Handover>,
) -> Result<(Vec<Result<Published>>, usize)> {
    let now = now_ms();
    let lease_token = new_body_at(now);
    let batch = Batch { store, publishes, records, handover, now, lease_token: &lease_token };
    // A publish's 202 must survive a power cut. Records alone need not reach the disk before
    // their commit returns: one lost in a crash only means a repeated attempt. (SQLite's
    // writer otherwise runs with `synchronous = NORMAL`, which survives a process crash.)
    let durable = !publishes.is_empty();
    let (results, handover, queued) = match (&store.db, sqlite.as_mut()) {
        (Db::Sqlite { writer, .. }, Some(conn)) => {
            let _turn = sqlite_begin(writer, conn, durable).await?;
            let written = batch.write(&mut *conn).await;
            sqlite_end(conn, written, durable)?
        }
        (Db::Postgres(pool), _) => {
            let mut conn = pool.acquire().await?;
            let mut tx = conn.begin().await?;
            if !durable {
                relax_durability(&mut tx, true).await?;
            }
            let written = batch.write(&mut *tx).await?;
            tx.commit().await?;
            written
        }
        (Db::Sqlite { .. }, None) => unreachable!("SQLite's group commit runs on its own connection"),
    };
    // Committed: the lanes may start. (Had the batch failed, dropping the permits would have
    // given their room back.)
    let leased_at = Instant::now();
    for (permit, delivery) in handover {
        permit.send((delivery, leased_at));
    }
    Ok((results, queued))
}

/// Opens a transaction on SQLite's commit connection (see `spawn_committers`), synced at its
/// commit if `sync`. The writer pool's one connection, returned, is the write lock of every
/// other writer (settings, retention): holding it keeps them waiting in the pool, as they
/// always did, rather than on SQLite's busy handler, which sleeps.
pub(crate) async fn sqlite_begin(
    writer: &sqlx::SqlitePool,
    conn: &mut rusqlite::Connection,
    sync: bool,
) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
    let turn = writer.acquire().await?;
    if sync {
        conn.execute_batch("PRAGMA synchronous = FULL")?;
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        if sync {
            conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        }
        return Err(e.into());
    }
    Ok(turn)
}

/// Commits what `sqlite_begin` opened if `written` succeeded, else rolls it back.
pub(crate) fn sqlite_end<T>(conn: &mut rusqlite::Connection, written: Result<T>, sync: bool) -> Result<T> {
    let ended = match &written {
        Ok(_) => conn.execute_batch("COMMIT"),
        Err(_) => conn.execute_batch("ROLLBACK"),
    };
    if ended.is_err() && !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    if sync {
        conn.execute_batch("PRAGMA synchronous = NORMAL")?;
    }
    ended?;
    written
}

/// One batch of a group commit: what `write_batch` writes, on either backend's connection.
struct Batch<'a> {
    store: &'a Database,
    publishes: &'a [PublishJob],
    records: &'a [&'a AttemptResult],
    handover: Option<&'a dyn Handover>,
    now: i64,
    lease_token: &'a str,
}

/// A batch's answers to its publishes, its deliveries to hand to this node's lanes, and how
/// many it left waiting in the database.
type Written = (Vec<Result<Published>>, Vec<(OwnedPermit<Pushed>, ClaimedDelivery)>, usize);

impl<'a> Batch<'a> {
    /// The batch's statements, inside the caller's transaction.
    async fn write<C: BulkInsert>(&self, tx: &mut C) -> Result<Written> {
        let Batch { store, publishes, records, handover, now, lease_token } = *self;
        let backend = store.backend();

        // Publishes' idempotency keys first: a publish whose key is taken stores nothing and
        // answers with what the key's first request got. The key and the message commit
        // together, so no crash can leave one without the other.
        let mut repeats: HashMap<usize, IdempotentResponse> = HashMap::new();
        let keyed = keyed_publishes(publishes, &mut repeats);
        // The (scope, key) pairs this batch stored; the others were taken already.
        let mut stored_keys: HashSet<(String, String)> = HashSet::new();
        for chunk in keyed.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO idempotency_keys (scope, key, status_code, body, created_at) VALUES {} \
                 ON CONFLICT (scope, key) DO NOTHING RETURNING scope, key",
                placeholders(backend, chunk.len(), 5, "")
            );
            let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 5);
            for (_, k) in chunk {
                args.extend([
                    (&k.scope).into(),
                    (&k.key).into(),
                    i64::from(k.status_code).into(),
                    (&k.body).into(),
                    now.into(),
                ]);
            }
            for row in tx.fetch(&sql, &args, &[Kind::Text, Kind::Text]).await? {
                let [scope, key]: [Cell; 2] = row.try_into().expect("two columns");
                stored_keys.insert((scope.string()?, key.string()?));
            }
        }
        let stored = |k: &PublishKey| stored_keys.contains(&(k.scope.clone(), k.key.clone()));
        for (i, k) in &keyed {
            if !stored(k) {
                let rows = tx
                    .fetch(
                        "SELECT status_code, body FROM idempotency_keys WHERE scope = $1 AND key = $2",
                        &[(&k.scope).into(), (&k.key).into()],
                        &[Kind::Int, Kind::Text],
                    )
                    .await?;
                let answer = match rows.into_iter().next() {
                    Some(row) => {
                        let [code, body]: [Cell; 2] = row.try_into().expect("two columns");
                        Some((code.int()?, body.string()?))
                    }
                    None => None,
                };
                repeats.insert(
                    *i,
                    match answer {
                        Some((code, body)) if code > 0 => IdempotentResponse::Done { status_code: code as u16, body },
                        _ => IdempotentResponse::InProgress,
                    },
                );
            }
        }
        let fresh: Vec<&PublishJob> =
            publishes.iter().enumerate().filter(|(i, _)| !repeats.contains_key(i)).map(|(_, j)| j).collect();

        // Publishes: the messages, then their routes, deliveries and endpoint queues. On
        // PostgreSQL the messages' insert takes their applications' lock, so that no endpoint
        // routed to is deleted before this commits (`integrity.rs`); the routes are read after
        // it.
        let inserted: HashMap<MessageId, i64> =
            if fresh.is_empty() { HashMap::new() } else { tx.insert_messages(&fresh).await?.into_iter().collect() };
        // Tests hold a batch here, its messages numbered and not committed (`backlog.rs`).
        crate::test_pause("publish-messages-stored").await;
        let mut routes: HashMap<&str, Vec<Route>> = HashMap::new();
        for job in publishes {
            if !routes.contains_key(job.app_id.as_str()) {
                let rows = tx.fetch(ROUTES_SQL, &[job.app_id.as_str().into()], &ROUTE_COLUMNS).await?;
                routes.insert(job.app_id.as_str(), decode_routes(rows)?);
            }
        }
        let mut routed = route(publishes, &inserted, &routes, handover, now, lease_token);
        for (i, response) in repeats.drain() {
            routed.results[i] = Ok(Published::Repeated(response));
        }
        // A refused publish (its eventId was taken) changed nothing, so its key stays free for
        // the corrected request.
        for (_, k) in keyed.iter().filter(|(i, _)| !inserted.contains_key(publishes[*i].msg.id.as_str())) {
            if stored(k) {
                tx.execute(
                    "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2",
                    &[(&k.scope).into(), (&k.key).into()],
                )
                .await?;
            }
        }
        if !routed.deliveries.is_empty() {
            tx.insert_deliveries(&routed.deliveries).await?;
        }
        // The endpoint queues, in endpoint order (see `Routed::touches`): the touches, and the
        // backlogs this batch started (`backlog.rs`), which are due now, as their lanes take
        // them. A backlog started by another batch meanwhile (PostgreSQL) keeps the earlier
        // mark: both batches' messages are in it.
        let mut backlogs = routed.backlogs.iter().peekable();
        let mut touches = routed.touches.iter().peekable();
        while touches.peek().is_some() || backlogs.peek().is_some() {
            let chunk: Vec<_> =
                std::iter::from_fn(|| touches.next_if(|(e, _)| backlogs.peek().is_none_or(|(b, _)| e <= b)))
                    .take(ROWS_PER_STATEMENT)
                    .collect();
            if !chunk.is_empty() {
                let args: Vec<Arg<'_>> =
                    chunk.iter().flat_map(|(endpoint_id, due)| [endpoint_id.as_str().into(), (*due).into()]).collect();
                tx.execute(&touch_queues_sql(backend, chunk.len()), &args).await?;
                continue;
            }
            if let Some((endpoint_id, after)) = backlogs.next() {
                tx.execute(
                    "INSERT INTO endpoint_queues (endpoint_id, next_due_at, version, backlog_after) VALUES ($1, $2, 1, $3) \
                     ON CONFLICT (endpoint_id) DO UPDATE SET version = endpoint_queues.version + 1, \
                     backlog_after = CASE WHEN endpoint_queues.backlog_after IS NULL \
                     OR endpoint_queues.backlog_after > excluded.backlog_after THEN excluded.backlog_after \
                     ELSE endpoint_queues.backlog_after END, \
                     next_due_at = CASE WHEN endpoint_queues.next_due_at IS NULL OR endpoint_queues.next_due_at > $2 \
                     THEN $2 ELSE endpoint_queues.next_due_at END",
                    &[endpoint_id.as_str().into(), now.into(), (*after).into()],
                )
                .await?;
            }
        }

        // Deliveries due for lanes not on this node: other nodes may hold them (`wakeups.rs`).
        // Sent at commit, not before.
        if backend == crate::Backend::Postgres {
            let mut due: Vec<&str> = routed
                .results
                .iter()
                .filter_map(|r| match r {
                    Ok(Published::Stored(_, wake)) => Some(wake.iter().map(EndpointId::as_str)),
                    _ => None,
                })
                .flatten()
                .collect();
            due.sort_unstable();
            due.dedup();
            for payload in crate::wakeups::payloads(&store.origin, &due) {
                tx.execute(crate::wakeups::NOTIFY_SQL, &[payload.as_str().into()]).await?;
            }
        }

        for chunk in routed.filtered.chunks(ROWS_PER_STATEMENT) {
            let sql = crate::publish::count_filtered_sql(backend, chunk.len());
            let args: Vec<Arg<'_>> = chunk
                .iter()
                .flat_map(|((endpoint_id, hour), (filtered, errors))| {
                    [endpoint_id.as_str().into(), (*hour).into(), (*filtered).into(), (*errors).into()]
                })
                .collect();
            tx.execute(&sql, &args).await?;
        }

        // Records: the deliveries' new states, the endpoints' failing state, the attempts (in
        // that order: an attempt is stored only while its delivery is; see `integrity.rs`).
        for rows in delivery_updates(records, now) {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let (sql, args) = update_deliveries(backend, chunk, now);
                tx.execute(&sql, &args).await?;
            }
        }
        for chunk in failing_updates(records).chunks(ROWS_PER_STATEMENT) {
            let (sql, args) = update_failing(backend, chunk, now);
            tx.execute(&sql, &args).await?;
        }
        let attempts: Vec<_> = records.iter().filter_map(|r| r.attempt.as_ref()).collect();
        if !attempts.is_empty() {
            tx.insert_attempts(&attempts).await?;
        }
        let queued = routed.deliveries.len() - routed.handover.len();
        Ok((routed.results, routed.handover, queued))
    }
}
