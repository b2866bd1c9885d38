//! How committed work reaches whoever delivers it on this node.
//!
//! The store keeps data; it does not know lanes, dispatchers or wake-ups. After it commits
//! something that makes deliveries due (a publish, a resend, a recovery, an endpoint coming
//! back from disabled, an expired hand-over) or changes an endpoint, it tells the
//! [`DeliveryListener`] it was opened with, if any (and on PostgreSQL the other nodes', see
//! `wakeups.rs`). The worker implements it; a node without a worker (`--role api`) opens its
//! store without one, and the workers on other nodes find the work by polling the queue.
//!
//! The listener can also take fresh deliveries straight from a publish ([`Handover`]): a
//! delivery to an endpoint whose lane runs on this node and has room is stored already
//! leased to that lane (status "sending", no due time) and handed to it in memory once the
//! transaction has committed: no wake-up, no claim transaction, no second trip through the
//! database before the attempt. If the node dies before recording the attempt, the lease runs
//! out and the delivery becomes due again (`release_expired_handovers`).

use std::time::Instant;

use hookd_core::EndpointId;
use tokio::sync::mpsc::OwnedPermit;

use crate::ClaimedDelivery;

/// A delivery leased to this node by its publish, with when its lease began.
pub type Pushed = (ClaimedDelivery, Instant);

/// What the store tells the delivery side of this node after a commit. Implemented by the
/// worker. Calls are cheap and never block: they only signal.
#[async_trait::async_trait]
pub trait DeliveryListener: Send + Sync + 'static {
    /// These endpoints have deliveries due now that were stored due (not handed over).
    fn deliveries_due(&self, endpoint_ids: &[EndpointId]);

    /// This endpoint's settings changed (URL, secrets, limits, disabled…, or its
    /// application's rate limit) or it was deleted. On PostgreSQL, also for changes made on
    /// other nodes.
    fn endpoint_changed(&self, endpoint_id: &EndpointId);

    /// Other nodes' announcements (of due deliveries and of changed endpoints) may have been
    /// missed: the connection that hears them was (re)opened. Whatever relies on them should
    /// look again.
    fn announcements_missed(&self);

    /// Opens the hand-over of one publish batch. It is held from before the batch's
    /// deliveries are routed until they are handed over after the commit, so that a lane
    /// detaching meanwhile waits for it (and never misses a delivery leased to it).
    async fn begin_handover(&self) -> Box<dyn Handover>;
}

/// One publish batch's hand-over (see [`DeliveryListener::begin_handover`]).
pub trait Handover: Send + Sync {
    /// Reserves room for one delivery in the lane of `endpoint_id` on this node.
    fn reserve(&self, endpoint_id: &EndpointId) -> Room;
}

/// Whether a lane of this node takes a delivery straight from its publish.
pub enum Room {
    /// Yes: store it leased to this node and send it through the permit once committed.
    Reserved(OwnedPermit<Pushed>),
    /// The lane has all it can hold: store it due; the lane claims it once it has room, so
    /// there is nothing to wake.
    Full,
    /// No lane of this node takes it: store it due and wake the endpoint.
    None,
}
