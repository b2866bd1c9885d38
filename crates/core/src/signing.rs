//! Standard Webhooks signing over `"{webhook-id}.{webhook-timestamp}.{body}"`, with either
//! scheme the specification defines:
//!
//! - symmetric: a `whsec_` secret shared with the receiver, `v1` HMAC-SHA256 signatures;
//! - asymmetric: an ed25519 key pair, whose secret key (`whsk_`) stays with hookd and whose
//!   public key (`whpk_`) the receiver verifies `v1a` signatures with. A receiver can then
//!   check a webhook but never forge one. Keys are serialized as base64: the secret key as its
//!   32-byte seed followed by the 32-byte public key (libsodium's layout; a bare 32-byte seed is
//!   accepted too), the public key as its 32 bytes.
//!
//! Several secrets may be active at once (rotation with a grace period); the
//! `webhook-signature` header then carries one entry per secret, space separated.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "whsec_";
const SECRET_KEY_PREFIX: &str = "whsk_";
const PUBLIC_KEY_PREFIX: &str = "whpk_";
/// Bytes of a generated secret; the spec asks for 24 to 64.
const GENERATED_LEN: usize = 32;
const MIN_LEN: usize = 24;
/// Svix accepts keys of up to 100 base64 characters, i.e. 75 bytes.
const MAX_LEN: usize = 75;

/// A signing secret. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Key);

#[derive(Clone, PartialEq, Eq)]
enum Key {
    Hmac(Vec<u8>),
    Ed25519 {
        seed: [u8; 32],
        public: [u8; 32],
    },
    /// A public key alone: it verifies `v1a` signatures and makes none (see
    /// [`EndpointSecret::parse_for_verifying`]).
    Ed25519Public([u8; 32]),
}

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(***)")
    }
}

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "secret must be base64, optionally prefixed with 'whsec_' (or an ed25519 secret key prefixed with 'whsk_')"
    )]
    NotBase64,
    #[error("secret must decode to between {MIN_LEN} and {MAX_LEN} bytes")]
    BadLength,
    #[error("an ed25519 secret key (whsk_) must decode to its 32-byte seed, or to the seed followed by its 32-byte public key")]
    BadEd25519Key,
    #[error("that is a public key (whpk_): it verifies signatures but cannot make them; give the secret key (whsk_)")]
    PublicKey,
}

impl EndpointSecret {
    /// A new random HMAC secret.
    pub fn generate() -> Self {
        let mut key = vec![0u8; GENERATED_LEN];
        rand::thread_rng().fill_bytes(&mut key);
        Self(Key::Hmac(key))
    }

    /// A new ed25519 key pair.
    pub fn generate_ed25519() -> Self {
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        Self::ed25519(seed)
    }

    fn ed25519(seed: [u8; 32]) -> Self {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("any 32 bytes are an ed25519 seed");
        let public: [u8; 32] = pair.public_key().as_ref().try_into().expect("ed25519 public keys are 32 bytes");
        Self(Key::Ed25519 { seed, public })
    }

