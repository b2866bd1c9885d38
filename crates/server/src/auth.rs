//! Bearer-token authentication and scopes.
//!
//! The admin token reaches everything. Application tokens (`hookd token create --app`) are
//! stored as SHA-256 hashes and reach one application. Tokens are compared in constant time
//! (the admin token) or looked up by hash (the others), and never logged.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hookd_core::time::now_ms;
use hookd_store::{Application, Scope};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::extract::bearer;
use crate::AppState;

/// Hex SHA-256 of a token: what is stored and looked up.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token with a recognisable prefix (`sk_` admin, `sk_app_` application).
pub fn generate_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// How long a stored token's scope is trusted from the cache before it is read again: a
/// token logged out through another node stops working within this.
const RECHECK_AFTER: Duration = Duration::from_secs(10);

/// A stored token's scope as last read: when, and until when the token is valid (ms).
struct Cached {
    scope: Scope,
    read_at: Instant,
    expires_at: Option<i64>,
}

/// Resolves tokens to scopes, caching the stored ones for a few seconds (a token's scope never
/// changes; it only expires or is deleted).
#[derive(Clone)]
pub struct Authenticator {
    admin_token: Arc<str>,
    cache: Arc<RwLock<HashMap<String, Cached>>>,
}

impl Authenticator {
    pub fn new(admin_token: &str) -> Self {
        Self { admin_token: admin_token.into(), cache: Default::default() }
    }

    pub async fn scope_of(&self, token: &str, state: &AppState) -> Result<Scope, ApiError> {
        if self.is_admin_token(token) {
            return Ok(Scope::Admin);
        }
        let hash = hash_token(token);
        let fresh = |c: &Cached| c.read_at.elapsed() < RECHECK_AFTER && c.expires_at.is_none_or(|at| at > now_ms());
        if let Some(cached) = self.cache.read().expect("cache lock").get(&hash).filter(|c| fresh(c)) {
            return Ok(cached.scope.clone());
        }
        let Some((scope, expires_at)) = state.store.token_scope(&hash).await? else {
            self.forget(token);
            return Err(ApiError::Unauthorized("invalid or expired token"));
        };
        let cached = Cached { scope: scope.clone(), read_at: Instant::now(), expires_at };
        self.cache.write().expect("cache lock").insert(hash, cached);
        Ok(scope)
    }

    /// Drops a token from the cache (it was just deleted).
    pub fn forget(&self, token: &str) {
        self.cache.write().expect("cache lock").remove(&hash_token(token));
    }

    /// Whether `token` is the admin token.
    fn is_admin_token(&self, token: &str) -> bool {
        bool::from(token.as_bytes().ct_eq(self.admin_token.as_bytes()))
    }
}

/// The authenticated caller of a request.
pub struct Caller(pub Scope);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts.headers.get(axum::http::header::AUTHORIZATION))
            .ok_or(ApiError::Unauthorized("missing bearer token (Authorization: Bearer <token>)"))?;
        Ok(Self(state.auth.scope_of(&token, state).await?))
    }
}

/// The caller of an admin-only route: extracting it refuses an application token (403) before
/// the handler runs, so such a handler cannot forget to check.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_request_parts(parts, state).await?.require_admin()?;
        Ok(Admin)
    }
}

impl Caller {
    /// Only the admin token may do this.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.0 {
            Scope::Admin => Ok(()),
            Scope::App(_) => Err(ApiError::Forbidden("this token is scoped to one application and cannot do this")),
        }
    }

    /// Finds the application named in a path (id or uid) if this caller may reach it.
    /// An application token gets 403 for every other application, existing or not.
    pub async fn application(&self, state: &AppState, id_or_uid: &str) -> Result<Application, ApiError> {
        self.check_application(state.store.get_application(id_or_uid).await)
    }

    /// The same for a publish, through the short-lived application cache.
    pub async fn application_to_publish(&self, state: &AppState, id_or_uid: &str) -> Result<Application, ApiError> {
        self.check_application(state.apps.get(&state.store, id_or_uid).await)
    }

    fn check_application(&self, found: Result<Application, hookd_store::StoreError>) -> Result<Application, ApiError> {
        match (&self.0, found) {
            (Scope::Admin, Ok(app)) => Ok(app),
            (Scope::Admin, Err(e)) => Err(match e {
                hookd_store::StoreError::NotFound(_) => ApiError::not_found("application"),
                other => other.into(),
            }),
            (Scope::App(allowed), Ok(app)) if app.id == *allowed => Ok(app),
            (Scope::App(_), Err(e)) if !matches!(e, hookd_store::StoreError::NotFound(_)) => Err(e.into()),
            (Scope::App(_), _) => Err(ApiError::Forbidden("this token does not reach that application")),
        }
    }
}
