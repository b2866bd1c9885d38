//! Backlogs: fan-out that does not pay for endpoints that are behind (issue 12, point 4).
//!
//! A delivery row per message and endpoint is what the queue is made of, and for an endpoint
//! that cannot take them (down, hanging, slower than its publishes) those rows are pure cost:
//! with 100 hanging endpoints next to a healthy one at 200 msg/s, 20,000 rows a second, each
//! written into the table and three indexes, were most of SQLite's commit thread and the
//! healthy endpoint's p99 on a slow machine (BENCHMARKS.md, eleventh to eighteenth sessions).
//!
//! So an endpoint that is behind gets no row at publish time. When a publish finds its lane
//! on this node with all it can hold ([`Room::Full`](crate::Room)), the publish's transaction
//! marks the endpoint's queue row with `backlog_after`: the last of its application's
//! messages (by `seq`, the application's log in commit order) it has taken. Every later
//! message of the application is in the endpoint's backlog, with no write for it. The lane's
//! claims then take the backlog in log order: each reads the messages after `backlog_after`,
//! routes them with the endpoint's settings ([`Route::verdict`], as a publish does), inserts
//! the rows of those it sends, leased, and moves `backlog_after`, all in one transaction;
//! it clears it once it has taken the whole log. Rows are made at the pace the endpoint takes
//! them.
//!
//! What each guarantee rests on:
//! - **Nothing accepted is lost**: the mark commits with the publish that made it; a claim
//!   moves it in the transaction that inserts the rows, so a crash leaves both or neither, and
//!   the rows' leases expire as every claim's do.
//! - **Routing as at publish time**: routing happens when the backlog is taken, so whatever
//!   changes an endpoint's routing (its event types, channels, filter, `fifo`, disabling it)
//!   first turns its backlog into rows under the old settings ([`settle_endpoint_in`]), as a publish would
//!   have; a message sent to one endpoint alone keeps `to_endpoint`.
//! - **Every read stays exact**: what lists or counts an endpoint's deliveries (its stats,
//!   its messages, a message's destinations, a source's deliveries) settles the backlogs it
//!   covers first ([`Store::settle`]), so it reads rows as before. A backlog costs its rows
//!   when someone looks, once, instead of at every publish; a long one is settled in
//!   transactions of [`SETTLE_ROWS`] rows, so that publishes are not held up behind it.
//! - **Retention** keeps every message still in a backlog (`retention.rs`).
//! - **Resend, recover, replay** work on rows; a resend settles the endpoint's backlog first,
//!   so that it brings a waiting delivery forward as before; a row a replay made first is not
//!   made again (the rows' key is the message and the endpoint).
//! - FIFO endpoints never get a backlog (their lane takes nothing from publishes). A
//!   scheduled message in a backlog becomes a row due at its time when it is taken.
//! - Only the node whose lane is full starts a backlog; on another node a publish stores a
//!   row as before, until it sees the mark.
//!
//! A mark is only safe if no message can commit behind it. On SQLite the one writer commits
//! publishes, claims and settles in one order, and numbers each application's messages as it
//! stores them. On PostgreSQL `seq` comes from one sequence, and two nodes commit publish
//! batches in either order; but a batch takes it under its applications' advisory lock
//! (shared, `integrity.rs`), held to its commit, and whatever reads the log past a mark (a
//! claim, a settle) takes that lock exclusively first ([`lock_backlogs`]): every batch that
//! took a `seq` has committed by then, and every later one takes a greater `seq`. Batches
//! of two nodes run side by side, though: one may start a backlog with a mark past the
//! messages of another still in flight, which then finds the mark when it routes. That batch
//! moves the mark back to before its own messages (the earlier mark wins), so they are in the
//! backlog; what the lane re-reads between the two marks it has rows for already, and skips
//! (a row's key is its message and endpoint). (A message there that the endpoint's filter kept
//! back is counted in its stats' `filtered` a second time: a few messages, only when two nodes
//! start one backlog at the same moment.)

use std::collections::HashMap;

use hookd_core::filter::FilterInput;
use hookd_core::matching::{matches, Subscription};
use hookd_core::{ApplicationId, EndpointId, MessageId};

use crate::endpoints::HOUR_MS;
use crate::exec::{Arg, Cell, Exec, Kind};
use crate::publish::{decode_routes, Route};
use crate::queue::claim::{claimed_delivery, ClaimRow};
use crate::DeliveryStatus::{Canceled, Pending, Sending};
use crate::{with_db, Backend, ClaimedDelivery, Result, Store, StoreError, ROWS_PER_STATEMENT};

