//! Bearer-token authentication and scopes.
//!
//! The admin token reaches everything. Application tokens (`hookd token create --app`) are
//! stored as SHA-256 hashes and reach one application. Tokens are compared in constant time
//! (the admin token) or looked up by hash (the others), and never logged.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
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

/// Resolves tokens to scopes, caching the stored ones (tokens are never edited, so a cached
/// scope stays right for as long as the token exists).
#[derive(Clone)]
pub struct Authenticator {
    admin_token: Arc<str>,
    cache: Arc<RwLock<HashMap<String, Scope>>>,
}

impl Authenticator {
    pub fn new(admin_token: &str) -> Self {
        Self { admin_token: admin_token.into(), cache: Default::default() }
    }

    pub async fn scope_of(&self, token: &str, state: &AppState) -> Result<Scope, ApiError> {
        if bool::from(token.as_bytes().ct_eq(self.admin_token.as_bytes())) {
            return Ok(Scope::Admin);
        }
        let hash = hash_token(token);
        if let Some(scope) = self.cache.read().expect("cache lock").get(&hash) {
            return Ok(scope.clone());
        }
        let scope = state.store.token_scope(&hash).await?.ok_or(ApiError::Unauthorized("invalid token"))?;
        self.cache.write().expect("cache lock").insert(hash, scope.clone());
        Ok(scope)
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
                hookd_store::StoreError::NotFound => ApiError::not_found("application"),
                other => other.into(),
            }),
            (Scope::App(allowed), Ok(app)) if *allowed == app.id => Ok(app),
            (Scope::App(_), Err(e)) if !matches!(e, hookd_store::StoreError::NotFound) => Err(e.into()),
            (Scope::App(_), _) => Err(ApiError::Forbidden("this token does not reach that application")),
        }
    }
}
