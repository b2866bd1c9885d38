//! Persistence for hookd: applications, event types, endpoints, messages, attempts, tokens,
//! idempotency keys, the durable delivery queue, and the webhook tester's inboxes.
//!
//! One [`Store`] serves both backends. SQLite (embedded, the default) and PostgreSQL (for
//! scale-out) run the same SQL text wherever the dialects agree, which is almost everywhere:
//! numbered `$n` parameters, `ON CONFLICT`, `RETURNING`, partial indexes. The few places where
//! they differ (row locking in the queue) branch on [`Backend`]. Each backend has its own
//! versioned migrations under `migrations/`.
//!
//! The [`with_db!`] macro is what keeps the logic written once: it expands a block for each
//! concrete pool type, so every query is type-checked against both drivers without a layer of
//! dynamic dispatch.
//!
//! What follows a commit (deliveries became due, an endpoint changed, fresh deliveries handed
//! to this node's lanes) reaches the worker through one interface, [`DeliveryListener`]
//! (`notify.rs`), which the store defines and the worker implements.

mod apps;
mod backlog;
mod bulk;
mod checkpoint;
mod commit;
mod endpoints;
mod event_types;
mod exec;
mod filter;
mod idempotency;
mod inboxes;
mod integrity;
mod messages;
mod migrate;
mod models;
mod notify;
mod publish;
mod queue;
mod retention;
mod sealed;
mod sources;
mod tokens;
mod wakeups;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hookd_core::sealing::Sealer;
use hookd_core::EndpointId;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use endpoints::LaneEndpoint;
pub use filter::{ApplicationFilter, AttemptFilter, DeliveryFilter, MessageFilter};
pub use models::*;
pub use notify::{DeliveryListener, Handover, Pushed, Room};
pub use queue::{AttemptResult, ClaimedDelivery, DeliveryClaim, DeliveryOutcome};
pub use sources::MAX_REFUSALS_PER_SOURCE;

/// What a lookup did not find, so that a "not found" says what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Application,
    EventType,
    Endpoint,
    Message,
    Attempt,
    Inbox,
    InboxRequest,
    Source,
    /// A row a statement expected (no more precise name applies).
    Row,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::Application => "application",
            Entity::EventType => "event type",
            Entity::Endpoint => "endpoint",
            Entity::Message => "message",
            Entity::Attempt => "attempt",
            Entity::Inbox => "inbox",
            Entity::InboxRequest => "request",
            Entity::Source => "source",
            Entity::Row => "entity",
        })
    }
}

/// Errors of the store, mapped from database errors where they mean something to the caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(Entity),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// An error of the SQLite group commit's own connection (see `exec.rs`).
    #[error("database error")]
    Sqlite(#[source] rusqlite::Error),
    #[error("migration {version} failed")]
    Migration {
        version: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("the store is shut down")]
    Closed,
    /// A secret could not be sealed or opened (a main key missing or wrong).
    #[error("secrets at rest: {0}")]
    Sealing(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound(Entity::Row),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StoreError::Unavailable(e),
            other => StoreError::Database(other),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether a database error is a violation of a unique constraint.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether a transaction failed only because of other transactions (PostgreSQL broke a
/// deadlock or a serialization conflict), so running it again is the fix.
fn is_transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db)) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// Whether a statement referred to a row that is gone (e.g. a message for an application
/// deleted meanwhile by another node).
fn is_foreign_key_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => db.is_foreign_key_violation(),
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
            failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
        }
        _ => false,
    }
}

/// Rows per multi-row statement (well under both databases' parameter limits).
pub(crate) const ROWS_PER_STATEMENT: usize = 200;

/// Writes the parameters of a statement in the order they are bound: `$1`, `$2`, … for
/// PostgreSQL, plain `?` for SQLite. (SQLite finds a numbered parameter's name by walking a
/// list, so binding a multi-row statement with thousands of `$n` parameters is quadratic.)
pub(crate) struct Params {
    sqlite: bool,
    next: usize,
}

impl Params {
    pub fn new(backend: Backend) -> Self {
        Self { sqlite: backend == Backend::Sqlite, next: 1 }
    }

    /// The next parameter.
    pub fn next(&mut self) -> String {
        self.next += 1;
        if self.sqlite {
            "?".to_owned()
        } else {
            format!("${}", self.next - 1)
        }
    }

