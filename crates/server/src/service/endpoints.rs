//! Endpoints: creating, changing (enabling and disabling among it), deleting, rotating their
//! secrets, recovering their failed deliveries, sending them an example. Every write here
//! reports itself as an operational event; an endpoint enabled again gets back the
//! deliveries parked while it was disabled.

use hookd_core::endpoint_auth::{MtlsConfig, OAuthConfig};
use hookd_core::operational::{self, EndpointRef, OperationalEvent};
use hookd_core::signing::EndpointSecret;
use hookd_core::time::now_ms;
use hookd_core::{Channel, EndpointId, EventTypeName, MessageId, Uid};
use hookd_store::{Application, Endpoint, EndpointData, Message, NewMessage, StoreError, Transformation};

use super::{Problems, Result, Service, ServiceError};

/// Svix's limit of channels per endpoint.
const MAX_CHANNELS: usize = 10;
/// Longest grace period a rotated secret may keep signing (Svix's limit: 7 days).
const MAX_GRACE_SECS: u64 = 7 * 24 * 3600;

/// What `send-example` is asked for: an event type and which of its examples.
pub struct ExampleRequest {
    pub event_type: String,
    pub index: usize,
}

impl Service {
    /// An application's endpoint, by id or uid.
    pub async fn endpoint(&self, app: &Application, id_or_uid: &str) -> Result<Endpoint> {
        Ok(self.store().get_endpoint(&app.id, id_or_uid).await?)
    }

    /// Creates an endpoint with `secret`, or a generated one.
    pub async fn create_endpoint(
        &self,
        app: &Application,
        data: EndpointData,
        secret: Option<&str>,
    ) -> Result<Endpoint> {
        self.check_endpoint(app, &data).await?;
        let secret = parse_secret(secret)?;
        let id = EndpointId::generate();
        let created = self.store().create_endpoint(&app.id, &id, &data, &secret.expose()).await?;
        self.emit(OperationalEvent::EndpointCreated(about(app, &created))).await;
        Ok(created)
    }

