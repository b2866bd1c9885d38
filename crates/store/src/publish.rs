//! Publishing: a message and one delivery per matching endpoint, stored together.
//!
//! A publish stores the message, its deliveries, and lowers those endpoints' queue due times
//! in the transaction of a group commit (see `commit.rs`): when it commits, the deliveries are
//! durable. A publish whose `eventId` is taken gets its 409 without failing the others of its
//! batch.
//!
//! Deliveries to endpoints whose lane runs on this node and has room are stored leased to it
//! and handed over once committed (see `notify.rs`); the others are stored due, and the
//! listener is told which endpoints have deliveries due.

use std::collections::HashMap;
use std::sync::Arc;

use hookd_core::filter::{Filter, FilterInput};
use hookd_core::{ApplicationId, EndpointId, MessageId};
use tokio::sync::mpsc::OwnedPermit;
use tokio::sync::oneshot;

use crate::backlog::{Routable, Verdict};
use crate::endpoints::HOUR_MS;
use crate::exec::{Cell, Kind};
use crate::notify::{Handover, Pushed, Room};
use crate::{
    from_json_opt, ClaimedDelivery, DeliveryStatus, IdempotentResponse, Message, NewMessage, Publish, PublishKey,
    Result, Store, StoreError,
};

/// What a publish job did.
pub(crate) enum Published {
    /// The stored message, and the endpoints whose lanes must be told: those with deliveries
    /// due now that were not handed to a lane.
    Stored(Box<Message>, Vec<EndpointId>),
    /// Its idempotency key was taken (see `commit.rs`).
    Repeated(IdempotentResponse),
}

pub(crate) struct PublishJob {
    pub app_id: ApplicationId,
    pub msg: NewMessage,
    /// Stored with the message, in its transaction.
    pub key: Option<PublishKey>,
    pub reply: oneshot::Sender<Result<Published>>,
}

/// An enabled endpoint as routing needs it.
pub(crate) struct Route {
    pub id: EndpointId,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    /// Its filter, compiled. `Err`: a stored filter that no longer compiles (it was checked
    /// when saved, so only a change of CEL implementation could do this); it then keeps every
    /// message back, each counted as a filter error, rather than let them all through.
    pub filter: Option<std::result::Result<Arc<Filter>, String>>,
    /// It delivers in order: its deliveries are stored `in_order` (see the migration 0015).
    pub fifo: bool,
    /// Where its backlog starts, if it has one: publishes store no row for it (`backlog.rs`).
    pub backlog_after: Option<i64>,
}

impl Store {
    /// Stores a message and its deliveries atomically (a 202 may follow: they are durable),
    /// then tells the listener which endpoints have deliveries due.
    pub async fn create_message(&self, app_id: &ApplicationId, msg: &NewMessage) -> Result<Message> {
        match self.publish(app_id, msg, None).await? {
            Publish::Created(message) => Ok(*message),
            Publish::Repeated(_) => unreachable!("a publish without an idempotency key is never a repeat"),
        }
    }

    /// Like [`Store::create_message`], storing `key` in the same transaction: either both
    /// are stored or neither, so a crash between the commit and the answer cannot let a retry
    /// with the same key publish twice. When the key is taken, nothing is stored and the
    /// answer is what the key's first request got.
    pub async fn publish(&self, app_id: &ApplicationId, msg: &NewMessage, key: Option<PublishKey>) -> Result<Publish> {
        let (reply, answer) = oneshot::channel();
        let job = PublishJob { app_id: app_id.clone(), msg: msg.clone(), key, reply };
        self.committers.publishes.send(job).await.map_err(|_| StoreError::Closed)?;
        match answer.await.map_err(|_| StoreError::Closed)?? {
            Published::Stored(message, due) => {
                self.notify_due(&due);
                Ok(Publish::Created(message))
            }
            Published::Repeated(response) => Ok(Publish::Repeated(response)),
        }
    }
}

/// `SELECT` of an application's enabled endpoints, as `Route`s.
pub(crate) const ROUTES_SQL: &str =
    "SELECT e.id, e.event_types, e.channels, e.filter, e.fifo, q.backlog_after FROM endpoints e \
     LEFT JOIN endpoint_queues q ON q.endpoint_id = e.id WHERE e.app_id = $1 AND NOT e.disabled";

/// The kinds of [`ROUTES_SQL`]'s columns.
pub(crate) const ROUTE_COLUMNS: [Kind; 6] = [Kind::Text, Kind::Text, Kind::Text, Kind::Text, Kind::Bool, Kind::Int];

