//! The operational-webhook service: events are published as ordinary messages to a reserved
//! application ([`APP_UID`]), so they get signatures, retries and attempt logs like
//! everything else. This is the policy (which application, never about itself, the flag's
//! endpoint); the store only stores what it is given.

use hookd_core::operational::{OperationalEvent, APP_UID};
use hookd_core::signing::EndpointSecret;
use hookd_core::time::{from_ms, now_ms};
use hookd_core::{ApplicationId, EndpointId, MessageId};

use hookd_store::{Application, ApplicationData, EndpointData, NewMessage, Result, Store, StoreError};

/// The uid of the endpoint `--operational-webhook-url` manages.
const FLAG_ENDPOINT_UID: &str = "operational-webhook-url";

/// Publishes operational events and sets up the endpoint of `--operational-webhook-url`.
pub struct OperationalWebhooks {
    store: Store,
}

impl OperationalWebhooks {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Publishes an operational event to the reserved application's endpoints, if it has any.
    pub async fn publish(&self, event: &OperationalEvent) -> Result<()> {
        let app = match self.store.get_application(APP_UID).await {
            Ok(app) => app,
            Err(StoreError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if app.id == event.app_id() {
            return Ok(()); // never about itself: no loops
        }
        let now = now_ms();
        let message = NewMessage {
            id: MessageId::generate_at(now),
            event_type: event.event_type().to_owned(),
            payload: event.payload(from_ms(now)).to_string(),
            created_at: now,
            deliver_at: now,
            ..Default::default()
        };
        self.store.create_message(&app.id, &message).await.map(|_| ())
    }

    /// Makes sure the reserved application exists with an endpoint at `url`
    /// (`--operational-webhook-url`).
    pub async fn ensure_endpoint(&self, url: &str) -> Result<()> {
        let store = &self.store;
        let app = self.application().await?;
        match store.get_endpoint(&app.id, FLAG_ENDPOINT_UID).await {
            Ok(endpoint) if endpoint.url == url => Ok(()),
            Ok(endpoint) => {
                store.update_endpoint(&endpoint.id, &EndpointData { url: url.into(), ..endpoint.data() }).await?;
                Ok(())
            }
            Err(StoreError::NotFound(_)) => {
                let data = EndpointData {
                    uid: Some(FLAG_ENDPOINT_UID.into()),
                    url: url.into(),
                    description: "set by --operational-webhook-url".into(),
                    // Events about the same things make sense in order.
                    fifo: true,
                    ..Default::default()
                };
                let secret = EndpointSecret::generate().expose();
                store.create_endpoint(&app.id, &EndpointId::generate(), &data, &secret).await?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl OperationalWebhooks {
    /// The reserved application, created the first time it is needed (an operational
    /// endpoint is added, by the flag or the API).
    pub async fn application(&self) -> Result<Application> {
        match self.store.get_application(APP_UID).await {
            Err(StoreError::NotFound(_)) => {
                let data = ApplicationData {
                    uid: Some(APP_UID.into()),
                    name: "hookd operational webhooks".into(),
                    ..Default::default()
                };
                match self.store.create_application(&ApplicationId::generate(), &data).await {
                    // Another request created it meanwhile.
                    Err(StoreError::Conflict(_)) => self.store.get_application(APP_UID).await,
                    created => created,
                }
            }
            found => found,
        }
    }
}

impl hookd_core::operational::Emitter for OperationalWebhooks {
    fn emit<'a>(
        &'a self,
        event: OperationalEvent,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Err(e) = self.publish(&event).await {
                tracing::warn!(error = %e, event = event.event_type(), "publishing an operational webhook failed");
            }
        })
    }
}
