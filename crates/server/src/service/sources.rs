//! Sources: making, changing and deleting them, rotating their URL token, turning an inbox
//! into one, and replaying what they accepted. A change makes this node forget its cache of
//! sources by token (and, on delete, of applications: a source's application goes with it).

use hookd_core::{ApplicationId, EndpointId, SourceId};
use hookd_store::{Cursor, Inbox, IngestRefusal, ListQuery, NewMessage, Publish, Source, SourceData, StoreError};

use super::{Result, Service, ServiceError};

/// Which of a source's requests a replay sends again.
pub enum Replay<'a> {
    /// One accepted request, by its message id.
    One(&'a str),
    /// Those accepted in `[since, until)` (until: now).
    Window { since: i64, until: Option<i64> },
}

/// What became of a request a source accepted.
pub struct Ingested {
    /// Its message's id.
    pub msg_id: String,
    /// The provider had sent it before (same delivery id): nothing new was stored.
    pub duplicate: bool,
}

impl Service {
    /// Commits a request a source verified, as a message of its application, in the next
    /// group commit: once this returns, the request is kept. A provider's retry of a delivery
    /// already kept (the same `event_id`, its delivery id) stores nothing and answers with the
    /// first message.
    pub async fn ingest(&self, source: &Source, message: &NewMessage) -> Result<Ingested> {
        match self.store().publish(&source.app_id, message, None).await {
            Ok(Publish::Created(stored)) => {
                crate::failpoint("ingest-committed");
                self.0.metrics.source_request("accepted");
                tracing::debug!(msg_id = %stored.id, source_id = %source.id, "request ingested");
                Ok(Ingested { msg_id: stored.id.into_string(), duplicate: false })
            }
            Ok(Publish::Repeated(_)) => unreachable!("an ingest carries no idempotency key"),
            Err(StoreError::Conflict(_)) => {
                self.0.metrics.source_request("duplicate");
                let event_id = message.event_id.as_deref().unwrap_or_default();
                let first = self.store().get_message(&source.app_id, event_id).await?;
                Ok(Ingested { msg_id: first.id.into_string(), duplicate: true })
            }
            Err(StoreError::NotFound(_)) => Err(ServiceError::NotFound("this source was deleted".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps a request a source refused (its credentials already redacted), among the newest
    /// refusals of that source. A source deleted meanwhile keeps nothing.
    pub async fn keep_refusal(&self, refusal: &IngestRefusal) -> Result<()> {
        match self.store().insert_ingest_refusal(refusal).await {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.0.metrics.source_request("refused");
        Ok(())
    }

    /// A source by id or uid.
    pub async fn source(&self, source_id: &str) -> Result<Source> {
        self.store().get_source(source_id).await.map_err(|e| match e {
            StoreError::NotFound(_) => ServiceError::NotFound(format!("source '{source_id}' not found")),
            other => other.into(),
        })
    }

    /// Makes a source, with its own application, and a fresh URL token.
    pub async fn create_source(&self, data: &SourceData) -> Result<Source> {
        self.insert_source(data, &hookd_core::id::new_url_token()).await
    }

    /// Turns a tester inbox into a source: the source takes the inbox's id as its URL token,
    /// so the capture URL a provider was given becomes a durable one, and the inbox (with what
    /// it captured) is deleted. (Were the process to stop between the two steps, the inbox
    /// would keep the URL until deleted; the source is there already.)
    pub async fn source_from_inbox(&self, inbox: &Inbox, data: &SourceData) -> Result<Source> {
        let source = self.insert_source(data, inbox.id.as_str()).await?;
        self.store().delete_inbox(&inbox.id).await?;
        Ok(source)
    }

    async fn insert_source(&self, data: &SourceData, token: &str) -> Result<Source> {
        let (id, app_id) = (SourceId::generate(), ApplicationId::generate());
        Ok(self.store().create_source(&id, &app_id, token, data).await?)
    }

    /// Saves new fields of the source `source_id` (its id; they reach the endpoints too: `allow_private`).
    pub async fn update_source(&self, source_id: &SourceId, data: &SourceData) -> Result<Source> {
        let updated = self.store().update_source(source_id, data).await?;
        self.0.sources.forget();
        Ok(updated)
    }

    /// Deletes the source with its application, endpoints and requests.
    pub async fn delete_source(&self, source: &Source) -> Result<()> {
        self.store().delete_source(&source.id).await?;
        self.0.sources.forget();
        self.0.apps.forget();
        Ok(())
    }

    /// A new URL token: the old URL stops working at once (within a second on other nodes).
    pub async fn rotate_source_token(&self, source: &Source) -> Result<Source> {
        let rotated = self.store().rotate_source_token(&source.id, &hookd_core::id::new_url_token()).await?;
        self.0.sources.forget();
        Ok(rotated)
    }

    /// Sends accepted requests again to the source's endpoint `endpoint` (id or uid), or to
    /// all its enabled endpoints, each delivery with a fresh retry schedule. How many
    /// deliveries were made due again.
    pub async fn replay_source(&self, source: &Source, which: Replay<'_>, endpoint: Option<&str>) -> Result<u64> {
        let (since, until, message) = match which {
            Replay::One(msg_id) => {
                let message = self.store().get_message(&source.app_id, msg_id).await.map_err(|e| match e {
                    StoreError::NotFound(_) => {
                        ServiceError::NotFound(format!("request '{msg_id}' not found in this source"))
                    }
                    other => other.into(),
                })?;
                (0, None, Some(message.id))
            }
            Replay::Window { since, until } => (since, until, None),
        };
        let mut replayed = 0;
        for endpoint in self.replay_targets(source, endpoint).await? {
            replayed +=
                self.store().replay_to_endpoint(&source.app_id, &endpoint, since, until, message.as_ref()).await?;
        }
        Ok(replayed)
    }

    /// The endpoints a replay goes to.
    async fn replay_targets(&self, source: &Source, endpoint: Option<&str>) -> Result<Vec<EndpointId>> {
        if let Some(id) = endpoint {
            let endpoint = self.store().get_endpoint(&source.app_id, id).await.map_err(|e| match e {
                StoreError::NotFound(_) => ServiceError::NotFound(format!("endpoint '{id}' not found in this source")),
                other => other.into(),
            })?;
            return Ok(vec![endpoint.id]);
        }
        let mut targets = vec![];
        let mut q = ListQuery { limit: 250, cursor: None, order: None };
        loop {
            let page = self.store().list_endpoints(&source.app_id, &q).await?;
            targets.extend(page.data.iter().filter(|e| !e.disabled).map(|e| e.id.clone()));
            match (page.done, page.iterator) {
                (false, Some(next)) => q.cursor = Some(Cursor::Older(next)),
                _ => return Ok(targets),
            }
        }
    }
}