/// Messages read from the log per statement while a backlog is taken.
const LOG_BATCH: i64 = 256;
/// Rows a read's settle makes per endpoint and transaction ([`Store::settle`]): a backlog of a
/// million messages is not one transaction that every publish waits behind (on SQLite all of
/// them, on PostgreSQL its application's), but transactions of a few milliseconds each. (The
/// tests' backlogs of a few hundred take several.)
const SETTLE_ROWS: usize = 200;

/// A message as routing sees it.
pub(crate) struct Routable<'a> {
    pub event_type: &'a str,
    pub event_id: Option<&'a str>,
    pub payload: &'a str,
    /// The payload is JSON (no `content_type`).
    pub json: bool,
    pub channels: Option<&'a [String]>,
    pub tags: Option<&'a [String]>,
    /// Sent to this endpoint alone.
    pub to_endpoint: Option<&'a str>,
}

/// What routing decides for a message and an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not for this endpoint (its subscriptions, or another endpoint alone).
    Skip,
    /// Its filter kept it back; `error`: the filter failed on it.
    Filtered {
        error: bool,
    },
    Deliver,
}

impl Route {
    /// Whether the endpoint subscribes to the message (event types, channels; or it is sent to
    /// this endpoint alone), before any filter.
    fn subscribes(&self, m: &Routable<'_>) -> bool {
        if let Some(only) = m.to_endpoint {
            return self.id.as_str() == only;
        }
        let sub = Subscription {
            disabled: false,
            event_types: self.event_types.as_deref(),
            channels: self.channels.as_deref(),
        };
        matches(&sub, m.event_type, m.channels)
    }

    /// Routes a message to this endpoint. `input` is the message as filters see it, built by
    /// the first filter that needs it and shared with the next endpoints' filters.
    pub(crate) fn verdict(&self, m: &Routable<'_>, input: &mut Option<FilterInput>) -> Verdict {
        if !self.subscribes(m) {
            return Verdict::Skip;
        }
        // A message sent to one endpoint alone is not filtered.
        if let (Some(filter), None) = (&self.filter, m.to_endpoint) {
            let verdict = filter.as_ref().map_err(Clone::clone).and_then(|filter| {
                filter.accepts(input.get_or_insert_with(|| {
                    FilterInput::new(m.event_type, m.event_id, m.payload, m.json, m.channels, m.tags)
                }))
            });
            if verdict != Ok(true) {
                return Verdict::Filtered { error: verdict.is_err() };
            }
        }
        Verdict::Deliver
    }
}

/// How a backlog is taken.
#[derive(Clone, Copy)]
pub(crate) enum Take<'a> {
    /// By a claim: up to `room` rows, leased until `until` under `token`, which come back as
    /// claimed deliveries.
    Lease { room: usize, until: i64, token: &'a str },
    /// As due rows, at most `rows` of them (see [`Store::settle`]).
    Due { rows: usize },
}

/// What taking a backlog made.
#[derive(Default)]
pub(crate) struct Taken {
    /// The deliveries leased (with [`Take::Lease`]).
    pub claimed: Vec<ClaimedDelivery>,
    /// The backlog is not all taken.
    pub remains: bool,
}

/// The endpoints among `ids` that have a backlog, with where it starts.
pub(crate) async fn backlogs_of<C: Exec>(tx: &mut C, backend: Backend, ids: &[&str]) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let select = "SELECT endpoint_id, backlog_after FROM endpoint_queues WHERE backlog_after IS NOT NULL AND ";
        let (sql, args): (String, Vec<Arg<'_>>) = match backend {
            Backend::Postgres => (format!("{select}endpoint_id = ANY($1::text[])"), vec![Arg::Texts(chunk.to_vec())]),
            Backend::Sqlite => (
                format!("{select}endpoint_id IN ({})", vec!["?"; chunk.len()].join(", ")),
                chunk.iter().map(|&id| Arg::from(id)).collect(),
            ),
        };
        for row in tx.fetch(&sql, &args, &[Kind::Text, Kind::Int]).await? {
            let [id, after]: [Cell; 2] = row.try_into().expect("two columns");
            out.push((id.string()?, after.int()?));
        }
    }
    Ok(out)
}

