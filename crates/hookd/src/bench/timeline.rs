//! Where in a run the slow deliveries were: per second of publish time, how many arrived, how
//! many took over 100 ms (the isolation target), the slowest, and how many requests the
//! hanging endpoints received in that second.
//!
//! A p99 says how large the tail is, not when it happened. On a slow machine the isolation
//! shape's tail came in bursts (nineteenth session: p50 about 1 ms, max 260–290 ms), and
//! telling a start-up transient from the waves of request timeouts at the hanging endpoints
//! needs the tail's timeline. Fixed memory: one slot per second for an hour, later seconds
//! share the last slot.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Seconds tracked; a longer run counts its later seconds in the last slot.
const SLOTS: usize = 3_600;
/// What counts as late: the isolation shape's p99 target.
const LATE_US: u64 = 100_000;

#[derive(Default)]
struct Slot {
    arrived: AtomicU64,
    late: AtomicU64,
    max: AtomicU64,
    hung: AtomicU64,
}

pub struct Timeline {
    /// When publishing began (µs since the bench's epoch): second 0.
    origin: AtomicU64,
    slots: Box<[Slot]>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self { origin: AtomicU64::new(0), slots: (0..SLOTS).map(|_| Slot::default()).collect() }
    }
}

/// One second of the run, as reported.
#[derive(Debug, Serialize, PartialEq)]
pub struct Second {
    /// Seconds since publishing began (publish time for deliveries, arrival for hung requests).
    pub second: u64,
    pub arrived: u64,
    /// Deliveries published in this second that took over 100 ms.
    pub over_100ms: u64,
    pub max_ms: f64,
    /// Requests the hanging endpoints received in this second.
    pub hung: u64,
}

impl Timeline {
    /// Publishing begins now (`at`, µs since the epoch).
    pub fn start(&self, at: u64) {
        self.origin.store(at, Ordering::Relaxed);
    }

    fn slot(&self, micros: u64) -> &Slot {
        let since = micros.saturating_sub(self.origin.load(Ordering::Relaxed));
        &self.slots[((since / 1_000_000) as usize).min(SLOTS - 1)]
    }

    /// A delivery published at `published` (µs since the epoch) arrived after `latency` µs.
    pub fn arrived(&self, published: u64, latency: u64) {
        let s = self.slot(published);
        s.arrived.fetch_add(1, Ordering::Relaxed);
        if latency > LATE_US {
            s.late.fetch_add(1, Ordering::Relaxed);
        }
        s.max.fetch_max(latency, Ordering::Relaxed);
    }

    /// A hanging endpoint received a request at `at` (µs since the epoch).
    pub fn hung(&self, at: u64) {
        self.slot(at).hung.fetch_add(1, Ordering::Relaxed);
    }

    /// Every second in which something happened, in order.
    pub fn seconds(&self) -> Vec<Second> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| Second {
                second: i as u64,
                arrived: s.arrived.load(Ordering::Relaxed),
                over_100ms: s.late.load(Ordering::Relaxed),
                max_ms: s.max.load(Ordering::Relaxed) as f64 / 1000.0,
                hung: s.hung.load(Ordering::Relaxed),
            })
            .filter(|s| s.arrived > 0 || s.hung > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_second_of_publish_and_keeps_the_slowest() {
        let t = Timeline::default();
        t.start(7_000_000);
        t.arrived(7_500_000, 2_000);
        t.arrived(7_900_000, 150_000);
        t.arrived(9_100_000, 100_000);
        t.hung(9_500_000);
        t.arrived(u64::MAX / 2, 1);
        let seconds = t.seconds();
        assert_eq!(seconds.len(), 3);
        assert_eq!(seconds[0], Second { second: 0, arrived: 2, over_100ms: 1, max_ms: 150.0, hung: 0 });
        assert_eq!(seconds[1], Second { second: 2, arrived: 1, over_100ms: 0, max_ms: 100.0, hung: 1 });
        assert_eq!(seconds[2].second, (SLOTS - 1) as u64, "later seconds share the last slot");
    }
}
