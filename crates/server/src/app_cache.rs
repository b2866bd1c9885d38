//! A short-lived cache of what every request of a kind looks up first: applications by the
//! id or uid a publish names, sources by the token of the URL a provider posts to.
//!
//! Every publish resolves its application; on a busy node that lookup was the most frequent
//! statement of all (on PostgreSQL more than half of them per message). Entries live for
//! `TTL`, and this node forgets them all whenever it changes or deletes one, so other nodes'
//! changes are seen within `TTL`. A publish to an application deleted elsewhere within that
//! window is still refused: the store answers 404 when the row is gone. (The same holds for
//! a source: its messages go to its application.)

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd_store::{Application, Source, Store, StoreError};

const TTL: Duration = Duration::from_secs(1);
/// Beyond this many entries the cache starts over (a bound, not an eviction policy).
const MAX_ENTRIES: usize = 10_000;

/// Values by key, each for [`TTL`].
#[derive(Clone)]
pub struct Cache<V> {
    entries: Arc<Mutex<HashMap<String, (V, Instant)>>>,
}

impl<V> Default for Cache<V> {
    fn default() -> Self {
        Self { entries: Arc::default() }
    }
}

impl<V: Clone> Cache<V> {
    /// The value under `key`, from the cache while fresh, else from `load`.
    pub async fn get_or_load<F>(&self, key: &str, load: impl FnOnce() -> F) -> Result<V, StoreError>
    where
        F: Future<Output = Result<V, StoreError>>,
    {
        if let Some((value, at)) = self.entries.lock().expect("cache lock").get(key) {
            if at.elapsed() < TTL {
                return Ok(value.clone());
            }
        }
        let value = load().await?;
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (value.clone(), Instant::now()));
        Ok(value)
    }

    /// Forgets everything (one of them was changed or deleted through this node).
    pub fn forget(&self) {
        self.entries.lock().expect("cache lock").clear();
    }
}

/// Applications by the id or uid a publish names.
pub type AppCache = Cache<Application>;

impl AppCache {
    /// The application named `id_or_uid`, from the cache while fresh, else from the store.
    pub async fn get(&self, store: &Store, id_or_uid: &str) -> Result<Application, StoreError> {
        self.get_or_load(id_or_uid, || store.get_application(id_or_uid)).await
    }
}

/// A source with its type's settings parsed, as every request to it needs them.
pub struct LiveSource {
    pub source: Source,
    pub kind: hookd_core::ingest::SourceType,
}

/// Sources by the token of their URL, parsed once per load rather than per request.
pub type SourceCache = Cache<Arc<LiveSource>>;
