//! OAuth 2.0 client credentials for endpoints that want a bearer token (RFC 6749 section
//! 4.4): hookd asks the endpoint's token URL for a token, keeps it in memory until it
//! expires, and asks again when the endpoint answers 401.
//!
//! One token per endpoint and node. Attempts to one endpoint share it: the first that needs
//! a token fetches it while the others wait on the endpoint's slot, so a lane of 8 attempts
//! in flight makes one token request, not 8. The token request goes through the same SSRF
//! guard as deliveries. Tokens are never stored in the database or logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hookd_core::endpoint_auth::{AuthMethod, GrantType, OAuthConfig};
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};

use crate::{read_capped, Sender};

/// A token is renewed this long before the authorization server says it expires (at most
/// half its lifetime), so that it does not expire on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// Endpoints whose tokens are kept at most; past this the cache starts again.
const MAX_SLOTS: usize = 100_000;

#[derive(Clone)]
struct Token {
    /// The settings it was fetched with: changed settings need a new token.
    config: OAuthConfig,
    value: String,
    /// `None`: the server gave no lifetime; kept until the endpoint refuses it.
    expires_at: Option<Instant>,
}

/// This node's tokens, one slot per endpoint.
#[derive(Default)]
pub(crate) struct Tokens {
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Token>>>>>,
}

impl Tokens {
    fn slot(&self, endpoint_id: &str) -> Arc<tokio::sync::Mutex<Option<Token>>> {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slots.len() >= MAX_SLOTS && !slots.contains_key(endpoint_id) {
            slots.clear();
        }
        slots.entry(endpoint_id.to_owned()).or_default().clone()
    }
}

impl Sender {
    /// A valid token for the endpoint: the one kept, or a new one. With `refused`, the token
    /// the endpoint just answered 401 to, that one is not reused.
    pub(crate) async fn oauth_token(
        &self,
        endpoint_id: &str,
        config: &OAuthConfig,
        refused: Option<&str>,
        timeout: Duration,
    ) -> Result<String, String> {
        let slot = self.tokens.slot(endpoint_id);
        let mut kept = slot.lock().await;
        if let Some(token) = kept.as_ref() {
            let fresh = token.expires_at.is_none_or(|at| at > Instant::now());
            if token.config == *config && fresh && refused != Some(token.value.as_str()) {
                return Ok(token.value.clone());
            }
        }
        *kept = None;
        let token = self.fetch_token(config, timeout).await?;
        let value = token.value.clone();
        *kept = Some(token);
        Ok(value)
    }

    async fn fetch_token(&self, config: &OAuthConfig, timeout: Duration) -> Result<Token, String> {
        let url = self.checked_url(&config.token_url, &self.policy).await.map_err(|e| format!("token URL: {e}"))?;
        let body = token_request_body(config);
        let mut request = self.client.post(url).timeout(timeout);
        for (k, v) in config.extra_headers.iter().flatten() {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
                request = request.header(k, v);
            }
        }
        match config.auth_method {
            AuthMethod::ClientSecretBasic => {
                // RFC 6749 section 2.3.1: each part form-encoded, then joined and base64'd.
                let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", encode(&config.client_id), encode(&config.client_secret));
                let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                request = request.header(AUTHORIZATION, format!("Basic {basic}"));
            }
            // In the body (see `token_request_body`).
            AuthMethod::ClientSecretPost => {}
        }
        let requested = Instant::now();
        let response = request
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("token request to {} failed: {}", config.token_url, self.describe(&e, timeout)))?;
        let status = response.status();
        let body = read_capped(response).await;
        if !status.is_success() {
            let excerpt: String = body.chars().take(200).collect();
            return Err(format!("token request to {} answered {}: {excerpt}", config.token_url, status.as_u16()));
        }
        parse_token(&body, config.clone(), requested)
    }
}

/// The form body of a token request (RFC 6749 section 4.4.2).
fn token_request_body(config: &OAuthConfig) -> String {
    let GrantType::ClientCredentials = config.grant_type;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(scopes) = config.scopes.as_ref().filter(|s| !s.is_empty()) {
        form.append_pair("scope", &scopes.join(" "));
    }
    for (k, v) in config.extra_params.iter().flatten() {
        form.append_pair(k, v);
    }
    if config.auth_method == AuthMethod::ClientSecretPost {
        form.append_pair("client_id", &config.client_id);
        form.append_pair("client_secret", &config.client_secret);
    }
    form.finish()
}

/// Reads a token response (RFC 6749 section 5.1).
fn parse_token(body: &str, config: OAuthConfig, requested: Instant) -> Result<Token, String> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        access_token: String,
        #[serde(default)]
        token_type: Option<String>,
        #[serde(default)]
        expires_in: Option<u64>,
    }
    let answer: TokenResponse = serde_json::from_str(body)
        .map_err(|e| format!("token response from {} is not a token: {e}", config.token_url))?;
    if let Some(kind) = answer.token_type.as_deref().filter(|k| !k.eq_ignore_ascii_case("bearer")) {
        return Err(format!("token from {} is of type '{kind}', not a bearer token", config.token_url));
    }
    if answer.access_token.is_empty() || HeaderValue::try_from(format!("Bearer {}", answer.access_token)).is_err() {
        return Err(format!("token from {} cannot be sent in a header", config.token_url));
    }
    let expires_at = answer.expires_in.map(|secs| {
        let lifetime = Duration::from_secs(secs);
        requested + lifetime - EXPIRY_MARGIN.min(lifetime / 2)
    });
    Ok(Token { config, value: answer.access_token, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OAuthConfig {
        OAuthConfig {
            grant_type: GrantType::ClientCredentials,
            auth_method: AuthMethod::ClientSecretPost,
            client_id: "c".into(),
            client_secret: "s".into(),
            token_url: "https://auth.example/token".into(),
            scopes: None,
            extra_params: None,
            extra_headers: None,
        }
    }

    #[test]
    fn token_responses() {
        let now = Instant::now();
        let t =
            parse_token(r#"{"access_token":"abc","token_type":"Bearer","expires_in":3600}"#, config(), now).unwrap();
        assert_eq!(t.value, "abc");
        assert_eq!(t.expires_at, Some(now + Duration::from_secs(3570)));
        // A short lifetime loses half of itself at most.
        let t = parse_token(r#"{"access_token":"abc","token_type":"bearer","expires_in":10}"#, config(), now).unwrap();
        assert_eq!(t.expires_at, Some(now + Duration::from_secs(5)));
        let t = parse_token(r#"{"access_token":"abc"}"#, config(), now).unwrap();
        assert_eq!(t.expires_at, None);
        assert!(parse_token(r#"{"access_token":"abc","token_type":"mac"}"#, config(), now)
            .err()
            .unwrap()
            .contains("mac"));
        assert!(parse_token(r#"{"error":"invalid_client"}"#, config(), now).is_err());
        assert!(parse_token(r#"{"access_token":"a\nb"}"#, config(), now).is_err());
    }
}