/// The endpoints [`ROUTES_SQL`] read, as `Route`s; the lists are JSON.
pub(crate) fn decode_routes(rows: Vec<Vec<Cell>>) -> Result<Vec<Route>> {
    rows.into_iter()
        .map(|row| {
            let [id, event_types, channels, filter, fifo, backlog]: [Cell; 6] =
                row.try_into().map_err(|_| StoreError::Corrupt("a route has six columns".into()))?;
            Ok(Route {
                id: EndpointId::from_stored(id.string()?),
                event_types: from_json_opt(event_types.text()?)?,
                channels: from_json_opt(channels.text()?)?,
                filter: filter.text()?.map(|source| Filter::cached(&source).map_err(|e| e.to_string())),
                fifo: fifo.bool()?,
                backlog_after: backlog.int_opt()?,
            })
        })
        .collect()
}

/// What a batch of publishes writes once its messages are in: the delivery rows, the queue
/// touches, the answers, and the hand-overs to send once committed.
pub(crate) struct Routed<'a> {
    pub deliveries: Vec<NewDelivery<'a>>,
    /// (endpoint, earliest new due time), in endpoint order: the order in which every
    /// transaction that locks several queue rows takes them, so that two never wait for each
    /// other (a deadlock PostgreSQL would break by failing one).
    pub touches: Vec<(&'a EndpointId, i64)>,
    pub results: Vec<Result<Published>>,
    pub handover: Vec<(OwnedPermit<Pushed>, ClaimedDelivery)>,
    /// ((endpoint, hour of publication), (messages its filter kept back, of which errors)),
    /// in endpoint order like `touches`.
    pub filtered: Vec<(FilterBucket<'a>, FilterCounts)>,
    /// (endpoint, the last message of its application's log it has taken): the endpoints
    /// whose backlog this batch starts (or moves back to before its messages), in endpoint
    /// order (`backlog.rs`).
    pub backlogs: Vec<(&'a EndpointId, i64)>,
}

/// Routes each stored message (`inserted`, with its place in its application's log, see
/// `backlog.rs`) to its endpoints; a message that was not stored lost
/// its `eventId` to an earlier one and gets a conflict.
pub(crate) fn route<'a>(
    jobs: &'a [PublishJob],
    inserted: &HashMap<MessageId, i64>,
    routes: &'a HashMap<&str, Vec<Route>>,
    handover: Option<&dyn Handover>,
    now: i64,
    lease_token: &'a str,
) -> Routed<'a> {
    // Each endpoint queue is touched once per batch, with its earliest new due time. (A
    // delivery handed to a lane has none: it is sending, and made due again only if its node
    // dies before recording it; see `release_expired_handovers`.)
    let mut queue_due: HashMap<&EndpointId, i64> = HashMap::new();
    let mut routed = Routed {
        deliveries: Vec::new(),
        touches: Vec::new(),
        results: Vec::with_capacity(jobs.len()),
        handover: Vec::new(),
        filtered: Vec::new(),
        backlogs: Vec::new(),
    };
    let mut filtered: HashMap<FilterBucket<'_>, FilterCounts> = HashMap::new();
    // The endpoints whose backlog this batch started, and where.
    let mut backlogs: HashMap<&EndpointId, i64> = HashMap::new();
    for job in jobs {
        let msg = &job.msg;
        let Some(&seq) = inserted.get(msg.id.as_str()) else {
            // Message ids are fresh, so the only row it can collide with is one with its eventId.
            let event_id = msg.event_id.as_deref().unwrap_or_default();
            routed.results.push(Err(StoreError::Conflict(format!(
                "a message with eventId '{event_id}' already exists in this application"
            ))));
            continue;
        };
        let routable = Routable {
            event_type: &msg.event_type,
            event_id: msg.event_id.as_deref(),
            payload: &msg.payload,
            json: msg.content_type.is_none(),
            channels: msg.channels.as_deref(),
            tags: msg.tags.as_deref(),
            to_endpoint: msg.to_endpoint.as_ref().map(EndpointId::as_str),
        };
        let mut to_wake = Vec::new();
        // Built for the message's first filter, then shared by the others.
        let mut input: Option<FilterInput> = None;
        for endpoint in &routes[job.app_id.as_str()] {
            let (endpoint_id, in_order) = (&endpoint.id, endpoint.fifo);
            // In a backlog: its lane routes it when it takes it. (On PostgreSQL a batch of
            // another node may have started the backlog after this one numbered its messages:
            // then the mark goes back to before them, so that they are in it. The claims
            // that take it wait for this batch; see `backlog.rs`.)
            if let Some(after) = backlogs.get(endpoint_id).copied().or(endpoint.backlog_after) {
                if seq <= after {
                    backlogs.insert(endpoint_id, after.min(seq - 1));
                }
                continue;
            }
            match endpoint.verdict(&routable, &mut input) {
                Verdict::Skip => continue,
                Verdict::Filtered { error } => {
                    let count = filtered.entry((endpoint_id, msg.created_at.div_euclid(HOUR_MS))).or_default();
                    count.0 += 1;
                    count.1 += i64::from(error);
                    continue;
                }
                Verdict::Deliver => {}
            }
            // A FIFO endpoint's deliveries wait their turn in the database; its lane takes
            // none from a publish (read here in the publish's transaction, so that a publish
            // committed after the endpoint turned FIFO never hands one to a lane that has not
            // noticed yet).
            let room = match handover {
                Some(handover) if msg.deliver_at <= now && !in_order => handover.reserve(endpoint_id),
                _ => Room::None,
            };
            match room {
                Room::Reserved(permit) => {
                    routed.handover.push((permit, claimed(job, endpoint_id, lease_token)));
                    routed.deliveries.push(NewDelivery {
                        job,
                        endpoint_id,
                        in_order,
                        handed_over: Some((lease_token, now)),
                    });
                    continue;
                }
                // The lane has all it can hold: the endpoint is behind, and this message
                // starts its backlog (`backlog.rs`). The lane takes it from the log once it
                // has room (the reservation told it to look).
                Room::Full => {
                    backlogs.insert(endpoint_id, seq - 1);
                    continue;
                }
                Room::None => to_wake.push(endpoint_id.clone()),
            }
            let earliest = queue_due.entry(endpoint_id).or_insert(msg.deliver_at);
            *earliest = (*earliest).min(msg.deliver_at);
            routed.deliveries.push(NewDelivery { job, endpoint_id, in_order, handed_over: None });
        }
        routed.results.push(Ok(Published::Stored(Box::new(msg.stored(&job.app_id)), to_wake)));
    }
    routed.touches = queue_due.into_iter().collect();
    routed.touches.sort_unstable();
    routed.filtered = filtered.into_iter().collect();
    routed.filtered.sort_unstable();
    routed.backlogs = backlogs.into_iter().collect();
    routed.backlogs.sort_unstable();
    routed
}

