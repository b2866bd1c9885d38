//! Which retry schedule a delivery follows: its event type's own (`PUT /api/v1/event-type/
//! {name}/retry-schedule`), or else the server's. Looked up per attempt from a small cache,
//! so that attempts do not each read the database; a change reaches every node within
//! [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd_core::retry::RetrySchedule;
use hookd_store::{Store, StoreError};

/// How long a looked-up schedule is used before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// An event type's own schedule (`None`: it has none), and when it was read.
type Entry = (Instant, Option<Arc<RetrySchedule>>);

/// Event types' schedules, as last read.
#[derive(Default)]
pub(crate) struct Schedules {
    cache: Mutex<HashMap<String, Entry>>,
}

impl Schedules {
    /// The schedule of `event_type`'s deliveries: its own if it has one, else `default`. A
    /// failed read falls back to `default` (and is tried again at the next attempt).
    pub async fn of(&self, store: &Store, event_type: &str, default: &Arc<RetrySchedule>) -> Arc<RetrySchedule> {
        if let Some((read_at, own)) = self.cache.lock().expect("not poisoned").get(event_type) {
            if read_at.elapsed() < FRESH_FOR {
                return own.clone().unwrap_or_else(|| default.clone());
            }
        }
        let own = match store.event_type_retry_schedule(event_type).await {
            Ok(Some(delays)) => Some(Arc::new(RetrySchedule::from_delays(
                delays.into_iter().map(|ms| Duration::from_millis(ms.max(0) as u64)).collect(),
            ))),
            // Unregistered event types follow the server's schedule.
            Ok(None) | Err(StoreError::NotFound(_)) => None,
            Err(e) => {
                tracing::warn!(error = %e, event_type, "reading an event type's retry schedule failed");
                return default.clone();
            }
        };
        let mut cache = self.cache.lock().expect("not poisoned");
        // Bounded: event types are few, but names come from publishers.
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(event_type.to_owned(), (Instant::now(), own.clone()));
        own.unwrap_or_else(|| default.clone())
    }
}
