//! Application tokens handed out as consumer-portal links, and their logout.

use hookd_core::time::now_ms;
use hookd_store::{Application, ApplicationData};

use super::{Result, Service, ServiceError};
use crate::auth::{generate_token, hash_token};

/// Lifetime of a portal token, in seconds: Svix's bounds and default.
const MIN_PORTAL_EXPIRY: u64 = 3600;
const MAX_PORTAL_EXPIRY: u64 = 7 * 24 * 3600;

impl Service {
    /// A new token scoped to the application `app` (id or uid) that expires after
    /// `expiry_secs` (7 days when `None`). An application not found is created first when
    /// `create` gives its fields (Svix's `application`). Only the token's hash is stored; the
    /// token itself is returned once, here.
    pub async fn portal_token(
        &self,
        app: &str,
        create: Option<ApplicationData>,
        expiry_secs: Option<u64>,
    ) -> Result<(Application, String)> {
        let expiry = expiry_secs.unwrap_or(MAX_PORTAL_EXPIRY);
        if !(MIN_PORTAL_EXPIRY..=MAX_PORTAL_EXPIRY).contains(&expiry) {
            let why = format!("must be between {MIN_PORTAL_EXPIRY} (1 hour) and {MAX_PORTAL_EXPIRY} (7 days) seconds");
            return Err(ServiceError::invalid("expiry", why));
        }
        let app = match (self.application(app).await, create) {
            (Err(ServiceError::NotFound(_)), Some(data)) => self.create_application_at(app, data).await?,
            (found, _) => found?,
        };
        let token = generate_token("sk_app_");
        let expires_at = now_ms() + expiry as i64 * 1000;
        self.store().create_app_token(&app.id, &hash_token(&token), Some(expires_at)).await?;
        Ok((app, token))
    }

    /// Deletes an application token (the caller's own: logging out).
    pub async fn revoke_token(&self, token: &str) -> Result<()> {
        self.store().delete_token(&hash_token(token)).await?;
        Ok(())
    }
}