    /// `(p, p, …, fixed), (p, …, fixed), …` for `rows` rows of `params` parameters each
    /// (`fixed`: constant values appended to every row, or empty).
    pub fn rows(&mut self, rows: usize, params: usize, fixed: &str) -> String {
        (0..rows)
            .map(|_| {
                let mut values: Vec<String> = (0..params).map(|_| self.next()).collect();
                if !fixed.is_empty() {
                    values.push(fixed.to_owned());
                }
                format!("({})", values.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A statement's worth of rows: `rows` rows of `params` parameters each.
/// A pause for tests, to hold a race open: when `HOOKD_TEST_PAUSE` is `point:milliseconds`,
/// whatever reaches `point` waits that long there. Unset (as it always is outside tests), a
/// read of a cached value.
pub(crate) async fn test_pause(point: &str) {
    static PAUSE: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        let value = std::env::var("HOOKD_TEST_PAUSE").ok()?;
        let (name, ms) = value.split_once(':')?;
        Some((name.to_owned(), ms.parse().ok()?))
    });
    if let Some((name, ms)) = pause {
        if name == point {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
        }
    }
}

pub(crate) fn placeholders(backend: Backend, rows: usize, params: usize, fixed: &str) -> String {
    Params::new(backend).rows(rows, params, fixed)
}

/// Maps a unique violation to a conflict with a message for the API user.
fn conflict_or(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(message())
    } else {
        e.into()
    }
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The connection pools of one backend.
#[derive(Clone)]
enum Db {
    /// SQLite allows one writer at a time; writes go through a single connection so they queue
    /// in the pool instead of failing with SQLITE_BUSY, while reads run in parallel (WAL).
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// Borrowed pool for one query, of either backend.
enum PoolRef<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool (`&SqlitePool` or `&PgPool`).
macro_rules! with_db {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::PoolRef::Sqlite($p) => $body,
            $crate::PoolRef::Postgres($p) => $body,
        }
    };
}
pub(crate) use with_db;

/// Options for opening a store.
#[derive(Clone)]
pub struct StoreOptions {
    /// PostgreSQL pool size (SQLite uses one writer and this many readers).
    pub max_connections: u32,
    /// How long a request waits for a connection before failing.
    pub acquire_timeout: Duration,
    /// Told what follows each commit (the worker of this node); `None` on a node that
    /// delivers nothing.
    pub listener: Option<Arc<dyn DeliveryListener>>,
    /// Seals secrets before they are written and opens them when read (see `sealed.rs`);
    /// `None` stores them as they are (tools that never touch secrets).
    pub sealer: Option<Arc<Sealer>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(5), listener: None, sealer: None }
    }
}

/// The pools and the listener: what every statement runs on. The group-commit and claim
/// tasks own one; [`Store`] adds the channels to those tasks.
#[derive(Clone)]
pub(crate) struct Database {
    db: Db,
    listener: Option<Arc<dyn DeliveryListener>>,
    /// Names this store in its cross-node wake-ups (`wakeups.rs`), so it ignores its own.
    origin: Arc<str>,
}

/// The store. Cheap to clone (pools are reference counted).
#[derive(Clone)]
pub struct Store {
    base: Database,
    /// Hands publishes and attempt records to the group-commit tasks.
    committers: commit::Committers,
    claimer: tokio::sync::mpsc::Sender<queue::ClaimJob>,
    sealer: Option<Arc<Sealer>>,
}

/// How long an SQLite connection waits for another's write lock before failing.
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The page cache of a connection that writes (in KiB, negative as `cache_size` takes it):
/// sqlx's writer and the group commit's own connection (`commit.rs`).
pub(crate) const SQLITE_WRITER_CACHE: &str = "-32768";