    /// Svix's PUT: replaces the fields of the endpoint `id_or_uid`, or creates it with the path
    /// as its uid (unless the path looks like an id, which cannot be chosen). `true` when
    /// created.
    pub async fn put_endpoint(
        &self,
        app: &Application,
        id_or_uid: &str,
        mut data: EndpointData,
        secret: Option<&str>,
    ) -> Result<(Endpoint, bool)> {
        match self.store().get_endpoint(&app.id, id_or_uid).await {
            Ok(current) => {
                data.uid = data.uid.or(current.uid.clone());
                Ok((self.update_endpoint(app, &current, data).await?, false))
            }
            Err(StoreError::NotFound(_)) => {
                if data.uid.is_none() && !EndpointId::looks_like(id_or_uid) {
                    data.uid = Some(id_or_uid.to_owned());
                }
                Ok((self.create_endpoint(app, data, secret).await?, true))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Saves new fields. This is also how an endpoint is disabled and enabled: one enabled
    /// again gets back its parked deliveries (see `hookd_store::queue::state`).
    pub async fn update_endpoint(&self, app: &Application, current: &Endpoint, data: EndpointData) -> Result<Endpoint> {
        self.check_endpoint(app, &data).await?;
        let updated = self.store().update_endpoint(&current.id, &data).await?;
        self.emit(OperationalEvent::EndpointUpdated(about(app, &updated))).await;
        if current.disabled && !updated.disabled {
            self.store().unpark_endpoint(&updated.id).await?;
        }
        Ok(updated)
    }

    pub async fn delete_endpoint(&self, app: &Application, endpoint: &Endpoint) -> Result<()> {
        self.store().delete_endpoint(&endpoint.id).await?;
        self.emit(OperationalEvent::EndpointDeleted(about(app, endpoint))).await;
        Ok(())
    }

    /// Rotates the endpoint's secret to `key`, or to a new one of the same kind (an ed25519
    /// endpoint stays one). The old secret keeps signing for `grace_secs` (the server's default
    /// when `None`), at most 7 days.
    pub async fn rotate_endpoint_secret(
        &self,
        endpoint: &Endpoint,
        key: Option<&str>,
        grace_secs: Option<u64>,
    ) -> Result<Endpoint> {
        let grace = grace_secs.unwrap_or(self.0.config.default_rotation_grace_secs);
        if grace > MAX_GRACE_SECS {
            return Err(ServiceError::invalid(
                "gracePeriodSeconds",
                format!("must be at most {MAX_GRACE_SECS} (7 days)"),
            ));
        }
        let secret = match key {
            None if EndpointSecret::parse(&endpoint.secret).is_ok_and(|s| s.is_asymmetric()) => {
                EndpointSecret::generate_ed25519()
            }
            key => parse_secret(key)?,
        };
        Ok(self.store().rotate_endpoint_secret(&endpoint.id, &secret.expose(), grace as i64 * 1000).await?)
    }

    /// Queues again the endpoint's failed deliveries of messages created in `[since, until)`,
    /// each with a fresh retry schedule; how many. One statement, done before it returns.
    pub async fn recover_endpoint(&self, endpoint: &Endpoint, since: i64, until: Option<i64>) -> Result<u64> {
        let mut p = Problems::default();
        p.window("until", since, until);
        p.finish()?;
        Ok(self.store().recover_endpoint(&endpoint.id, since, until).await?)
    }

    /// Publishes a message of `eventType` to this endpoint alone, whatever it subscribes to.
    /// Its payload is the event type's example: the `index`-th of the `examples` of its
    /// schema's latest version; an event type without one (or unregistered) sends
    /// `{"type": <eventType>, "example": true}`.
    pub async fn send_example(&self, app: &Application, endpoint: &Endpoint, asked: ExampleRequest) -> Result<Message> {
        EventTypeName::parse(&asked.event_type).map_err(|e| ServiceError::invalid("eventType", e.to_string()))?;
        let examples = match self.store().get_event_type(&asked.event_type).await {
            Ok(t) => latest_examples(t.schemas.as_ref()),
            Err(StoreError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let payload = if examples.is_empty() {
            serde_json::json!({"type": asked.event_type, "example": true})
        } else {
            match examples.get(asked.index) {
                Some(example) if example.is_object() => example.clone(),
                Some(_) => {
                    return Err(ServiceError::invalid(
                        "exampleIndex",
                        "that example is not a JSON object, which a payload must be",
                    ))
                }
                None => {
                    return Err(ServiceError::invalid(
                        "exampleIndex",
                        format!("the event type's schema has {} examples", examples.len()),
                    ))
                }
            }
        };
        if endpoint.disabled {
            return Err(ServiceError::Conflict("the endpoint is disabled: enable it to send it an example".into()));
        }
        let now = now_ms();
        let message = NewMessage {
            id: MessageId::generate_at(now),
            event_type: asked.event_type,
            payload: payload.to_string(),
            created_at: now,
            deliver_at: now,
            to_endpoint: Some(endpoint.id.clone()),
            ..Default::default()
        };
        let stored = self.store().create_message(&app.id, &message).await?;
        self.0.metrics.message_published();
        Ok(stored)
    }

    /// Sets (or with `None` removes) the OAuth client credentials hookd fetches a bearer
    /// token with before each delivery.
    pub async fn set_endpoint_oauth(&self, endpoint: &Endpoint, oauth: Option<&OAuthConfig>) -> Result<()> {
        Ok(self.store().set_endpoint_oauth(&endpoint.id, oauth).await?)
    }

    /// Sets (or with `None` removes) the client certificate the endpoint's deliveries present,
    /// once its PEM parts are checked to load.
    pub async fn set_endpoint_mtls(&self, endpoint: &Endpoint, mtls: Option<&MtlsConfig>) -> Result<()> {
        if let Some(Err((field, why))) = mtls.map(hookd_http::check_mtls) {
            return Err(ServiceError::invalid(field, why));
        }
        Ok(self.store().set_endpoint_mtls(&endpoint.id, mtls).await?)
    }

    /// Saves the endpoint's transformation (its code was checked by the caller, who runs it).
    pub async fn set_endpoint_transformation(
        &self,
        endpoint: &Endpoint,
        transformation: &Transformation,
    ) -> Result<()> {
        Ok(self.store().set_endpoint_transformation(&endpoint.id, transformation).await?)
    }

    /// Checks an endpoint's fields, including that its event types exist: in the catalogue,
    /// or, for an endpoint of the operational-webhook application, among the operational
    /// events.
    async fn check_endpoint(&self, app: &Application, data: &EndpointData) -> Result<()> {
        let mut p = Problems::default();
        p.url("url", &data.url);
        if let Some(uid) = &data.uid {
            if p.name("uid", Uid::parse(uid)).is_some() && EndpointId::looks_like(uid) {
                p.add("uid", "must not look like an endpoint id (ep_…)");
            }
        }
        if let Some(channels) = &data.channels {
            if channels.len() > MAX_CHANNELS {
                p.add("channels", format!("at most {MAX_CHANNELS} channels"));
            }
            p.names("channels", channels, Channel::parse);
        }
        p.delivery_headers("headers", &data.headers);
        if let Some(ms) = data.request_timeout_ms {
            let most = self.0.config.request_timeout.as_millis() as i64;
            if !(100..=most).contains(&ms) {
                p.add("requestTimeoutMs", format!("must be between 100 and {most} (the server's --request-timeout)"));
            }
        }
        if let Some(filter) = &data.filter {
            if let Err(e) = hookd_core::filter::Filter::parse(filter) {
                p.add("filter", e.to_string());
            }
        }
        if let Some(types) = &data.event_types {
            let before = p.0.len();
            p.names("eventTypes", types, EventTypeName::parse);
            if p.0.len() == before && app.uid.as_deref() == Some(operational::APP_UID) {
                for (i, t) in types.iter().enumerate() {
                    if !operational::EVENT_TYPES.contains(&t.as_str()) {
                        let known = operational::EVENT_TYPES.join(", ");
                        p.add(
                            &format!("eventTypes.{i}"),
                            format!("unknown operational event type '{t}' (known: {known})"),
                        );
                    }
                }
            } else if p.0.len() == before {
                let known = self.store().existing_event_types(types).await?;
                for (i, t) in types.iter().enumerate() {
                    if !known.contains(t) {
                        p.add(
                            &format!("eventTypes.{i}"),
                            format!("unknown event type '{t}' (create it first with POST /api/v1/event-type)"),
                        );
                    }
                }
            }
        }
        p.finish()
    }
}

/// A secret as given (`whsec_…`, `whsk_…`), or a generated one.
fn parse_secret(secret: Option<&str>) -> Result<EndpointSecret> {
    match secret {
        None => Ok(EndpointSecret::generate()),
        Some(s) => EndpointSecret::parse(s).map_err(|e| ServiceError::invalid("secret", e.to_string())),
    }
}

/// The operational-webhook reference to an endpoint.
fn about(app: &Application, endpoint: &Endpoint) -> EndpointRef {
    EndpointRef {
        app_id: app.id.to_string(),
        app_uid: app.uid.clone(),
        endpoint_id: endpoint.id.to_string(),
        endpoint_uid: endpoint.uid.clone(),
    }
}

/// The `examples` of the latest version of an event type's schemas (versions are numbered;
/// the largest number is the latest).
fn latest_examples(schemas: Option<&serde_json::Value>) -> Vec<serde_json::Value> {
    let Some(versions) = schemas.and_then(|s| s.as_object()) else {
        return Vec::new();
    };
    let latest = versions.iter().max_by_key(|(version, _)| version.parse::<u64>().unwrap_or(0));
    latest.and_then(|(_, schema)| schema["examples"].as_array().cloned()).unwrap_or_default()
}
