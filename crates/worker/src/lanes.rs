//! This node's lanes as the rest of the node reaches them: the worker's side of
//! [`hookd_store::DeliveryListener`].
//!
//! The store tells it what its commits mean for delivery: endpoints with deliveries due (their
//! lane is woken, or the dispatcher, which claims endpoints that have no lane here), endpoints
//! whose settings changed (their lane reads them again), and fresh deliveries from publishes,
//! which go straight to a lane that has attached itself here (see `hookd_store`'s
//! `notify.rs` for why).
//!
//! A lane that stops detaches first. Detaching takes the registry's write lock, and a publish
//! batch holds its read lock from routing until hand-over, so a delivery is never leased to a
//! lane that no longer reads its channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hookd_core::EndpointId;
use hookd_store::{DeliveryListener, Handover, Pushed, Room};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify, OwnedRwLockReadGuard, RwLock};

/// How the dispatcher and the store reach one running lane.
#[derive(Clone)]
pub(crate) struct LaneSignals {
    /// New due work.
    pub wake: Arc<Notify>,
    /// Set (with a wake) when the endpoint's settings changed.
    pub changed: Arc<AtomicBool>,
    /// Which run of the endpoint's lane this is (an endpoint can be let go and claimed again
    /// before the old lane's end is noticed).
    pub run: u64,
}

/// A lane's end of the hand-over: what publishes leased to it, and the token that detaches
/// exactly this attachment (a newer lane of the same endpoint may replace it).
pub(crate) struct LaneInbox {
    pub deliveries: mpsc::Receiver<Pushed>,
    overflowed: Arc<AtomicBool>,
    room: Arc<AtomicUsize>,
    attachment: u64,
}

impl LaneInbox {
    /// Lets publishes hand over no more than `n` deliveries waiting here (at most the
    /// inbox's capacity); past that they find the lane full, and the endpoint's messages wait
    /// in its backlog. A lane whose endpoint hangs wants almost nothing handed over: what it
    /// cannot start before its lease runs short, it would only give back.
    pub fn allow(&self, n: usize) {
        self.room.store(n, Ordering::Relaxed);
    }

    /// Whether publishes stored deliveries due for this lane because it was full (they are
    /// not woken for), since the last call.
    pub fn take_overflowed(&self) -> bool {
        self.overflowed.swap(false, Ordering::Relaxed)
    }
}

struct Attached {
    tx: mpsc::Sender<Pushed>,
    overflowed: Arc<AtomicBool>,
    /// How many may wait in the inbox ([`LaneInbox::allow`]).
    room: Arc<AtomicUsize>,
    attachment: u64,
}

/// The lanes running on this node. Created before the store (which is opened with it as its
/// listener) and handed to the dispatcher.
#[derive(Default)]
pub struct Lanes {
    /// Wakes the dispatcher: an endpoint without a lane here has work to claim.
    dispatcher: Notify,
    running: Mutex<HashMap<EndpointId, LaneSignals>>,
    attached: Arc<RwLock<HashMap<EndpointId, Attached>>>,
    next_attachment: AtomicU64,
    /// Every lane slot is taken and other endpoints are due: an idle lane lets its endpoint
    /// go at once instead of holding on for more (see `lane.rs`), so that a few endpoints
    /// with a trickle of traffic cannot keep the rest waiting.
    contended: AtomicBool,
}

impl Lanes {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Whether endpoints wait for a lane slot (set by the dispatcher).
    pub(crate) fn contended(&self) -> bool {
        self.contended.load(Ordering::Relaxed)
    }

    pub(crate) fn set_contended(&self, contended: bool) {
        self.contended.store(contended, Ordering::Relaxed);
    }

    /// Resolves when an endpoint without a lane here got work.
    pub(crate) async fn dispatcher_woken(&self) {
        self.dispatcher.notified().await
    }

    pub(crate) fn started(&self, endpoint_id: &EndpointId, signals: LaneSignals) {
        self.running.lock().unwrap().insert(endpoint_id.clone(), signals);
    }

    /// Forgets a lane that ended, unless a newer run of the endpoint replaced it.
    pub(crate) fn ended(&self, endpoint_id: &EndpointId, run: u64) {
        let mut running = self.running.lock().unwrap();
        if running.get(endpoint_id).is_some_and(|lane| lane.run == run) {
            running.remove(endpoint_id);
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.running.lock().unwrap().len()
    }

    /// Attaches the lane of `endpoint_id` (whose endpoint lease this node holds): publishes
    /// hand it up to `capacity` waiting deliveries, each leased from its hand-over.
    pub(crate) async fn attach(&self, endpoint_id: &EndpointId, capacity: usize) -> LaneInbox {
        let (tx, deliveries) = mpsc::channel(capacity.max(1));
        let attachment = self.next_attachment.fetch_add(1, Ordering::Relaxed);
        let overflowed = Arc::new(AtomicBool::new(false));
        let room = Arc::new(AtomicUsize::new(usize::MAX));
        let entry = Attached { tx, overflowed: overflowed.clone(), room: room.clone(), attachment };
        self.attached.write().await.insert(endpoint_id.clone(), entry);
        LaneInbox { deliveries, overflowed, room, attachment }
    }

    /// Detaches a lane; once this returns no publish will hand it anything more, and whatever
    /// was handed over is in `inbox` (closed, ready to drain).
    pub(crate) async fn detach(&self, endpoint_id: &EndpointId, inbox: &mut LaneInbox) {
        let mut attached = self.attached.write().await;
        if attached.get(endpoint_id).is_some_and(|a| a.attachment == inbox.attachment) {
            attached.remove(endpoint_id);
        }
        inbox.deliveries.close();
    }
}

#[async_trait::async_trait]
impl DeliveryListener for Lanes {
    fn deliveries_due(&self, endpoint_ids: &[EndpointId]) {
        let running = self.running.lock().unwrap();
        let mut unclaimed = false;
        for id in endpoint_ids {
            match running.get(id) {
                Some(lane) => lane.wake.notify_one(),
                None => unclaimed = true,
            }
        }
        if unclaimed {
            self.dispatcher.notify_one();
        }
    }