impl Store {
    /// Opens (creating if needed) an SQLite database file and applies migrations.
    pub async fn open_sqlite(path: &Path, options: &StoreOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode survives a process crash; publishes switch to FULL so that a
            // 202 also survives a power cut (see publish.rs).
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .pragma("temp_store", "memory");
        // Page caches are ceilings, not allocations, but a busy connection fills its own. The
        // writer's holds the queue's hot index pages (the default 2 MB is far too small under
        // load); readers keep little, as the OS caches the file for them anyway, so that
        // memory stays bounded however many readers are open.
        //
        // Neither pool tests a connection before handing it out: one to a local file does not
        // go stale, and the test would add a round trip to its thread.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(
                connect
                    .clone()
                    .pragma("cache_size", SQLITE_WRITER_CACHE)
                    .pragma("wal_autocheckpoint", checkpoint::WRITER_AUTOCHECKPOINT),
            )
            .await
            .map_err(StoreError::Unavailable)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.pragma("cache_size", "-4096"))
            .await
            .map_err(StoreError::Unavailable)?;
        let commit = commit::open_sqlite_connection(path)?;
        Self::start(Db::Sqlite { writer, reader }, Some(commit), options).await
    }

    /// Connects to PostgreSQL and applies migrations.
    pub async fn open_postgres(url: &str, options: &StoreOptions) -> Result<Self> {
        let connect = PgConnectOptions::from_str(url).map_err(StoreError::Unavailable)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(StoreError::Unavailable)?;
        Self::start(Db::Postgres(pool), None, options).await
    }

    /// Opens the store a `--database-url` names: `postgres://…`, `postgresql://…` or
    /// `sqlite://PATH`.
    pub async fn open_url(url: &str, options: &StoreOptions) -> Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Self::open_sqlite(Path::new(path), options).await
        } else {
            Self::open_postgres(url, options).await
        }
    }

    /// Migrates and starts the group-commit and claim tasks.
    /// `sqlite_commit`: on SQLite, the group commit's own connection (see `commit.rs`).
    async fn start(db: Db, sqlite_commit: Option<rusqlite::Connection>, options: &StoreOptions) -> Result<Self> {
        let origin: Arc<str> = hookd_core::id::new_body_at(hookd_core::time::now_ms()).into();
        let base = Database { db, listener: options.listener.clone(), origin };
        base.migrate().await?;
        if let (Db::Postgres(pool), Some(listener)) = (&base.db, &base.listener) {
            wakeups::spawn_listener(pool.clone(), base.origin.clone(), listener.clone());
        }
        let (claimer, claims) = queue::claim_channel();
        let committers = commit::spawn_committers(base.clone(), sqlite_commit, claims);
        if let Db::Sqlite { reader, .. } = &base.db {
            checkpoint::spawn_checkpointer(reader.clone(), committers.publishes.downgrade());
        }
        Ok(Self { base, committers, claimer, sealer: options.sealer.clone() })
    }

    pub fn backend(&self) -> Backend {
        self.base.backend()
    }

    fn writer(&self) -> PoolRef<'_> {
        self.base.writer()
    }

    fn reader(&self) -> PoolRef<'_> {
        self.base.reader()
    }

    /// Tells the listener that these endpoints have deliveries due now.
    fn notify_due(&self, endpoint_ids: &[EndpointId]) {
        if let (Some(listener), false) = (&self.base.listener, endpoint_ids.is_empty()) {
            listener.deliveries_due(endpoint_ids);
        }
    }

    /// Tells this node's listener, and on PostgreSQL the other nodes too (`wakeups.rs`), that
    /// these endpoints have deliveries due now: after a resend, a recovery, an endpoint
    /// enabled again. (A publish batch announces its own before its commit.) A failed
    /// announcement is logged, not returned: the change is committed, and the lanes' look
    /// for unannounced work (every 30 s) finds it.
    async fn announce_due(&self, endpoint_ids: &[EndpointId]) {
        self.notify_due(endpoint_ids);
        self.tell_other_nodes(wakeups::NOTIFY_SQL, endpoint_ids, "due deliveries").await;
    }

    /// Tells this node's listener, and on PostgreSQL the other nodes too (`wakeups.rs`), that
    /// these endpoints' settings changed or that they were deleted, once that is committed.
    /// A failed announcement is logged: the lanes re-read their endpoint now and then anyway.
    async fn announce_changed(&self, endpoint_ids: &[EndpointId]) {
        if let Some(listener) = &self.base.listener {
            endpoint_ids.iter().for_each(|id| listener.endpoint_changed(id));
        }
        self.tell_other_nodes(wakeups::NOTIFY_CHANGED_SQL, endpoint_ids, "changed endpoints").await;
    }

    /// Sends `notify_sql` (one of `wakeups.rs`'s) naming these endpoints, on PostgreSQL.
    async fn tell_other_nodes(&self, notify_sql: &'static str, endpoint_ids: &[EndpointId], what: &str) {
        if let (Db::Postgres(pool), false) = (&self.base.db, endpoint_ids.is_empty()) {
            let ids: Vec<&str> = endpoint_ids.iter().map(EndpointId::as_str).collect();
            for payload in wakeups::payloads(&self.base.origin, &ids) {
                if let Err(e) = sqlx::query(notify_sql).bind(payload).execute(pool).await {
                    tracing::warn!(error = %e, "telling the other nodes of {what} failed");
                }
            }
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        with_db!(self.reader(), p => sqlx::query("SELECT 1").execute(p).await?.rows_affected());
        Ok(())
    }

    /// Closes all connections (waits for in-use ones to be returned).
    pub async fn close(&self) {
        if let Some(thread) = &self.committers.thread {
            thread.stop().await;
        }
        match &self.base.db {
            Db::Sqlite { writer, reader } => {
                writer.close().await;
                reader.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}

impl Database {
    fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The pool for statements that write.
    fn writer(&self) -> PoolRef<'_> {
        match &self.db {
            Db::Sqlite { writer, .. } => PoolRef::Sqlite(writer),
            Db::Postgres(p) => PoolRef::Postgres(p),
        }
    }

    /// The pool for read-only statements.
    fn reader(&self) -> PoolRef<'_> {
        match &self.db {
            Db::Sqlite { reader, .. } => PoolRef::Sqlite(reader),
            Db::Postgres(p) => PoolRef::Postgres(p),
        }
    }
}

impl Store {
    /// Deletes the row of `table` with this id (its dependants go with it, by cascade);
    /// `NotFound` when there was none.
    async fn delete_by_id(&self, table: &'static str, entity: Entity, id: &str) -> Result<()> {
        let sql = format!("DELETE FROM {table} WHERE id = $1");
        let deleted = with_db!(self.writer(), p => sqlx::query(&sql).bind(id).execute(p).await?.rows_affected());
        found(deleted, entity)
    }
}

/// A statement meant for one row touched `rows`: none means that row does not exist.
pub(crate) fn found(rows: u64, entity: Entity) -> Result<()> {
    if rows == 0 {
        return Err(StoreError::NotFound(entity));
    }
    Ok(())
}

/// Serializes a value for a JSON TEXT column.
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("JSON-serializable domain value")
}