/// The backlogs of these endpoints, to be taken in the caller's transaction: on PostgreSQL
/// with their applications locked exclusively first (`integrity.rs`), so that no publish
/// batch of theirs is in flight (their messages all committed, none to commit behind a mark
/// moved now). Those that have none cost one read, and no lock.
pub(crate) async fn lock_backlogs<C: Exec>(tx: &mut C, backend: Backend, ids: &[&str]) -> Result<Vec<(String, i64)>> {
    let found = backlogs_of(tx, backend, ids).await?;
    if backend == Backend::Sqlite || found.is_empty() {
        return Ok(found);
    }
    let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
    tx.execute(&crate::integrity::lock_apps_of_endpoints_sql(), &[Arg::Texts(ids.clone())]).await?;
    // Read again under the locks: a settle may have taken one meanwhile.
    backlogs_of(tx, backend, &ids).await
}

/// A message of the log as a backlog reads it.
struct Logged {
    seq: i64,
    id: String,
    app_id: String,
    event_type: String,
    event_id: Option<String>,
    payload: String,
    content_type: Option<String>,
    request: Option<String>,
    channels: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    to_endpoint: Option<String>,
    deliver_at: Option<i64>,
    expunged: bool,
    created_at: i64,
}

const LOG_SQL: &str = "SELECT seq, id, app_id, event_type, event_id, payload, content_type, request, channels, tags, \
     to_endpoint, deliver_at, expunged_at, created_at FROM messages \
     WHERE app_id = $1 AND seq > $2 AND seq IS NOT NULL ORDER BY seq LIMIT $3";
const LOG_KINDS: [Kind; 14] = [
    Kind::Int,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Int,
    Kind::Int,
    Kind::Int,
];

fn decode_logged(row: Vec<Cell>) -> Result<Logged> {
    let [seq, id, app_id, event_type, event_id, payload, content_type, request, channels, tags, to_endpoint, deliver_at, expunged_at, created_at]: [Cell; 14] =
        row.try_into().map_err(|_| StoreError::Corrupt("a logged message has fourteen columns".into()))?;
    Ok(Logged {
        seq: seq.int()?,
        id: id.string()?,
        app_id: app_id.string()?,
        event_type: event_type.string()?,
        event_id: event_id.text()?,
        payload: payload.string()?,
        content_type: content_type.text()?,
        request: request.text()?,
        channels: crate::from_json_opt(channels.text()?)?,
        tags: crate::from_json_opt(tags.text()?)?,
        to_endpoint: to_endpoint.text()?,
        deliver_at: deliver_at.int_opt()?,
        expunged: expunged_at.int_opt()?.is_some(),
        created_at: created_at.int()?,
    })
}

/// The delivery rows a backlog makes, `rows` of them: each the message's, with its status,
/// due time and lease token. A row already there (a resend made it first) is kept, and not
/// returned.
fn insert_rows_sql(backend: Backend, rows: usize) -> String {
    format!(
        "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, next_attempt_at, lease_token, updated_at, \
         in_order, attempts, manual) VALUES {} ON CONFLICT (msg_id, endpoint_id) DO NOTHING RETURNING msg_id",
        crate::placeholders(backend, rows, 7, "$IN_ORDER, 0, FALSE")
    )
}

/// A row [`take`] inserts, and what it was made from.
struct NewRow {
    message: Logged,
    status: crate::DeliveryStatus,
    due: Option<i64>,
}