    fn endpoint_changed(&self, endpoint_id: &EndpointId) {
        if let Some(lane) = self.running.lock().unwrap().get(endpoint_id) {
            lane.changed.store(true, Ordering::Relaxed);
            lane.wake.notify_one();
        }
    }

    fn announcements_missed(&self) {
        for lane in self.running.lock().unwrap().values() {
            lane.changed.store(true, Ordering::Relaxed);
            lane.wake.notify_one();
        }
        self.dispatcher.notify_one();
    }

    async fn begin_handover(&self) -> Box<dyn Handover> {
        Box::new(Batch(self.attached.clone().read_owned().await))
    }
}

/// One publish batch's hold on the attached lanes.
struct Batch(OwnedRwLockReadGuard<HashMap<EndpointId, Attached>>);

impl Handover for Batch {
    fn reserve(&self, endpoint_id: &EndpointId) -> Room {
        let Some(lane) = self.0.get(endpoint_id) else { return Room::None };
        let wanted = lane.tx.max_capacity() - lane.tx.capacity() < lane.room.load(Ordering::Relaxed);
        match lane.tx.clone().try_reserve_owned() {
            Ok(permit) if wanted => Room::Reserved(permit),
            Ok(_) | Err(TrySendError::Full(_)) => {
                lane.overflowed.store(true, Ordering::Relaxed);
                Room::Full
            }
            Err(TrySendError::Closed(_)) => Room::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(run: u64) -> LaneSignals {
        LaneSignals { wake: Arc::new(Notify::new()), changed: Arc::new(AtomicBool::new(false)), run }
    }

    #[tokio::test]
    async fn due_work_wakes_the_lane_or_else_the_dispatcher() {
        let lanes = Lanes::new();
        let (ep_a, ep_b) = (EndpointId::generate(), EndpointId::generate());
        let lane = signals(1);
        lanes.started(&ep_a, lane.clone());
        lanes.deliveries_due(std::slice::from_ref(&ep_a));
        tokio::time::timeout(std::time::Duration::from_secs(1), lane.wake.notified()).await.expect("lane woken");
        lanes.deliveries_due(&[ep_b]);
        tokio::time::timeout(std::time::Duration::from_secs(1), lanes.dispatcher_woken()).await.expect("dispatcher");
        lanes.endpoint_changed(&ep_a);
        assert!(lane.changed.load(Ordering::Relaxed));
        // A stale run's end does not forget the newer lane.
        lanes.started(&ep_a, signals(2));
        lanes.ended(&ep_a, 1);
        assert_eq!(lanes.count(), 1);
        lanes.ended(&ep_a, 2);
        assert_eq!(lanes.count(), 0);
    }

    #[tokio::test]
    async fn missed_announcements_make_every_lane_look_again() {
        let lanes = Lanes::new();
        let (a, b) = (signals(1), signals(1));
        lanes.started(&EndpointId::generate(), a.clone());
        lanes.started(&EndpointId::generate(), b.clone());
        lanes.announcements_missed();
        for lane in [&a, &b] {
            assert!(lane.changed.load(Ordering::Relaxed), "re-reads its endpoint");
            tokio::time::timeout(std::time::Duration::from_secs(1), lane.wake.notified()).await.expect("lane woken");
        }
        tokio::time::timeout(std::time::Duration::from_secs(1), lanes.dispatcher_woken()).await.expect("dispatcher");
    }

    #[tokio::test]
    async fn hand_over_reserves_room_marks_overflow_and_stops_at_detach() {
        let lanes = Lanes::new();
        let (ep_a, ep_other) = (EndpointId::generate(), EndpointId::generate());
        let mut inbox = lanes.attach(&ep_a, 1).await;
        {
            let batch = lanes.begin_handover().await;
            assert!(matches!(batch.reserve(&ep_a), Room::Reserved(_)));
            assert!(matches!(batch.reserve(&ep_other), Room::None));
        }
        // The permit above was dropped unused: its room is back. Hold it this time.
        let batch = lanes.begin_handover().await;
        let Room::Reserved(_held) = batch.reserve(&ep_a) else { panic!("room expected") };
        assert!(matches!(batch.reserve(&ep_a), Room::Full));
        assert!(inbox.take_overflowed() && !inbox.take_overflowed());
        drop((batch, _held));
        // A lane that wants nothing handed over is full to publishes, however empty its inbox.
        inbox.allow(0);
        assert!(matches!(lanes.begin_handover().await.reserve(&ep_a), Room::Full));
        assert!(inbox.take_overflowed());
        inbox.allow(1);
        assert!(matches!(lanes.begin_handover().await.reserve(&ep_a), Room::Reserved(_)));
        lanes.detach(&ep_a, &mut inbox).await;
        assert!(matches!(lanes.begin_handover().await.reserve(&ep_a), Room::None));
    }
}
