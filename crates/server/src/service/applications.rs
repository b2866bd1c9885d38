//! Applications (tenants): creating, changing and deleting them. Every change here makes this
//! node forget its cache of applications, so its own publishes see the change at once (other
//! nodes within the cache's second).

use hookd_core::{ApplicationId, Uid};
use hookd_store::{Application, ApplicationData, StoreError};

use super::{Problems, Result, Service, ServiceError};

impl Service {
    /// An application by id or uid.
    pub async fn application(&self, id_or_uid: &str) -> Result<Application> {
        match self.store().get_application(id_or_uid).await {
            Err(StoreError::NotFound(_)) => Err(ServiceError::not_found("application")),
            found => Ok(found?),
        }
    }

    /// Creates an application; with `get_if_exists`, one that has the same uid already is
    /// returned instead. `true` when created.
    pub async fn create_application(&self, data: ApplicationData, get_if_exists: bool) -> Result<(Application, bool)> {
        check_application(&data)?;
        if get_if_exists {
            if let Some(uid) = &data.uid {
                if let Ok(existing) = self.store().get_application(uid).await {
                    return Ok((existing, false));
                }
            }
        }
        Ok((self.store().create_application(&ApplicationId::generate(), &data).await?, true))
    }

    /// Creates the application a request names by `path` (an id or uid) and did not find, as
    /// a PUT, a publish or a portal link may ask (Svix's `application` field): under the
    /// path's uid, which must then be a valid one, unless `data` has its own. An id cannot be
    /// chosen, so a path that looks like an application id stays not found.
    pub async fn create_application_at(&self, path: &str, mut data: ApplicationData) -> Result<Application> {
        if ApplicationId::looks_like(path) {
            return Err(ServiceError::not_found("application"));
        }
        check_application(&data)?;
        if data.uid.is_none() {
            data.uid = Some(path.to_owned());
        }
        Ok(self.create_application(data, false).await?.0)
    }

    /// Saves new fields.
    pub async fn update_application(&self, app: &Application, data: ApplicationData) -> Result<Application> {
        check_application(&data)?;
        let updated = self.store().update_application(&app.id, &data).await?;
        self.0.apps.forget();
        Ok(updated)
    }

    /// Deletes the application with its endpoints, messages and attempts.
    pub async fn delete_application(&self, app: &Application) -> Result<()> {
        self.store().delete_application(&app.id).await?;
        self.0.apps.forget();
        Ok(())
    }
}

/// The writable fields of an application.
fn check_application(data: &ApplicationData) -> Result<()> {
    let mut p = Problems::default();
    if data.name.trim().is_empty() {
        p.add("name", "must not be empty");
    }
    if let Some(uid) = &data.uid {
        if p.name("uid", Uid::parse(uid)).is_some() && ApplicationId::looks_like(uid) {
            p.add("uid", "must not look like an application id (app_…)");
        }
    }
    p.finish()
}