/// Takes endpoint `endpoint_id`'s backlog, from after message `after` of its application's
/// log, inside the caller's transaction: routes each message, inserts the rows of those it
/// sends (leased or due, as `take` says), counts those its filter keeps back, and moves or
/// clears the endpoint's `backlog_after`.
pub(crate) async fn take<C: Exec>(
    tx: &mut C,
    backend: Backend,
    endpoint_id: &str,
    mut after: i64,
    take: Take<'_>,
    now: i64,
) -> Result<Taken> {
    // The endpoint as routing sees it (`ROUTE_COLUMNS`, no mark), then its application.
    let sql =
        "SELECT id, event_types, channels, filter, fifo, CAST(NULL AS BIGINT), app_id FROM endpoints WHERE id = $1";
    let mut kinds = crate::publish::ROUTE_COLUMNS.to_vec();
    kinds.push(Kind::Text);
    let Some(mut row) = tx.fetch(sql, &[endpoint_id.into()], &kinds).await?.pop() else {
        // Deleted: its queue row went with it.
        return Ok(Taken::default());
    };
    let app = row.pop().expect("seven columns").string()?;
    let route = decode_routes(vec![row])?.pop().expect("one row, one route");
    let mut taken = Taken::default();
    let mut filtered: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut room = match take {
        Take::Lease { room, .. } => room,
        Take::Due { rows } => rows,
    };
    let token = match take {
        Take::Lease { token, .. } => Some(token),
        Take::Due { .. } => None,
    };
    // `in_order` is the same for every row: a boolean on PostgreSQL, 0 or 1 on SQLite.
    let in_order = if route.fifo { "TRUE" } else { "FALSE" };
    loop {
        if room == 0 {
            taken.remains = true;
            break;
        }
        let rows = tx.fetch(LOG_SQL, &[app.as_str().into(), after.into(), LOG_BATCH.into()], &LOG_KINDS).await?;
        let read = rows.len() as i64;
        // The rows to make from this part of the log, as far as the room goes.
        let mut new_rows = Vec::new();
        // What counts against the room: leased rows for a claim, every row for a settle.
        let mut counted = 0;
        // Whether every message read was looked at (not left for want of room).
        let mut looked_at_all = true;
        for row in rows {
            if counted == room {
                looked_at_all = false;
                break;
            }
            let m = decode_logged(row)?;
            after = m.seq;
            let routable = Routable {
                event_type: &m.event_type,
                event_id: m.event_id.as_deref(),
                payload: &m.payload,
                json: m.content_type.is_none(),
                channels: m.channels.as_deref(),
                tags: m.tags.as_deref(),
                to_endpoint: m.to_endpoint.as_deref(),
            };
            match route.verdict(&routable, &mut None) {
                Verdict::Skip => continue,
                Verdict::Filtered { error } => {
                    let count = filtered.entry(m.created_at.div_euclid(HOUR_MS)).or_default();
                    count.0 += 1;
                    count.1 += i64::from(error);
                    continue;
                }
                Verdict::Deliver => {}
            }
            // A message expunged while in the backlog has nothing left to send; one scheduled
            // for later waits for its time; the others are leased to the claim, or due now.
            let (status, due) = match take {
                _ if m.expunged => (Canceled, None),
                _ if m.deliver_at.is_some_and(|at| at > now) => (Pending, m.deliver_at),
                Take::Lease { until, .. } => (Sending, Some(until)),
                Take::Due { .. } => (Pending, Some(m.deliver_at.unwrap_or(m.created_at))),
            };
            counted += usize::from(status == Sending || matches!(take, Take::Due { .. }));
            new_rows.push(NewRow { message: m, status, due });
        }
        let mut inserted = std::collections::HashSet::new();
        for chunk in new_rows.chunks(ROWS_PER_STATEMENT) {
            let sql = insert_rows_sql(backend, chunk.len()).replace("$IN_ORDER", in_order);
            let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 7);
            for r in chunk {
                let token = if r.status == Sending { token } else { None };
                args.extend([
                    r.message.id.as_str().into(),
                    endpoint_id.into(),
                    r.message.app_id.as_str().into(),
                    r.status.code().into(),
                    r.due.into(),
                    token.into(),
                    now.into(),
                ]);
            }
            for row in tx.fetch(&sql, &args, &[Kind::Text]).await? {
                inserted.insert(row.into_iter().next().expect("one column").string()?);
            }
        }
        if let Take::Due { .. } = take {
            room -= new_rows.len();
        }
        for r in new_rows {
            // A row a resend made first stays that resend's: not claimed here.
            if r.status != Sending || !inserted.contains(&r.message.id) {
                continue;
            }
            room -= 1;
            let m = r.message;
            let row = ClaimRow {
                msg_id: MessageId::from_stored(m.id),
                endpoint_id: EndpointId::from_stored(endpoint_id.to_owned()),
                app_id: ApplicationId::from_stored(m.app_id),
                attempts: 0,
                manual: false,
                event_type: m.event_type,
                event_id: m.event_id,
                payload: m.payload,
                content_type: m.content_type,
                request: m.request,
            };
            taken.claimed.push(claimed_delivery(row, token.unwrap_or_default()));
        }
        if looked_at_all && read < LOG_BATCH {
            // The whole log is taken.
            break;
        }
    }
    for (hour, (count, errors)) in filtered {
        let args: [Arg<'_>; 4] = [endpoint_id.into(), hour.into(), count.into(), errors.into()];
        tx.execute(&crate::publish::count_filtered_sql(backend, 1), &args).await?;
    }
    // Due rows (a scheduled message's, or all of them when settling) make the queue due by
    // their time at the latest; lowering it to now is always safe.
    tx.execute(
        "UPDATE endpoint_queues SET backlog_after = $1, version = version + 1, \
         next_due_at = CASE WHEN next_due_at IS NULL OR next_due_at > $2 THEN $2 ELSE next_due_at END \
         WHERE endpoint_id = $3",
        &[taken.remains.then_some(after).into(), now.into(), endpoint_id.into()],
    )
    .await?;
    Ok(taken)
}

