//! How hookd proves who it is to an endpoint, beyond the signature every delivery carries:
//! an OAuth 2.0 access token (client credentials) and a TLS client certificate (mTLS).
//!
//! Field names follow Svix's endpoint `oauth` and `mtls` settings, so a configuration written
//! for one works with the other. Both hold secrets (a client secret, a private key): they
//! are stored with the endpoint and never returned by the API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The OAuth grant hookd uses to get a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum GrantType {
    /// RFC 6749 section 4.4: the client's own credentials buy a token.
    ClientCredentials,
}

/// How hookd authenticates itself to the token endpoint (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum AuthMethod {
    /// `Authorization: Basic` with the URL-encoded client id and secret (the common one).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// An endpoint's OAuth 2.0 settings: hookd fetches a token from `token_url`, keeps it until
/// it expires, sends it as `Authorization: Bearer`, and fetches a new one when the endpoint
/// answers 401.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConfig {
    pub grant_type: GrantType,
    pub auth_method: AuthMethod,
    pub client_id: String,
    pub client_secret: String,
    pub token_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Added to the token request's form body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_params: Option<BTreeMap<String, String>>,
    /// Added to the token request's headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_headers: Option<BTreeMap<String, String>>,
}

/// An endpoint's TLS client identity, and the certificate authority its server certificate
/// is checked against when it is not a public one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MtlsConfig {
    /// PEM: the private key and the certificate chain hookd presents.
    pub identity: String,
    /// PEM: certificates trusted to sign the endpoint's server certificate, in addition to
    /// the public roots (for a private PKI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ca_cert: Option<String>,
}

// Debug output leaves the secrets out, so that no log line can carry them.
impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("grant_type", &self.grant_type)
            .field("auth_method", &self.auth_method)
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for MtlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtlsConfig").field("server_ca_cert", &self.server_ca_cert.is_some()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_has_no_secrets() {
        let oauth = OAuthConfig {
            grant_type: GrantType::ClientCredentials,
            auth_method: AuthMethod::ClientSecretBasic,
            client_id: "hookd".into(),
            client_secret: "s3cret".into(),
            token_url: "https://auth.example/token".into(),
            scopes: None,
            extra_params: None,
            extra_headers: None,
        };
        let mtls = MtlsConfig { identity: "-----BEGIN PRIVATE KEY-----".into(), server_ca_cert: None };
        let shown = format!("{oauth:?} {mtls:?}");
        assert!(shown.contains("hookd") && !shown.contains("s3cret") && !shown.contains("PRIVATE"), "{shown}");
    }
}
