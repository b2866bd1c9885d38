//! The event-type catalogue: what endpoints may subscribe to, with schemas, and a retry
//! schedule of its own for each type if wanted.

use hookd_core::EventTypeName;
use hookd_store::{EventType, EventTypeData, StoreError};

use super::{Problems, Result, Service};

impl Service {
    pub async fn create_event_type(&self, name: &str, data: &EventTypeData) -> Result<EventType> {
        check_event_type(Some(name), data)?;
        Ok(self.store().create_event_type(name, data).await?)
    }

    /// Svix's PUT: updates the event type `name`, or creates it. `true` when created.
    pub async fn put_event_type(&self, name: &str, data: &EventTypeData) -> Result<(EventType, bool)> {
        check_event_type(None, data)?;
        match self.store().update_event_type(name, data).await {
            Ok(updated) => Ok((updated, false)),
            Err(StoreError::NotFound(_)) => Ok((self.create_event_type(name, data).await?, true)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn update_event_type(&self, name: &str, data: &EventTypeData) -> Result<EventType> {
        check_event_type(None, data)?;
        Ok(self.store().update_event_type(name, data).await?)
    }

    /// Archives an event type (Svix semantics): it stays readable, endpoints can no longer
    /// subscribe to it, and messages of that type are still delivered. With `expunge` it is
    /// deleted for good instead.
    pub async fn delete_event_type(&self, name: &str, expunge: bool) -> Result<()> {
        if expunge {
            self.store().delete_event_type(name).await?;
            return Ok(());
        }
        let current = self.store().get_event_type(name).await?;
        self.store().update_event_type(name, &EventTypeData { archived: true, ..current.data() }).await?;
        Ok(())
    }

    /// Sets the delays before each retry of this event type's deliveries, or with `None` goes
    /// back to the server's schedule. Deliveries already waiting keep the time of their next
    /// attempt; the schedule applies from their next failure, within 5 seconds on every node.
    pub async fn set_event_type_retry_schedule(&self, name: &str, delays_ms: Option<&[i64]>) -> Result<()> {
        Ok(self.store().set_event_type_retry_schedule(name, delays_ms).await?)
    }
}

/// Svix's rules: the name (when one is given to create) is a name; `schemas` maps each
/// version to a JSON Schema, which is an object; feature flags and the group name are names;
/// `featureFlags` holds at least one, each once.
fn check_event_type(name: Option<&str>, data: &EventTypeData) -> Result<()> {
    let mut p = Problems::default();
    if let Some(name) = name {
        p.name("name", EventTypeName::parse(name));
    }
    if let Some(schemas) = &data.schemas {
        match schemas.as_object() {
            None => p.add("schemas", "must be an object mapping schema versions to JSON Schemas"),
            Some(versions) => {
                for (version, schema) in versions {
                    if !schema.is_object() {
                        p.add(&format!("schemas.{version}"), "must be a JSON Schema: an object");
                    }
                }
            }
        }
    }
    if let Some(flag) = &data.feature_flag {
        p.name("featureFlag", EventTypeName::parse(flag));
    }
    if let Some(flags) = &data.feature_flags {
        if flags.is_empty() {
            p.add("featureFlags", "must hold at least one flag (or be null)");
        }
        p.names("featureFlags", flags, EventTypeName::parse);
        let distinct: std::collections::BTreeSet<_> = flags.iter().collect();
        if distinct.len() != flags.len() {
            p.add("featureFlags", "must not repeat a flag");
        }
    }
    if let Some(group) = &data.group_name {
        p.name("groupName", EventTypeName::parse(group));
    }
    p.finish()
}
