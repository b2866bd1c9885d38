//! A short-lived cache of applications by the id or uid a publish names.
//!
//! Every publish resolves its application; on a busy node that lookup was the most frequent
//! statement of all (on PostgreSQL more than half of them per message). Entries live for
//! `TTL`, and this node forgets them all whenever it changes or deletes an application, so
//! other nodes' changes are seen within `TTL`. A publish to an application deleted elsewhere
//! within that window is still refused: the store answers 404 when the row is gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd_store::{Application, Store, StoreError};

const TTL: Duration = Duration::from_secs(1);
/// Beyond this many entries the cache starts over (a bound, not an eviction policy).
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Default)]
pub struct AppCache {
    entries: Arc<Mutex<HashMap<String, (Application, Instant)>>>,
}

impl AppCache {
    /// The application named `id_or_uid`, from the cache while fresh, else from the store.
    pub async fn get(&self, store: &Store, id_or_uid: &str) -> Result<Application, StoreError> {
        if let Some((app, at)) = self.entries.lock().expect("cache lock").get(id_or_uid) {
            if at.elapsed() < TTL {
                return Ok(app.clone());
            }
        }
        let app = store.get_application(id_or_uid).await?;
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id_or_uid.to_owned(), (app.clone(), Instant::now()));
        Ok(app)
    }

    /// Forgets everything (an application was changed or deleted through this node).
    pub fn forget(&self) {
        self.entries.lock().expect("cache lock").clear();
    }
}