    /// Parses `whsec_<base64>` or bare base64 (HMAC), or `whsk_<base64>` (ed25519).
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        if s.starts_with(PUBLIC_KEY_PREFIX) {
            return Err(SecretError::PublicKey);
        }
        if let Some(b64) = s.strip_prefix(SECRET_KEY_PREFIX) {
            let bytes = B64.decode(b64).map_err(|_| SecretError::NotBase64)?;
            let seed: [u8; 32] = bytes.get(..32).and_then(|s| s.try_into().ok()).ok_or(SecretError::BadEd25519Key)?;
            let secret = Self::ed25519(seed);
            return match (bytes.len(), &secret.0) {
                (32, _) => Ok(secret),
                (64, Key::Ed25519 { public, .. }) if bytes[32..] == public[..] => Ok(secret),
                _ => Err(SecretError::BadEd25519Key),
            };
        }
        let b64 = s.strip_prefix(PREFIX).unwrap_or(s);
        let key = B64.decode(b64).map_err(|_| SecretError::NotBase64)?;
        if !(MIN_LEN..=MAX_LEN).contains(&key.len()) {
            return Err(SecretError::BadLength);
        }
        Ok(Self(Key::Hmac(key)))
    }

    /// Like [`EndpointSecret::parse`], and also accepts a public key `whpk_…`, which can only
    /// verify: for a receiver's checks (`hookd verify`, a tester inbox's `secret`).
    pub fn parse_for_verifying(s: &str) -> Result<Self, SecretError> {
        match s.strip_prefix(PUBLIC_KEY_PREFIX) {
            Some(b64) => {
                let bytes = B64.decode(b64).map_err(|_| SecretError::NotBase64)?;
                Ok(Self(Key::Ed25519Public(bytes.try_into().map_err(|_| SecretError::BadEd25519Key)?)))
            }
            None => Self::parse(s),
        }
    }

    /// Whether this is an ed25519 key (signatures `v1a`).
    pub fn is_asymmetric(&self) -> bool {
        !matches!(self.0, Key::Hmac(_))
    }

    /// The serialized secret, as stored: `whsec_<base64>` or `whsk_<base64>`.
    pub fn expose(&self) -> String {
        match &self.0 {
            Key::Hmac(key) => format!("{PREFIX}{}", B64.encode(key)),
            Key::Ed25519 { seed, public } => {
                format!("{SECRET_KEY_PREFIX}{}", B64.encode([&seed[..], &public[..]].concat()))
            }
            Key::Ed25519Public(_) => self.for_receiver(),
        }
    }

    /// What a receiver verifies with: the shared secret itself, or the public key `whpk_…`.
    pub fn for_receiver(&self) -> String {
        match &self.0 {
            Key::Hmac(_) => self.expose(),
            Key::Ed25519 { public, .. } | Key::Ed25519Public(public) => {
                format!("{PUBLIC_KEY_PREFIX}{}", B64.encode(public))
            }
        }
    }

    /// The `v1,<base64>` (HMAC) or `v1a,<base64>` (ed25519) signature of one message; empty
    /// for a public key alone, which cannot sign (signing keys come from [`EndpointSecret::parse`],
    /// which refuses public keys).
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        match &self.0 {
            Key::Hmac(_) => format!("v1,{}", B64.encode(self.mac(msg_id, timestamp, body))),
            Key::Ed25519 { seed, .. } => {
                let pair = Ed25519KeyPair::from_seed_unchecked(seed).expect("a stored seed is valid");
                format!("v1a,{}", B64.encode(pair.sign(&signed_content(msg_id, timestamp, body))))
            }
            Key::Ed25519Public(_) => String::new(),
        }
    }

    /// The HMAC of one message (an ed25519 key has none: its check is `verifies`).
    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let Key::Hmac(key) = &self.0 else { return Vec::new() };
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(&signed_content(msg_id, timestamp, body));
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether one of `signature`'s entries is this secret's signature of the message.
    fn verifies(&self, signature: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> bool {
        let entries = |version: &'static str| {
            signature.split(' ').filter_map(move |s| s.strip_prefix(version)).filter_map(|s| B64.decode(s).ok())
        };
        match &self.0 {
            Key::Hmac(_) => {
                let expected = self.mac(msg_id, timestamp, body);
                entries("v1,").any(|c| bool::from(c.as_slice().ct_eq(&expected)))
            }
            Key::Ed25519 { public, .. } | Key::Ed25519Public(public) => {
                let key = UnparsedPublicKey::new(&ED25519, public);
                let content = signed_content(msg_id, timestamp, body);
                entries("v1a,").any(|c| key.verify(&content, &c).is_ok())
            }
        }
    }
}

/// What is signed: `"{webhook-id}.{webhook-timestamp}.{body}"`.
fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(msg_id.len() + body.len() + 24);
    content.extend_from_slice(msg_id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.to_string().as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
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
    #[error("webhook-signature has no v1 or v1a signature")]
    NoV1Signature,
    #[error("no signature matches the secret (wrong secret, or the body or headers were altered)")]
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
    if !signature.split(' ').any(|s| s.starts_with("v1,") || s.starts_with("v1a,")) {
        return Err(VerifyError::NoV1Signature);
    }
    if secrets.iter().any(|secret| secret.verifies(signature, msg_id, ts, body)) {
        return Ok(());
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
        let pair = EndpointSecret::generate_ed25519();
        assert!(pair.expose().starts_with("whsk_") && pair.for_receiver().starts_with("whpk_"));
        assert_eq!(EndpointSecret::parse(&pair.expose()).unwrap(), pair);
        assert_eq!(EndpointSecret::parse(&pair.for_receiver()), Err(SecretError::PublicKey));
        assert_eq!(EndpointSecret::parse("whsk_AAAA"), Err(SecretError::BadEd25519Key));
        // A seed whose public half does not match it is refused.
        let mut wrong = B64.decode(pair.expose().strip_prefix("whsk_").unwrap()).unwrap();
        wrong[40] ^= 1;
        assert_eq!(EndpointSecret::parse(&format!("whsk_{}", B64.encode(wrong))), Err(SecretError::BadEd25519Key));
    }

    #[test]
    fn ed25519_signs_v1a_and_verifies_next_to_hmac() {
        let (hmac, pair) = (EndpointSecret::generate(), EndpointSecret::generate_ed25519());
        let header = signature_header(&[hmac.clone(), pair.clone()], "msg_1", 100, b"{}");
        let entries: Vec<&str> = header.split(' ').collect();
        assert!(entries[0].starts_with("v1,") && entries[1].starts_with("v1a,"), "{header}");
        verify(std::slice::from_ref(&pair), Some("msg_1"), Some("100"), Some(&header), b"{}", 100, 300).unwrap();
        verify(std::slice::from_ref(&hmac), Some("msg_1"), Some("100"), Some(&header), b"{}", 100, 300).unwrap();
        // The receiver's side: the public key alone verifies, and signs nothing.
        let public = EndpointSecret::parse_for_verifying(&pair.for_receiver()).unwrap();
        verify(std::slice::from_ref(&public), Some("msg_1"), Some("100"), Some(&header), b"{}", 100, 300).unwrap();
        assert_eq!(public.sign("msg_1", 100, b"{}"), "");
        let altered = verify(&[pair], Some("msg_1"), Some("100"), Some(&header), b"{ }", 100, 300);
        assert_eq!(altered, Err(VerifyError::Mismatch));
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