/// Adds to endpoints' counts of messages their filters kept back: a statement for `rows` rows
/// of (endpoint id, hour, filtered, errors), bound in that order.
pub(crate) fn count_filtered_sql(backend: crate::Backend, rows: usize) -> String {
    format!(
        "INSERT INTO endpoint_filtered (endpoint_id, hour, filtered, errors) VALUES {} \
         ON CONFLICT (endpoint_id, hour) DO UPDATE SET filtered = endpoint_filtered.filtered + excluded.filtered, \
         errors = endpoint_filtered.errors + excluded.errors",
        crate::placeholders(backend, rows, 4, "")
    )
}

/// An endpoint and an hour (since the epoch) of publication.
pub(crate) type FilterBucket<'a> = (&'a EndpointId, i64);
/// Messages a filter kept back, and of those the ones it failed on.
pub(crate) type FilterCounts = (i64, i64);

/// A delivery row to insert.
pub(crate) struct NewDelivery<'a> {
    pub job: &'a PublishJob,
    pub endpoint_id: &'a EndpointId,
    /// Its endpoint delivers in order (`deliveries.in_order`).
    pub in_order: bool,
    /// Handed to a lane of this node by this publish: its lease token and start.
    pub handed_over: Option<(&'a str, i64)>,
}

impl<'a> NewDelivery<'a> {
    /// The values of its columns after msg_id, endpoint_id and app_id: due, updated_at,
    /// status, lease_token. A delivery handed over is sending with no due time, leased from
    /// `updated_at` on (see `queue/state.rs`) until its lease runs out unrecorded.
    pub fn columns(&self) -> (Option<i64>, i64, i64, Option<&'a str>) {
        match self.handed_over {
            None => (Some(self.job.msg.deliver_at), self.job.msg.created_at, DeliveryStatus::Pending.code(), None),
            Some((token, at)) => (None, at, DeliveryStatus::Sending.code(), Some(token)),
        }
    }
}

/// A delivery as its lane receives it.
fn claimed(job: &PublishJob, endpoint_id: &EndpointId, lease_token: &str) -> ClaimedDelivery {
    ClaimedDelivery {
        msg_id: job.msg.id.clone(),
        endpoint_id: endpoint_id.clone(),
        app_id: job.app_id.clone(),
        attempts: 0,
        manual: false,
        event_type: job.msg.event_type.clone(),
        event_id: job.msg.event_id.clone(),
        payload: job.msg.payload.clone(),
        content_type: job.msg.content_type.clone(),
        request: job.msg.request.clone(),
        lease_token: lease_token.to_owned(),
    }
}
