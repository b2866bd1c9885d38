//! Prefixed identifiers.
//!
//! An id is a prefix (`msg_`, `ep_`, …) followed by 26 Crockford base32 characters encoding 48
//! bits of milliseconds and 80 random bits, like a ULID. Ids therefore sort by creation time,
//! which is what keyset pagination (`iterator`) relies on, and cannot be guessed.
//!
//! [`InboxId`] is longer: an inbox id is the only secret of its public capture URL, so after
//! the same 10-character time prefix it carries a full 128 random bits.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use rand::RngCore;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BODY_LEN: usize = 26;

/// Encodes a 128-bit value as 26 Crockford base32 characters (most significant first).
fn encode(mut value: u128) -> String {
    let mut out = [0u8; BODY_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    String::from_utf8(out.to_vec()).expect("alphabet is ASCII")
}

/// The last id value handed out by this process: ids made in the same millisecond (or while
/// the clock steps back) continue from it, so a process's ids strictly increase and lists
/// keyed by id keep creation order.
static LAST: std::sync::Mutex<u128> = std::sync::Mutex::new(0);

/// A fresh time-ordered random body for an id, created at `ms` milliseconds since the epoch.
pub fn new_body_at(ms: i64) -> String {
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let mut value = (ms.max(0) as u128 & ((1 << 48) - 1)) << 80;
    for (i, b) in random.iter().enumerate() {
        value |= (*b as u128) << (8 * (9 - i));
    }
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if value >> 80 <= *last >> 80 {
        // Same (or an earlier) millisecond: step past the last id by a random amount, which
        // keeps ids unguessable while keeping their order.
        value = *last + 1 + (u128::from(random[0]) << 8 | u128::from(random[1]));
    }
    *last = value;
    encode(value)
}

/// The smallest id body for a given millisecond: used to turn a time bound into an id bound.
pub fn min_body_at(ms: i64) -> String {
    encode((ms.max(0) as u128 & ((1 << 48) - 1)) << 80)
}

fn is_body(s: &str) -> bool {
    s.len() == BODY_LEN && s.bytes().all(|b| ALPHABET.contains(&b))
}

/// Error for a string that is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind} id")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

/// What every id type has besides its own constructors: reading one back from hookd's own
/// database without checking it again (`from_stored`), comparing it with text, and its JSON
/// form (the id as a string; parsed, so a malformed one is refused).
macro_rules! id_common {
    ($name:ident) => {
        impl $name {
            /// An id read back from hookd's own database, which only ever stored ids this
            /// type made or parsed: not checked again (a claim reads thousands a second).
            pub fn from_stored(s: String) -> Self {
                debug_assert!(Self::parse(&s).is_ok(), "stored id {s:?} is malformed");
                Self(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        /// Bound and read as text, the column type of every id.
        #[cfg(feature = "sqlx")]
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        #[cfg(feature = "sqlx")]
        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, DB>>::encode_by_ref(&self.0, buf)
            }
        }

        /// Read back without checking again: see `from_stored`.
        #[cfg(feature = "sqlx")]
        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(Self::from_stored(<String as sqlx::Decode<'r, DB>>::decode(value)?))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id stamped with the current time.
            pub fn generate() -> Self {
                Self::generate_at(crate::time::now_ms())
            }

            /// A new id stamped with the given time in milliseconds.
            pub fn generate_at(ms: i64) -> Self {
                Self(format!("{}{}", $prefix, new_body_at(ms)))
            }

            /// Parses a string that must carry this id's prefix and a well-formed body.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                match s.strip_prefix($prefix) {
                    Some(body) if is_body(body) => Ok(Self(s.to_owned())),
                    _ => Err(IdError { kind: $kind, value: s.to_owned() }),
                }
            }

            /// Whether a string looks like an id of this kind (otherwise it may be a uid).
            pub fn looks_like(s: &str) -> bool {
                Self::parse(s).is_ok()
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        id_common!($name);
        id_schema!($name, concat!("^", $prefix, "[0-9A-HJKMNP-TV-Z]{26}$"), concat!("Id of the ", $kind, ": ", $prefix, " and 26 Crockford base32 characters."));
    };
}

/// An id in the OpenAPI document: a string of its pattern.
macro_rules! id_schema {
    ($name:ident, $pattern:expr, $description:expr) => {
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .description(Some($description))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(
    /// Identifies an application (a tenant that owns endpoints and receives messages).
    ApplicationId, "app_", "application"
);
prefixed_id!(
    /// Identifies an endpoint (a URL of an application, subscribed to event types).
    EndpointId, "ep_", "endpoint"
);
prefixed_id!(
    /// Identifies a message; also sent to receivers as `webhook-id`.
    MessageId, "msg_", "message"
);
prefixed_id!(
    /// Identifies one delivery attempt.
    AttemptId, "atmpt_", "attempt"
);
prefixed_id!(
    /// Identifies an API token (never the token's secret part).
    TokenId, "tok_", "token"
);

prefixed_id!(
    /// Identifies one request captured by a webhook tester inbox.
    InboxRequestId, "req_", "request"
);

prefixed_id!(
    /// Identifies a source (receiving webhooks).
    SourceId, "src_", "source"
);

prefixed_id!(
    /// Identifies a request a source refused.
    IngestLogId, "log_", "refused request"
);

/// The token of a source's public URL (`/in/{token}`): its only secret, so 160 random bits,
/// with no time part (nothing about it needs to sort).
pub fn new_url_token() -> String {
    let mut random = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut random);
    let mut out = String::from("ing_");
    let mut bits: u32 = 0;
    let mut value: u32 = 0;
    for byte in random {
        value = (value << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((value >> bits) & 31) as usize] as char);
        }
    }
    out
}

/// Characters of the time prefix of an [`InboxId`] (48 bits of milliseconds).
const TIME_LEN: usize = 10;

/// The time part of the last inbox id this process made (see [`InboxId::generate_at`]).
static LAST_INBOX_MS: AtomicI64 = AtomicI64::new(0);

/// Identifies a webhook tester inbox: `inb_`, 10 characters of creation time (so inboxes list
/// newest first like everything else), then 26 characters of 128 random bits. Anyone who knows
/// the id can post to the inbox, so the random part must be unguessable on its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InboxId(String);

impl InboxId {
    pub const PREFIX: &'static str = "inb_";

    pub fn generate() -> Self {
        Self::generate_at(crate::time::now_ms())
    }

    pub fn generate_at(ms: i64) -> Self {
        // Two inboxes made in the same millisecond would order by their random parts; the time
        // part is therefore kept strictly increasing within the process (a millisecond ahead at
        // most, for each inbox made in the same one), and the 128 random bits stay whole.
        let previous = LAST_INBOX_MS
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(ms.max(last + 1)))
            .expect("the update always succeeds");
        let time = &min_body_at(ms.max(previous + 1))[..TIME_LEN];
        let mut random = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut random);
        Self(format!("{}{time}{}", Self::PREFIX, encode(u128::from_be_bytes(random))))
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        match s.strip_prefix(Self::PREFIX) {
            Some(body) if body.len() == TIME_LEN + BODY_LEN && body.bytes().all(|b| ALPHABET.contains(&b)) => {
                Ok(Self(s.to_owned()))
            }
            _ => Err(IdError { kind: "inbox", value: s.to_owned() }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

id_common!(InboxId);
id_schema!(InboxId, "^inb_[0-9A-HJKMNP-TV-Z]{36}$", "Id of the inbox: inb_ and 36 Crockford base32 characters.");

impl fmt::Display for InboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_prefix_and_parse_back() {
        let id = MessageId::generate();
        assert!(id.as_str().starts_with("msg_"));
        assert_eq!(id.as_str().len(), 4 + BODY_LEN);
        assert_eq!(MessageId::parse(id.as_str()).unwrap(), id);
        assert!(EndpointId::parse(id.as_str()).is_err());
        assert!(MessageId::parse("msg_short").is_err());
        assert!(MessageId::parse("msg_0000000000000000000000000u").is_err());
    }

    #[test]
    fn url_tokens_carry_160_random_bits() {
        let tokens: std::collections::HashSet<String> = (0..1000).map(|_| new_url_token()).collect();
        assert_eq!(tokens.len(), 1000);
        for t in &tokens {
            assert_eq!(t.len(), 4 + 32, "{t}");
            assert!(t[4..].bytes().all(|b| ALPHABET.contains(&b)), "{t}");
        }
    }

    #[test]
    fn ids_sort_by_time() {
        // Later than any id other tests make, so the per-process ordering does not move them.
        let base = crate::time::now_ms() + 1_000_000_000;
        let a = MessageId::generate_at(base);
        let b = MessageId::generate_at(base + 1_000);
        assert!(a < b);
        assert!(*min_body_at(base + 1_000) <= b.as_str()[4..]);
        assert!(*min_body_at(base + 1_001) > b.as_str()[4..]);
    }

    #[test]
    fn ids_made_in_the_same_millisecond_keep_their_order() {
        let ids: Vec<MessageId> = (0..1000).map(|_| MessageId::generate_at(42)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_are_unique() {
        let set: std::collections::HashSet<_> = (0..1000).map(|_| ApplicationId::generate_at(5)).collect();
        assert_eq!(set.len(), 1000);
    }

    #[test]
    fn inbox_ids_sort_by_time_and_carry_128_random_bits() {
        let a = InboxId::generate_at(1_000);
        let b = InboxId::generate_at(2_000);
        assert!(a < b);
        assert_eq!(a.as_str().len(), 4 + TIME_LEN + BODY_LEN);
        assert_eq!(InboxId::parse(a.as_str()).unwrap(), a);
        assert!(InboxId::parse(MessageId::generate().as_str()).is_err());
        assert!(InboxId::parse("inb_short").is_err());
        // Same millisecond: only the random part differs, and it is never repeated.
        let set: std::collections::HashSet<_> =
            (0..1000).map(|_| InboxId::generate_at(5).into_string()[4 + TIME_LEN..].to_owned()).collect();
        assert_eq!(set.len(), 1000);
    }

    #[test]
    fn inbox_ids_made_in_one_millisecond_keep_their_order() {
        let ms = 1_700_000_000_000;
        let ids: Vec<InboxId> = (0..50).map(|_| InboxId::generate_at(ms)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(ids.iter().all(|id| InboxId::parse(id.as_str()).is_ok()));
    }
}