/// Parses a JSON TEXT column.
fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json_opt<T: serde::de::DeserializeOwned>(s: Option<String>) -> Result<Option<T>> {
    s.map(|s| from_json(&s)).transpose()
}

/// The SQL tail that selects one page by `key_col`, binding the cursor (if any) as parameter
/// `$param`. Lists run from the largest key down (newest first, as ids are time-ordered)
/// unless `ascending` or the query's order says otherwise. Returns the tail and the cursor
/// value to bind.
fn page_sql(key_col: &str, q: &ListQuery, param: usize, ascending: bool) -> (String, Option<String>) {
    let ascending = q.order.map_or(ascending, |o| o == Order::Ascending);
    let limit = q.limit + 1; // one more tells whether another page exists
    let (forward, back, fwd_cmp, back_cmp) =
        if ascending { ("ASC", "DESC", ">", "<") } else { ("DESC", "ASC", "<", ">") };
    match &q.cursor {
        None => (format!(" ORDER BY {key_col} {forward} LIMIT {limit}"), None),
        Some(Cursor::Older(k)) => {
            (format!(" AND {key_col} {fwd_cmp} ${param} ORDER BY {key_col} {forward} LIMIT {limit}"), Some(k.clone()))
        }
        Some(Cursor::Newer(k)) => {
            (format!(" AND {key_col} {back_cmp} ${param} ORDER BY {key_col} {back} LIMIT {limit}"), Some(k.clone()))
        }
    }
}

/// Turns the rows fetched with [`page_sql`] into a page in list order.
fn finish_page<T, K: AsRef<str> + ?Sized>(mut rows: Vec<T>, q: &ListQuery, key: impl Fn(&T) -> &K) -> Page<T> {
    let done = rows.len() <= q.limit as usize;
    rows.truncate(q.limit as usize);
    if matches!(q.cursor, Some(Cursor::Newer(_))) {
        rows.reverse();
    }
    Page {
        iterator: rows.last().map(|r| key(r).as_ref().to_owned()),
        prev_iterator: rows.first().map(|r| format!("-{}", key(r).as_ref())),
        done,
        data: rows,
    }
}
