//! Secrets sealed at rest (see hookd-core's `sealing`): what the store seals, and the sweep
//! that seals what is not sealed under the current main key.
//!
//! Sealed columns: `endpoints.secret`, `endpoints.old_secrets` (the JSON list of rotated
//! secrets), `endpoints.oauth` (its client secret), `endpoints.mtls` (its private key),
//! `inboxes.secret` and `sources.config` (the provider's secret). API tokens are not among them: they are stored hashed, never readable.

use hookd_core::sealing::SealError;

use crate::{with_db, Result, Store, StoreError};

/// What each sealed value is, bound into its seal: a value cannot be opened as another.
pub(crate) const ENDPOINT_SECRET: &str = "endpoint.secret";
pub(crate) const ENDPOINT_OLD_SECRETS: &str = "endpoint.old_secrets";
pub(crate) const ENDPOINT_OAUTH: &str = "endpoint.oauth";
pub(crate) const ENDPOINT_MTLS: &str = "endpoint.mtls";
pub(crate) const INBOX_SECRET: &str = "inbox.secret";
pub(crate) const SOURCE_CONFIG: &str = "source.config";

/// The sealed columns: (table, column, purpose).
const SEALED: [(&str, &str, &str); 6] = [
    ("endpoints", "secret", ENDPOINT_SECRET),
    ("endpoints", "old_secrets", ENDPOINT_OLD_SECRETS),
    ("endpoints", "oauth", ENDPOINT_OAUTH),
    ("endpoints", "mtls", ENDPOINT_MTLS),
    ("inboxes", "secret", INBOX_SECRET),
    ("sources", "config", SOURCE_CONFIG),
];

/// Rows looked at per statement by the sweep.
const BATCH: i64 = 500;

fn sealing_error(e: SealError) -> StoreError {
    StoreError::Sealing(e.to_string())
}

impl Store {
    /// `plain` as it is to be stored.
    pub(crate) fn seal(&self, purpose: &str, plain: &str) -> String {
        match &self.sealer {
            Some(sealer) => sealer.seal(purpose, plain),
            None => plain.to_owned(),
        }
    }

    pub(crate) fn seal_opt(&self, purpose: &str, plain: Option<&str>) -> Option<String> {
        plain.map(|p| self.seal(purpose, p))
    }

    /// A stored value as it was given.
    pub(crate) fn open(&self, purpose: &str, stored: &str) -> Result<String> {
        match &self.sealer {
            Some(sealer) => sealer.open(purpose, stored).map_err(sealing_error),
            None if stored.starts_with("sealed:") => {
                Err(StoreError::Sealing("a secret is sealed, and this process has no main key".into()))
            }
            None => Ok(stored.to_owned()),
        }
    }

    pub(crate) fn open_opt(&self, purpose: &str, stored: Option<String>) -> Result<Option<String>> {
        stored.map(|s| self.open(purpose, &s)).transpose()
    }

    /// Run at start-up and by `hookd main-key rotate`: checks that this process has the main
    /// key the database's secrets are sealed with, then, unless a sweep already finished under
    /// the current key, seals every secret that is not sealed under it (plaintext from before sealing, or a previous key's), and records
    /// the current key's id. Each value is replaced only if it has not changed meanwhile, so
    /// it runs safely while the API writes. Returns how many values it sealed.
    pub async fn seal_secrets(&self) -> Result<u64> {
        let Some(sealer) = &self.sealer else { return Ok(0) };
        let recorded: Option<(String,)> = with_db!(self.reader(), p => sqlx::query_as(
            "SELECT value FROM settings WHERE name = 'main_key_id'"
        )
        .fetch_optional(p)
        .await?);
        if let Some((id,)) = &recorded {
            // The last sweep finished under this very key (the id is recorded only at its
            // end), and every write since sealed with it: nothing to look at.
            if *id == sealer.current_id() {
                return Ok(0);
            }
            if !sealer.key_ids().contains(id) {
                return Err(StoreError::Sealing(format!(
                    "this database's secrets are sealed with main key {id}, and this node has {} \
                     (give it the database's key with --main-key-file or HOOKD_MAIN_KEY)",
                    sealer.key_ids().join(", ")
                )));
            }
        }
        let mut sealed = 0;
        for (table, column, purpose) in SEALED {
            let mut after = String::new();
            loop {
                let select = format!(
                    "SELECT id, {column} FROM {table} WHERE id > $1 AND {column} IS NOT NULL ORDER BY id LIMIT {BATCH}"
                );
                let rows: Vec<(String, String)> =
                    with_db!(self.reader(), p => sqlx::query_as(&select).bind(&after).fetch_all(p).await?);
                let Some((last, _)) = rows.last() else { break };
                after = last.clone();
                for (id, stored) in rows.iter().filter(|(_, v)| !sealer.is_current(v)) {
                    let plain = sealer.open(purpose, stored).map_err(sealing_error)?;
                    let update = format!("UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} = $3");
                    let done = with_db!(self.writer(), p => sqlx::query(&update)
                        .bind(sealer.seal(purpose, &plain))
                        .bind(id)
                        .bind(stored)
                        .execute(p)
                        .await?
                        .rows_affected());
                    sealed += done;
                }
            }
        }
        with_db!(self.writer(), p => sqlx::query(
            "INSERT INTO settings (name, value) VALUES ('main_key_id', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        .bind(sealer.current_id())
        .execute(p)
        .await?
        .rows_affected());
        Ok(sealed)
    }
}
