//! Publishing a message and resending one.

use hookd_store::{Application, IdempotentResponse, Message, NewMessage, Publish, PublishKey};

use super::{Result, Service, ServiceError};

/// What a publish did.
pub enum Published {
    /// Committed now (with its idempotency key, if it had one).
    Created(Box<Message>),
    /// A publish with the same idempotency key was committed before; this is its answer as
    /// kept then.
    Repeated { status_code: u16, body: String },
}

impl Service {
    /// Commits a message to `app` in the next group commit, with its idempotency key and the
    /// answer kept for it, and returns once it is committed: what `202 Accepted` promises.
    /// The worker learns of its deliveries through the store's `DeliveryListener`.
    pub async fn publish(&self, app: &Application, message: &NewMessage, key: Option<PublishKey>) -> Result<Published> {
        match self.store().publish(&app.id, message, key).await? {
            Publish::Created(stored) => {
                crate::failpoint("publish-committed");
                self.0.metrics.message_published();
                tracing::debug!(msg_id = %stored.id, app_id = %app.id, "message accepted");
                Ok(Published::Created(stored))
            }
            Publish::Repeated(IdempotentResponse::Done { status_code, body }) => {
                Ok(Published::Repeated { status_code, body })
            }
            Publish::Repeated(IdempotentResponse::InProgress) => {
                Err(ServiceError::Conflict("a request with this idempotency-key is still being processed".into()))
            }
        }
    }

    /// Queues the message `msg_id` again for the endpoint `endpoint` (id or uid), with a fresh
    /// retry schedule.
    pub async fn resend(&self, app: &Application, msg_id: &str, endpoint: &str) -> Result<()> {
        let message = self.message(app, msg_id).await?;
        if message.expunged_at.is_some() {
            return Err(ServiceError::Conflict(
                "the message's payload was expunged: there is nothing to resend".into(),
            ));
        }
        let endpoint = self.endpoint(app, endpoint).await?;
        self.store().queue_resend(&app.id, &message.id, &endpoint.id).await?;
        Ok(())
    }

    /// Expunges a message's payload: the message, its deliveries and attempts stay, and
    /// reads show the payload as `{}`. Deliveries still pending are canceled, and the message
    /// can no longer be resent; an attempt already under way completes.
    pub async fn expunge_message(&self, app: &Application, msg_id: &str) -> Result<()> {
        let message = self.message(app, msg_id).await?;
        self.store().expunge_message_content(&message.id).await?;
        Ok(())
    }

    /// Expunges the response body stored with an attempt of one of the app's messages.
    pub async fn expunge_attempt(&self, app: &Application, msg_id: &str, attempt_id: &str) -> Result<()> {
        let message = self.message(app, msg_id).await?;
        Ok(self.store().expunge_attempt_content(&message.id, attempt_id).await?)
    }

    /// An application's message, by id or event id.
    pub async fn message(&self, app: &Application, msg_id: &str) -> Result<Message> {
        Ok(self.store().get_message(&app.id, msg_id).await?)
    }
}
