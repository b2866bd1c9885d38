//! Fresh deliveries handed straight to the lanes of this node.
//!
//! A lane working an endpoint on this node attaches here. A publish routed to that endpoint
//! then stores the delivery as already sending (status 3, no due time, leased from its
//! `updated_at`) and, once its transaction has committed, hands it to the lane over a bounded
//! channel: no wake-up, no claim transaction, no second trip through the database before the
//! attempt, and no entry in the due-time indexes to add and remove again. When the channel is
//! full (the endpoint is slow) or no lane is attached, the delivery is stored due as usual and
//! the endpoint's lane claims it later (a full lane is told so by a flag rather than woken: it
//! has work enough until it has room).
//!
//! A lane that stops detaches first. Detaching waits until no publish batch is in progress,
//! and publish batches hold the registry for their whole transaction, so a delivery is never
//! leased to a lane that no longer reads its channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, RwLock, RwLockReadGuard};

use crate::{ClaimedDelivery, Store};

/// A delivery leased to this node by its publish, with when its lease began.
pub type Pushed = (ClaimedDelivery, Instant);

/// An attached lane's end of the hand-over: what publishes leased to it, and the token that
/// detaches exactly this attachment (a newer lane of the same endpoint may replace it).
pub struct LaneInbox {
    pub deliveries: mpsc::Receiver<Pushed>,
    overflowed: Arc<AtomicBool>,
    attachment: u64,
}

impl LaneInbox {
    /// Whether publishes stored deliveries due for this lane because it was full (they are
    /// not woken for), since the last call.
    pub fn take_overflowed(&self) -> bool {
        self.overflowed.swap(false, Ordering::Relaxed)
    }
}

pub(crate) struct Attached {
    pub tx: mpsc::Sender<Pushed>,
    pub overflowed: Arc<AtomicBool>,
    attachment: u64,
}

/// The lanes attached on this node, by endpoint id.
#[derive(Default)]
pub(crate) struct LocalLanes {
    lanes: RwLock<HashMap<String, Attached>>,
    next_attachment: AtomicU64,
}

impl LocalLanes {
    /// Held by a publish batch from before its deliveries are routed until they are handed
    /// over.
    pub async fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Attached>> {
        self.lanes.read().await
    }
}

impl Store {
    /// Attaches the lane of `endpoint_id` (whose endpoint lease this node holds): publishes
    /// hand it up to `capacity` waiting deliveries, each leased from its hand-over for the
    /// node's lease length (after which `release_expired_handovers` makes it due again).
    pub async fn attach_lane(&self, endpoint_id: &str, capacity: usize) -> LaneInbox {
        let (tx, deliveries) = mpsc::channel(capacity.max(1));
        let attachment = self.local_lanes.next_attachment.fetch_add(1, Ordering::Relaxed);
        let overflowed = Arc::new(AtomicBool::new(false));
        let entry = Attached { tx, overflowed: overflowed.clone(), attachment };
        self.local_lanes.lanes.write().await.insert(endpoint_id.to_owned(), entry);
        LaneInbox { deliveries, overflowed, attachment }
    }

    /// Detaches a lane; once this returns no publish will hand it anything more, and whatever
    /// was handed over is in `inbox` (closed, ready to drain).
    pub async fn detach_lane(&self, endpoint_id: &str, inbox: &mut LaneInbox) {
        let mut lanes = self.local_lanes.lanes.write().await;
        if lanes.get(endpoint_id).is_some_and(|a| a.attachment == inbox.attachment) {
            lanes.remove(endpoint_id);
        }
        inbox.deliveries.close();
    }
}
