//! Standard Webhooks signing: `whsec_` secrets and `v1` HMAC-SHA256 signatures over
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, base64 encoded.
//!
//! Several secrets may be active at once (rotation with a grace period); the
//! `webhook-signature` header then carries one `v1,…` entry per secret, space separated.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "whsec_";
/// Bytes of a generated secret; the spec asks for 24 to 64.
const GENERATED_LEN: usize = 32;
const MIN_LEN: usize = 24;
/// Svix accepts keys of up to 100 base64 characters, i.e. 75 bytes.
const MAX_LEN: usize = 75;

/// A signing secret. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Vec<u8>);

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(***)")
    }
}

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret must be base64 (optionally prefixed with 'whsec_')")]
    NotBase64,
    #[error("secret must decode to between {MIN_LEN} and {MAX_LEN} bytes")]
    BadLength,
}

impl EndpointSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut key = vec![0u8; GENERATED_LEN];
        rand::thread_rng().fill_bytes(&mut key);
        Self(key)
    }

    /// Parses `whsec_<base64>` or bare base64.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let b64 = s.strip_prefix(PREFIX).unwrap_or(s);
        let key = B64.decode(b64).map_err(|_| SecretError::NotBase64)?;
        if !(MIN_LEN..=MAX_LEN).contains(&key.len()) {
            return Err(SecretError::BadLength);
        }
        Ok(Self(key))
    }

    /// The serialized form shown to users: `whsec_<base64>`.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", B64.encode(&self.0))
    }

    /// The `v1,<base64>` signature of one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", B64.encode(self.mac(msg_id, timestamp, body)))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The `webhook-signature` header value: one signature per active secret.
pub fn signature_header(secrets: &[EndpointSecret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| s.sign(msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Why a received webhook did not verify; the text is meant for the person debugging it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not an integer number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is {0} seconds away from now, more than the {1} s tolerance")]
    TimestampOutOfTolerance(i64, i64),
    #[error("webhook-signature has no v1 signature")]
    NoV1Signature,
    #[error("no v1 signature matches the secret (wrong secret, or the body or headers were altered)")]
    Mismatch,
}

/// Verifies a received webhook against any of `secrets`.
pub fn verify(
    secrets: &[EndpointSecret],
    msg_id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let msg_id = msg_id.ok_or(VerifyError::MissingHeader("webhook-id"))?;
    let timestamp = timestamp.ok_or(VerifyError::MissingHeader("webhook-timestamp"))?;
    let signature = signature.ok_or(VerifyError::MissingHeader("webhook-signature"))?;
    let ts: i64 = timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    let skew = (now_secs - ts).abs();
    if skew > tolerance_secs {
        return Err(VerifyError::TimestampOutOfTolerance(now_secs - ts, tolerance_secs));
    }
    let candidates: Vec<Vec<u8>> =
        signature.split(' ').filter_map(|s| s.strip_prefix("v1,")).filter_map(|s| B64.decode(s).ok()).collect();
    if candidates.is_empty() {
        return Err(VerifyError::NoV1Signature);
    }
    for secret in secrets {
        let expected = secret.mac(msg_id, ts, body);
        if candidates.iter().any(|c| bool::from(c.as_slice().ct_eq(&expected))) {
            return Ok(());
        }
    }
    Err(VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the Standard Webhooks reference implementations.
    #[test]
    fn matches_reference_vector() {
        let secret = EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_round_trip_and_validate() {
        let s = EndpointSecret::generate();
        assert_eq!(EndpointSecret::parse(&s.expose()).unwrap(), s);
        assert_eq!(EndpointSecret::parse("whsec_!!!"), Err(SecretError::NotBase64));
        assert_eq!(EndpointSecret::parse("whsec_AAAA"), Err(SecretError::BadLength));
        assert_eq!(format!("{s:?}"), "EndpointSecret(***)");
    }

    #[test]
    fn header_signs_with_every_secret_and_verifies() {
        let (a, b) = (EndpointSecret::generate(), EndpointSecret::generate());
        let header = signature_header(&[a.clone(), b.clone()], "msg_1", 100, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        for s in [&a, &b] {
            verify(std::slice::from_ref(s), Some("msg_1"), Some("100"), Some(&header), b"{}", 100, 300).unwrap();
        }
        let other = EndpointSecret::generate();
        assert_eq!(
            verify(&[other], Some("msg_1"), Some("100"), Some(&header), b"{}", 100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(std::slice::from_ref(&a), Some("msg_1"), Some("100"), Some(&header), b"{}", 1000, 300),
            Err(VerifyError::TimestampOutOfTolerance(900, 300))
        );
        assert_eq!(
            verify(&[a], None, Some("100"), Some(&header), b"{}", 100, 300),
            Err(VerifyError::MissingHeader("webhook-id"))
        );
    }
}