/// Settles endpoint `endpoint_id`'s backlog, if it has one, inside the caller's transaction
/// (a change of the endpoint's routing, which must see every message published before it
/// routed as it was; on PostgreSQL the caller holds the application's lock already).
/// Returns whether it had one.
pub(crate) async fn settle_endpoint_in<C: Exec>(tx: &mut C, backend: Backend, endpoint_id: &str) -> Result<bool> {
    let found = backlogs_of(tx, backend, &[endpoint_id]).await?.pop().map(|(_, after)| after);
    if let Some(after) = found {
        let all = Take::Due { rows: usize::MAX };
        take(tx, backend, endpoint_id, after, all, hookd_core::time::now_ms()).await?;
    }
    Ok(found.is_some())
}

/// Which backlogs a read settles.
pub(crate) enum Scope<'a> {
    Endpoint(&'a str),
    /// Those of the applications of these messages.
    Messages(&'a [&'a str]),
    All,
}

impl Store {
    /// Turns the backlogs in `scope` into due rows (see the module's overview), so that what
    /// reads rows next reads them all, as of then; returns the endpoints that had one. Nothing
    /// to do (no backlog there) costs one read.
    pub(crate) async fn settle(&self, scope: Scope<'_>) -> Result<Vec<EndpointId>> {
        let (condition, args): (String, Vec<&str>) = match scope {
            Scope::Endpoint(id) => ("q.endpoint_id = $1".into(), vec![id]),
            Scope::Messages(ids) => (
                format!(
                    "q.endpoint_id IN (SELECT e.id FROM endpoints e JOIN messages m ON m.app_id = e.app_id \
                     WHERE m.id IN ({}))",
                    (1..=ids.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
                ),
                ids.to_vec(),
            ),
            Scope::All => ("TRUE".into(), vec![]),
        };
        // Each with how far it is settled: to its application's last message now. (Its
        // lane's publishes may add to it meanwhile; those come after this read.)
        let sql = format!(
            "SELECT q.endpoint_id, (SELECT MAX(m.seq) FROM messages m WHERE m.app_id = \
             (SELECT e.app_id FROM endpoints e WHERE e.id = q.endpoint_id) AND m.seq IS NOT NULL) \
             FROM endpoint_queues q WHERE q.backlog_after IS NOT NULL AND {condition}"
        );
        let found: Vec<(String, Option<i64>)> = with_db!(self.reader(), p => {
            let query = args.iter().fold(sqlx::query_as(&sql), |q, a| q.bind(*a));
            query.fetch_all(p).await?
        });
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.backend();
        let heads: HashMap<String, i64> = found.iter().map(|(id, head)| (id.clone(), head.unwrap_or(0))).collect();
        let mut waiting: Vec<String> = found.into_iter().map(|(id, _)| id).collect();
        let mut settled = Vec::new();
        // A transaction at a time of at most `SETTLE_ROWS` rows per endpoint, each holding
        // the writer (SQLite) or the application's lock (PostgreSQL) only that long.
        while !waiting.is_empty() {
            let ids: Vec<&str> = waiting.iter().map(String::as_str).collect();
            let now = hookd_core::time::now_ms();
            let remaining: Vec<String> = with_db!(self.writer(), p => {
                let mut tx = p.begin().await?;
                // Read again in the transaction (locked on PostgreSQL): a claim may have
                // taken some since.
                let mut remaining = Vec::new();
                for (endpoint_id, after) in lock_backlogs(&mut *tx, backend, &ids).await? {
                    if heads.get(&endpoint_id).is_some_and(|head| after >= *head) {
                        continue;
                    }
                    let part = Take::Due { rows: SETTLE_ROWS };
                    if take(&mut *tx, backend, &endpoint_id, after, part, now).await?.remains {
                        remaining.push(endpoint_id.clone());
                    }
                    settled.push(EndpointId::from_stored(endpoint_id));
                }
                tx.commit().await?;
                remaining
            });
            waiting = remaining;
        }
        settled.sort_unstable();
        settled.dedup();
        self.announce_due(&settled).await;
        Ok(settled)
    }
}
