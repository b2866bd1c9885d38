//! Sources: providers (GitHub, Stripe, Slack, …) post their webhooks to a public hookd URL,
//! and hookd stores and forwards them. A URL anyone can post to is only as trustworthy as
//! the check in front of it, so each source type verifies the request exactly as its
//! provider documents (an HMAC over the raw body, a signed timestamp, Standard Webhooks
//! headers, …) and only authentic webhooks get committed. This module is that check, plus
//! what the provider's request says about itself (event type, delivery id, handshakes); it
//! does no I/O.
//!
//! The API follows Svix's Ingest API: a source has a `type` (kebab-case, as Svix spells it)
//! and a `config` object with Svix's field names. hookd adds a few optional settings of its
//! own: verification for `generic-webhook` (an HMAC, Basic credentials or an API key) and a
//! timestamp `tolerance` for `stripe`.
//!
//! Every comparison of a secret or a signature is made in constant time, and no reason given
//! for a refusal contains a secret or the signature that was expected.

use std::fmt;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use ring::hmac;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::signing::{self, EndpointSecret, VerifyError};

/// Seconds a signed timestamp may be away from now: what Stripe, Slack and Standard Webhooks
/// recommend.
const DEFAULT_TOLERANCE: u64 = 300;
/// The largest `tolerance` a Stripe source may set (a day).
const MAX_TOLERANCE: u64 = 86_400;
/// The longest event type or delivery id taken from a request.
const MAX_ID_LEN: usize = 256;

/// Standard base64 that accepts the `=` padding or its absence.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The types Svix configures with `SvixConfig`: their providers send Standard Webhooks
/// (Svix) signatures.
const SVIX_FAMILY: &[&str] = &[
    "beehiiv",
    "brex",
    "clerk",
    "guesty",
    "incident-io",
    "lithic",
    "nash",
    "open-ai",
    "pleo",
    "psi-fi",
    "render",
    "replicate",
    "resend",
    "safebase",
    "sardine",
    "stych",
    "svix",
];

/// Every type hookd supports, sorted.
const SUPPORTED: &[&str] = &[
    "beehiiv",
    "brex",
    "clerk",
    "generic-webhook",
    "github",
    "guesty",
    "incident-io",
    "lithic",
    "nash",
    "open-ai",
    "pleo",
    "psi-fi",
    "render",
    "replicate",
    "resend",
    "safebase",
    "sardine",
    "segment",
    "shopify",
    "slack",
    "stripe",
    "stych",
    "svix",
    "zoom",
];

/// The types of Svix's Ingest API that hookd does not support (yet), named as such in errors.
const SVIX_UNSUPPORTED: &[&str] = &[
    "adobe-sign",
    "airwallex",
    "checkbook",
    "cron",
    "docusign",
    "easypost",
    "hubspot",
    "meta",
    "nango",
    "openclaw",
    "orum-io",
    "panda-doc",
    "port-io",
    "rutter",
    "tailscale",
    "telnyx",
    "vapi",
    "veriff",
    "vgs",
];

/// What arrived at a source's URL, as the verifier sees it.
pub struct Incoming<'a> {
    pub method: &'a str,
    /// Headers in arrival order; names may be any case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> Incoming<'a> {
    /// The first header of that name, whatever its case.
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &str) -> Result<&'a str, String> {
        self.header(name).ok_or_else(|| format!("missing header {name}"))
    }

    /// The body as JSON, when it is JSON.
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(self.body).ok()
    }
}

/// A source's type and its settings (secrets included), as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceType(Kind);

/// Why a source's type or config was refused; `field` names the setting ("type",
/// "config.secret", "config.hmac.header", …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

fn config_error(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError { field: field.into(), reason: reason.into() }
}

/// A secret setting. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Secret {
    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// No scheme of its own; hookd may check one of its own (none: accept everything).
    Generic(Option<GenericAuth>),
    /// `X-Hub-Signature-256`; no secret: unsigned deliveries are accepted.
    Github(Option<Secret>),
    /// `Stripe-Signature`, with a signed timestamp.
    Stripe { secret: Secret, tolerance: Option<u64> },
    /// `X-Shopify-Hmac-Sha256`.
    Shopify(Secret),
    /// `X-Slack-Signature`, with a signed timestamp.
    Slack(Secret),
    /// `X-Signature` (HMAC-SHA1); no secret: unsigned requests are accepted.
    Segment(Option<Secret>),
    /// `x-zm-signature`, with a signed timestamp.
    Zoom(Secret),
    /// Standard Webhooks headers (`webhook-*` or `svix-*`); `name` is the Svix type.
    Svix { name: &'static str, secret: EndpointSecret },
}

/// The checks hookd offers a `generic-webhook` source.
#[derive(Debug, Clone, PartialEq)]
enum GenericAuth {
    /// An HMAC of the raw body in a header of the sender's choice.
    Hmac { header: String, secret: Secret, algorithm: Algorithm, encoding: Encoding, prefix: Option<String> },
    /// `Authorization: Basic`.
    Basic { username: String, password: Secret },
    /// A fixed key in a header.
    ApiKey { header: String, key: Secret },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    const NAMES: &'static str = "sha256, sha1, sha512";

    fn parse(s: &str) -> Option<Self> {
        match s {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Self::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Hex,
    Base64,
}

impl Encoding {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "hex" => Some(Self::Hex),
            "base64" => Some(Self::Base64),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::Base64 => "base64",
        }
    }

    fn decode(self, s: &str) -> Option<Vec<u8>> {
        match self {
            Self::Hex => hex_decode(s),
            Self::Base64 => BASE64.decode(s).ok(),
        }
    }
}

impl SourceType {
    /// Parses Svix's `type` and `config` (config may be absent, e.g. for generic-webhook).
    /// An unknown or unsupported type is an error on field "type" that lists the supported
    /// types; a missing or empty required secret, an unknown config field or a bad value is an
    /// error naming the field.
    pub fn parse(type_name: &str, config: Option<&Value>) -> Result<Self, ConfigError> {
        let kind = match type_name {
            "generic-webhook" => Kind::Generic(parse_generic(config)?),
            "github" => Kind::Github(Fields::new(config, "config", &["secret"])?.optional_secret("secret")?),
            "stripe" => {
                let fields = Fields::new(config, "config", &["secret", "tolerance"])?;
                Kind::Stripe { secret: fields.secret("secret")?, tolerance: fields.tolerance("tolerance")? }
            }
            "shopify" => Kind::Shopify(Fields::new(config, "config", &["secret"])?.secret("secret")?),
            "slack" => Kind::Slack(Fields::new(config, "config", &["secret"])?.secret("secret")?),
            "segment" => Kind::Segment(Fields::new(config, "config", &["secret"])?.optional_secret("secret")?),
            "zoom" => Kind::Zoom(Fields::new(config, "config", &["secret"])?.secret("secret")?),
            other => match SVIX_FAMILY.iter().copied().find(|name| *name == other) {
                Some(name) => {
                    let fields = Fields::new(config, "config", &["secret"])?;
                    let raw = fields.required("secret")?;
                    let secret = EndpointSecret::parse_for_verifying(raw)
                        .map_err(|e| config_error(fields.field("secret"), e.to_string()))?;
                    Kind::Svix { name, secret }
                }
                None => return Err(unsupported(other)),
            },
        };
        Ok(Self(kind))
    }

    /// The type's name as Svix spells it ("github", "generic-webhook", "beehiiv", …).
    pub fn name(&self) -> &str {
        match &self.0 {
            Kind::Generic(_) => "generic-webhook",
            Kind::Github(_) => "github",
            Kind::Stripe { .. } => "stripe",
            Kind::Shopify(_) => "shopify",
            Kind::Slack(_) => "slack",
            Kind::Segment(_) => "segment",
            Kind::Zoom(_) => "zoom",
            Kind::Svix { name, .. } => name,
        }
    }

    /// The config as stored (secrets included), to be passed back to
    /// `parse(name(), Some(&stored))`.
    pub fn stored_config(&self) -> Value {
        match &self.0 {
            Kind::Generic(None) => json!({}),
            Kind::Generic(Some(auth)) => generic_config(auth, true),
            Kind::Github(secret) | Kind::Segment(secret) => match secret {
                Some(secret) => json!({ "secret": secret.0 }),
                None => json!({}),
            },
            Kind::Stripe { secret, tolerance } => {
                let mut config = json!({ "secret": secret.0 });
                if let Some(t) = tolerance {
                    config["tolerance"] = json!(t);
                }
                config
            }
            Kind::Shopify(secret) | Kind::Slack(secret) | Kind::Zoom(secret) => json!({ "secret": secret.0 }),
            Kind::Svix { secret, .. } => json!({ "secret": secret.expose() }),
        }
    }

    /// The config as shown by the API: secrets left out. Svix's `*ConfigOut` are empty objects
    /// for these types; hookd's own non-secret settings are shown (a generic-webhook's header
    /// names, algorithm and username, a Stripe source's tolerance), never a secret, password
    /// or key.
    pub fn public_config(&self) -> Value {
        match &self.0 {
            Kind::Generic(Some(auth)) => generic_config(auth, false),
            Kind::Stripe { tolerance: Some(t), .. } => json!({ "tolerance": t }),
            _ => json!({}),
        }
    }

    /// Every supported type name, for docs and error messages.
    pub fn supported() -> &'static [&'static str] {
        SUPPORTED
    }

    /// Ok when the request is authentic; Err(reason) otherwise. `now` is seconds since the
    /// epoch. Reasons are short and never contain the secret or the expected signature.
    pub fn verify(&self, req: &Incoming<'_>, now: i64) -> Result<(), String> {
        match &self.0 {
            Kind::Generic(None) | Kind::Github(None) | Kind::Segment(None) => Ok(()),
            Kind::Generic(Some(auth)) => verify_generic(auth, req),
            Kind::Github(Some(secret)) => {
                const HEADER: &str = "X-Hub-Signature-256";
                let value = req.require(HEADER)?;
                let signature = value
                    .strip_prefix("sha256=")
                    .and_then(hex_decode)
                    .ok_or_else(|| format!("{HEADER} is not sha256=<hex>"))?;
                check_mac(Algorithm::Sha256, secret.bytes(), &[req.body], &signature)
            }
            Kind::Stripe { secret, tolerance } => {
                verify_stripe(secret, tolerance.unwrap_or(DEFAULT_TOLERANCE), req, now)
            }
            Kind::Shopify(secret) => {
                const HEADER: &str = "X-Shopify-Hmac-Sha256";
                let signature = BASE64.decode(req.require(HEADER)?).map_err(|_| format!("{HEADER} is not base64"))?;
                check_mac(Algorithm::Sha256, secret.bytes(), &[req.body], &signature)
            }
            Kind::Slack(secret) => verify_v0(secret, "X-Slack-Signature", "X-Slack-Request-Timestamp", req, now),
            Kind::Zoom(secret) => verify_v0(secret, "x-zm-signature", "x-zm-request-timestamp", req, now),
            Kind::Segment(Some(secret)) => {
                const HEADER: &str = "X-Signature";
                let signature = hex_decode(req.require(HEADER)?).ok_or_else(|| format!("{HEADER} is not hex"))?;
                check_mac(Algorithm::Sha1, secret.bytes(), &[req.body], &signature)
            }
            Kind::Svix { secret, .. } => verify_standard_webhooks(secret, req, now),
        }
    }

    /// The provider's name for the event, when the request carries one, to be used as
    /// hookd's event type: github: `X-GitHub-Event`, plus "." and the payload's `action` when
    /// it has one ("issues.opened"); stripe and the Svix family: the payload's `type`;
    /// shopify: `X-Shopify-Topic` with "/" as "."; slack: the payload's `event.type`, else its
    /// `type`; segment: the payload's `type`, plus "." and its `event` for a track call;
    /// zoom: the payload's `event`; generic-webhook: none. Characters other than
    /// `[a-zA-Z0-9._-]` become "_"; at most 256 characters; None if empty.
    pub fn event_type(&self, req: &Incoming<'_>) -> Option<String> {
        let name = match &self.0 {
            Kind::Generic(_) => return None,
            Kind::Github(_) => {
                let event = req.header("X-GitHub-Event")?;
                match req.json().as_ref().and_then(|v| str_at(v, &["action"])).filter(|a| !a.is_empty()) {
                    Some(action) => format!("{event}.{action}"),
                    None => event.to_owned(),
                }
            }
            Kind::Shopify(_) => req.header("X-Shopify-Topic")?.replace('/', "."),
            Kind::Stripe { .. } | Kind::Svix { .. } => str_at(&req.json()?, &["type"])?.to_owned(),
            Kind::Slack(_) => {
                let payload = req.json()?;
                str_at(&payload, &["event", "type"]).or_else(|| str_at(&payload, &["type"]))?.to_owned()
            }
            Kind::Segment(_) => {
                let payload = req.json()?;
                let kind = str_at(&payload, &["type"])?;
                match str_at(&payload, &["event"]).filter(|e| kind == "track" && !e.is_empty()) {
                    Some(event) => format!("{kind}.{event}"),
                    None => kind.to_owned(),
                }
            }
            Kind::Zoom(_) => str_at(&req.json()?, &["event"])?.to_owned(),
        };
        sanitize_event_type(&name)
    }

    /// The provider's id of this delivery, used to drop the provider's own retries of the
    /// same webhook: github: `X-GitHub-Delivery`; stripe: the payload's `id`; shopify:
    /// `X-Shopify-Webhook-Id` (or `X-Shopify-Event-Id`); slack: the payload's `event_id`;
    /// segment: the payload's `messageId`; the Svix family: `webhook-id` (or `svix-id`);
    /// zoom and generic-webhook: none. None as well when empty or longer than 256 characters.
    pub fn delivery_id(&self, req: &Incoming<'_>) -> Option<String> {
        let id = match &self.0 {
            Kind::Generic(_) | Kind::Zoom(_) => return None,
            Kind::Github(_) => req.header("X-GitHub-Delivery")?.to_owned(),
            Kind::Stripe { .. } => str_at(&req.json()?, &["id"])?.to_owned(),
            Kind::Shopify(_) => {
                req.header("X-Shopify-Webhook-Id").or_else(|| req.header("X-Shopify-Event-Id"))?.to_owned()
            }
            Kind::Slack(_) => str_at(&req.json()?, &["event_id"])?.to_owned(),
            Kind::Segment(_) => str_at(&req.json()?, &["messageId"])?.to_owned(),
            Kind::Svix { .. } => req.header("webhook-id").or_else(|| req.header("svix-id"))?.to_owned(),
        };
        (!id.is_empty() && id.chars().count() <= MAX_ID_LEN).then_some(id)
    }

    /// Headers that carry a credential for hookd rather than a signature (Basic credentials,
    /// an API key): checked here, and never passed on to the source's destinations.
    pub fn credential_headers(&self) -> Vec<&str> {
        match &self.0 {
            Kind::Generic(Some(GenericAuth::Basic { .. })) => vec!["authorization"],
            Kind::Generic(Some(GenericAuth::ApiKey { header, .. })) => vec![header.as_str()],
            _ => vec![],
        }
    }

    /// A handshake the provider expects answered at once (status 200) instead of a webhook to
    /// deliver: the body to answer with. Only call it once [`SourceType::verify`] succeeded.
    ///
    /// - slack: `{"type":"url_verification","challenge":"…"}` → the challenge itself (Slack
    ///   takes it as plain text);
    /// - zoom: `{"event":"endpoint.url_validation","payload":{"plainToken":"…"}}` → the JSON
    ///   object `{"plainToken":"…","encryptedToken":"<hex HMAC-SHA256 of it>"}`, to be sent as
    ///   `application/json` (a JSON answer always starts with `{`).
    pub fn handshake(&self, req: &Incoming<'_>) -> Option<String> {
        match &self.0 {
            Kind::Slack(_) => {
                let payload = req.json()?;
                if str_at(&payload, &["type"])? != "url_verification" {
                    return None;
                }
                str_at(&payload, &["challenge"]).map(str::to_owned)
            }
            Kind::Zoom(secret) => {
                let payload = req.json()?;
                if str_at(&payload, &["event"])? != "endpoint.url_validation" {
                    return None;
                }
                let token = str_at(&payload, &["payload", "plainToken"])?;
                let encrypted = hex_encode(mac(Algorithm::Sha256, secret.bytes(), &[token.as_bytes()]).as_ref());
                Some(json!({ "plainToken": token, "encryptedToken": encrypted }).to_string())
            }
            _ => None,
        }
    }
}

/// The error for a type hookd does not support, listing those it does.
fn unsupported(type_name: &str) -> ConfigError {
    let supported = SUPPORTED.join(", ");
    let reason = if SVIX_UNSUPPORTED.contains(&type_name) {
        format!("'{type_name}' is not supported by hookd; supported: {supported}")
    } else {
        format!("unknown source type '{type_name}'; supported: {supported}")
    };
    config_error("type", reason)
}

/// A JSON object of settings at `path`, with only the `allowed` keys.
struct Fields<'a> {
    path: &'a str,
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Fields<'a> {
    /// Absent or `null` is an empty object.
    fn new(value: Option<&'a Value>, path: &'a str, allowed: &[&str]) -> Result<Self, ConfigError> {
        let map = match value {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => {
                if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
                    let reason = if allowed.is_empty() {
                        "unknown field; this takes no settings".to_owned()
                    } else {
                        format!("unknown field; known: {}", allowed.join(", "))
                    };
                    return Err(config_error(format!("{path}.{unknown}"), reason));
                }
                Some(map)
            }
            Some(_) => return Err(config_error(path, "must be an object")),
        };
        Ok(Self { path, map })
    }

    fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// The value at `key`; `null` counts as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(config_error(self.field(key), "must be a string")),
        }
    }

    /// A string that must be there and not blank.
    fn required(&self, key: &str) -> Result<&'a str, ConfigError> {
        let s = self.string(key)?.ok_or_else(|| config_error(self.field(key), "is required"))?;
        if s.trim().is_empty() {
            return Err(config_error(self.field(key), "must not be empty"));
        }
        Ok(s)
    }

    fn secret(&self, key: &str) -> Result<Secret, ConfigError> {
        self.required(key).map(|s| Secret(s.to_owned()))
    }

    /// A secret that may be left out (the provider then sends unsigned requests), but not
    /// given empty: an empty secret is more likely a mistake than a choice.
    fn optional_secret(&self, key: &str) -> Result<Option<Secret>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Err(config_error(
                self.field(key),
                "must not be empty; leave it out (or null) to accept unsigned requests",
            )),
            Some(s) => Ok(Some(Secret(s.to_owned()))),
        }
    }

    /// A header name (an HTTP token).
    fn header_name(&self, key: &str) -> Result<String, ConfigError> {
        let s = self.required(key)?;
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) {
            return Err(config_error(self.field(key), "must be a header name: letters, digits and !#$%&'*+-.^_`|~"));
        }
        Ok(s.to_owned())
    }

    /// A whole number of seconds from 1 to a day.
    fn tolerance(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().filter(|t| (1..=MAX_TOLERANCE).contains(t)).map(Some).ok_or_else(|| {
                config_error(self.field(key), format!("must be a whole number of seconds from 1 to {MAX_TOLERANCE}"))
            }),
        }
    }
}

/// A generic-webhook's config: nothing, or one of `hmac`, `basicAuth`, `apiKey`.
fn parse_generic(config: Option<&Value>) -> Result<Option<GenericAuth>, ConfigError> {
    const KINDS: [&str; 3] = ["hmac", "basicAuth", "apiKey"];
    let fields = Fields::new(config, "config", &KINDS)?;
    let given: Vec<&str> = KINDS.into_iter().filter(|k| fields.has(k)).collect();
    let kind = match given.as_slice() {
        [] => return Ok(None),
        [kind] => *kind,
        _ => return Err(config_error("config", format!("give at most one of {}", KINDS.join(", ")))),
    };
    let path = fields.field(kind);
    let value = fields.get(kind);
    let auth = match kind {
        "hmac" => {
            let f = Fields::new(value, &path, &["header", "secret", "algorithm", "encoding", "prefix"])?;
            let algorithm = match f.string("algorithm")? {
                None => Algorithm::Sha256,
                Some(s) => Algorithm::parse(s).ok_or_else(|| {
                    config_error(f.field("algorithm"), format!("must be one of {}", Algorithm::NAMES))
                })?,
            };
            let encoding = match f.string("encoding")? {
                None => Encoding::Hex,
                Some(s) => {
                    Encoding::parse(s).ok_or_else(|| config_error(f.field("encoding"), "must be hex or base64"))?
                }
            };
            GenericAuth::Hmac {
                header: f.header_name("header")?,
                secret: f.secret("secret")?,
                algorithm,
                encoding,
                prefix: f.string("prefix")?.filter(|p| !p.is_empty()).map(str::to_owned),
            }
        }
        "basicAuth" => {
            let f = Fields::new(value, &path, &["username", "password"])?;
            let username = f.required("username")?;
            if username.contains(':') {
                return Err(config_error(f.field("username"), "must not contain ':'"));
            }
            GenericAuth::Basic { username: username.to_owned(), password: f.secret("password")? }
        }
        _ => {
            let f = Fields::new(value, &path, &["header", "key"])?;
            GenericAuth::ApiKey { header: f.header_name("header")?, key: f.secret("key")? }
        }
    };
    Ok(Some(auth))
}

/// A generic-webhook's config as JSON, with or without its secret.
fn generic_config(auth: &GenericAuth, with_secret: bool) -> Value {
    let (kind, mut settings) = match auth {
        GenericAuth::Hmac { header, algorithm, encoding, prefix, .. } => {
            let mut s = json!({ "header": header, "algorithm": algorithm.name(), "encoding": encoding.name() });
            if let Some(p) = prefix {
                s["prefix"] = json!(p);
            }
            ("hmac", s)
        }
        GenericAuth::Basic { username, .. } => ("basicAuth", json!({ "username": username })),
        GenericAuth::ApiKey { header, .. } => ("apiKey", json!({ "header": header })),
    };
    if with_secret {
        let (key, secret) = match auth {
            GenericAuth::Hmac { secret, .. } => ("secret", secret),
            GenericAuth::Basic { password, .. } => ("password", password),
            GenericAuth::ApiKey { key, .. } => ("key", key),
        };
        settings[key] = json!(secret.0);
    }
    json!({ kind: settings })
}

fn verify_generic(auth: &GenericAuth, req: &Incoming<'_>) -> Result<(), String> {
    match auth {
        GenericAuth::Hmac { header, secret, algorithm, encoding, prefix } => {
            let mut value = req.require(header)?;
            if let Some(prefix) = prefix {
                value = value
                    .strip_prefix(prefix.as_str())
                    .ok_or_else(|| format!("{header} does not start with {prefix}"))?;
            }
            let signature = encoding.decode(value).ok_or_else(|| format!("{header} is not {}", encoding.name()))?;
            check_mac(*algorithm, secret.bytes(), &[req.body], &signature)
        }
        GenericAuth::Basic { username, password } => {
            const HEADER: &str = "Authorization";
            let value = req.require(HEADER)?;
            let credentials = value
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
                .and_then(|(_, b64)| BASE64.decode(b64.trim()).ok())
                .ok_or_else(|| format!("{HEADER} is not Basic credentials"))?;
            let expected = format!("{username}:{}", password.0);
            if same_secret(&credentials, expected.as_bytes()) {
                Ok(())
            } else {
                Err("wrong username or password".to_owned())
            }
        }
        GenericAuth::ApiKey { header, key } => {
            if same_secret(req.require(header)?.as_bytes(), key.bytes()) {
                Ok(())
            } else {
                Err(format!("wrong key in {header}"))
            }
        }
    }
}

/// Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…][,v0=…]`, each v1 an HMAC-SHA256 of
/// `"{t}.{body}"` keyed with the whole endpoint secret (`whsec_…` included).
fn verify_stripe(secret: &Secret, tolerance: u64, req: &Incoming<'_>, now: i64) -> Result<(), String> {
    const HEADER: &str = "Stripe-Signature";
    let value = req.require(HEADER)?;
    let pairs = || value.split(',').filter_map(|item| item.split_once('=')).map(|(k, v)| (k.trim(), v.trim()));
    let t =
        pairs().find(|(k, _)| *k == "t").map(|(_, v)| v).ok_or_else(|| format!("{HEADER} has no timestamp (t=)"))?;
    let signatures: Vec<&str> = pairs().filter(|(k, _)| *k == "v1").map(|(_, v)| v).collect();
    if signatures.is_empty() {
        return Err(format!("{HEADER} has no v1 signature"));
    }
    let ts = check_timestamp(t, &format!("{HEADER} t"), now, tolerance)?;
    let prefix = format!("{ts}.");
    let expected = mac(Algorithm::Sha256, secret.bytes(), &[prefix.as_bytes(), req.body]);
    let matches =
        signatures.iter().filter_map(|s| hex_decode(s)).any(|s| bool::from(s.as_slice().ct_eq(expected.as_ref())));
    if matches {
        Ok(())
    } else {
        Err("signature mismatch".to_owned())
    }
}

/// Slack's scheme, which Zoom shares: `v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">` with
/// the timestamp in its own header.
fn verify_v0(secret: &Secret, sig_header: &str, ts_header: &str, req: &Incoming<'_>, now: i64) -> Result<(), String> {
    let value = req.require(sig_header)?;
    let ts = req.require(ts_header)?;
    check_timestamp(ts, ts_header, now, DEFAULT_TOLERANCE)?;
    let signature =
        value.strip_prefix("v0=").and_then(hex_decode).ok_or_else(|| format!("{sig_header} is not v0=<hex>"))?;
    let prefix = format!("v0:{ts}:");
    check_mac(Algorithm::Sha256, secret.bytes(), &[prefix.as_bytes(), req.body], &signature)
}

/// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`, or the same
/// under `svix-`.
fn verify_standard_webhooks(secret: &EndpointSecret, req: &Incoming<'_>, now: i64) -> Result<(), String> {
    let get = |suffix: &str| {
        req.header(&format!("webhook-{suffix}"))
            .or_else(|| req.header(&format!("svix-{suffix}")))
            .ok_or_else(|| format!("missing header webhook-{suffix} (or svix-{suffix})"))
    };
    let (id, ts, signature) = (get("id")?, get("timestamp")?, get("signature")?);
    // Checked here first, for the same wording as the other schemes.
    check_timestamp(ts, "webhook-timestamp", now, DEFAULT_TOLERANCE)?;
    let tolerance = DEFAULT_TOLERANCE as i64;
    signing::verify(std::slice::from_ref(secret), Some(id), Some(ts), Some(signature), req.body, now, tolerance)
        .map_err(|e| match e {
            VerifyError::Mismatch => "signature mismatch".to_owned(),
            other => other.to_string(),
        })
}

/// Parses a signed timestamp (whole seconds) and checks it is within `tolerance` of now.
fn check_timestamp(raw: &str, what: &str, now: i64, tolerance: u64) -> Result<i64, String> {
    let ts: i64 = raw.trim().parse().map_err(|_| format!("{what} is not an integer number of seconds"))?;
    if now.abs_diff(ts) > tolerance {
        return Err(format!("timestamp {ts} is more than {tolerance} s away from now"));
    }
    Ok(ts)
}

/// The HMAC of the concatenated `parts`.
fn mac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
    let key = hmac::Key::new(algorithm.ring(), key);
    let mut context = hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    context.sign()
}

/// Whether `signature` is the HMAC of `parts`, compared in constant time.
fn check_mac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]], signature: &[u8]) -> Result<(), String> {
    if bool::from(mac(algorithm, key, parts).as_ref().ct_eq(signature)) {
        Ok(())
    } else {
        Err("signature mismatch".to_owned())
    }
}

/// Compares two secrets in constant time, their lengths included (through their digests).
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    bool::from(Sha256::digest(given).as_slice().ct_eq(Sha256::digest(expected).as_slice()))
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    s.as_bytes().chunks(2).map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)).collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The string at `path` in a JSON value.
fn str_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

/// Keeps `[a-zA-Z0-9._-]` (anything else becomes "_") and at most 256 characters.
fn sanitize_event_type(name: &str) -> Option<String> {
    let clean: String = name
        .chars()
        .take(MAX_ID_LEN)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    (!clean.is_empty()).then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    fn post<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> Incoming<'a> {
        Incoming { method: "POST", headers, body }
    }

    fn source(type_name: &str, config: Value) -> SourceType {
        SourceType::parse(type_name, Some(&config)).unwrap()
    }

    fn hex_mac(algorithm: Algorithm, key: &str, parts: &[&[u8]]) -> String {
        hex_encode(mac(algorithm, key.as_bytes(), parts).as_ref())
    }

    /// Checks `verify` on `body` with `pairs`, returning the refusal's reason.
    fn refusal(s: &SourceType, pairs: &[(&str, &str)], body: &[u8], now: i64) -> String {
        s.verify(&post(&headers(pairs), body), now).expect_err("should be refused")
    }

    fn accepts(s: &SourceType, pairs: &[(&str, &str)], body: &[u8], now: i64) {
        let h = headers(pairs);
        if let Err(reason) = s.verify(&post(&h, body), now) {
            panic!("refused: {reason}");
        }
    }

    // GitHub: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    // ("Testing the webhook payload validation").
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_accepts_the_documented_example() {
        let s = source("github", json!({ "secret": GITHUB_SECRET }));
        accepts(&s, &[("x-hub-signature-256", GITHUB_SIGNATURE)], b"Hello, World!", NOW);
        assert_eq!(
            refusal(&s, &[("X-Hub-Signature-256", GITHUB_SIGNATURE)], b"Hello, World?", NOW),
            "signature mismatch"
        );
        let wrong = GITHUB_SIGNATURE.replace("757107", "757108");
        assert_eq!(refusal(&s, &[("X-Hub-Signature-256", &wrong)], b"Hello, World!", NOW), "signature mismatch");
        assert_eq!(refusal(&s, &[], b"Hello, World!", NOW), "missing header X-Hub-Signature-256");
        // The old SHA-1 header alone is not enough.
        let sha1 = GITHUB_SIGNATURE.replace("sha256=", "sha1=");
        assert_eq!(
            refusal(&s, &[("X-Hub-Signature", &sha1)], b"Hello, World!", NOW),
            "missing header X-Hub-Signature-256"
        );
        assert_eq!(
            refusal(&s, &[("X-Hub-Signature-256", &sha1)], b"Hello, World!", NOW),
            "X-Hub-Signature-256 is not sha256=<hex>"
        );
        // A header present twice: the first counts.
        accepts(
            &s,
            &[("X-Hub-Signature-256", GITHUB_SIGNATURE), ("X-Hub-Signature-256", "sha256=00")],
            b"Hello, World!",
            NOW,
        );
        assert_eq!(
            refusal(
                &s,
                &[("X-Hub-Signature-256", "sha256=00"), ("X-Hub-Signature-256", GITHUB_SIGNATURE)],
                b"Hello, World!",
                NOW
            ),
            "signature mismatch"
        );
    }

    #[test]
    fn github_without_a_secret_accepts_unsigned_deliveries() {
        for config in [json!({}), json!({ "secret": null })] {
            accepts(&source("github", config), &[], b"{}", NOW);
        }
        accepts(&SourceType::parse("github", None).unwrap(), &[], b"{}", NOW);
    }

    // Slack: https://api.slack.com/authentication/verifying-requests-from-slack (now
    // docs.slack.dev/authentication/verifying-requests-from-slack), the worked example.
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TIMESTAMP: i64 = 1_531_420_618;
    const SLACK_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slack_accepts_the_documented_example() {
        let s = source("slack", json!({ "secret": SLACK_SECRET }));
        let ts = SLACK_TIMESTAMP.to_string();
        let signed = [("X-Slack-Request-Timestamp", ts.as_str()), ("X-Slack-Signature", SLACK_SIGNATURE)];
        accepts(&s, &signed, SLACK_BODY, SLACK_TIMESTAMP + 10);
        accepts(&s, &signed, SLACK_BODY, SLACK_TIMESTAMP - 300);

        let mut changed = SLACK_BODY.to_vec();
        changed[0] = b'T';
        assert_eq!(refusal(&s, &signed, &changed, SLACK_TIMESTAMP), "signature mismatch");
        let wrong = SLACK_SIGNATURE.replace("a2114d", "a2114e");
        assert_eq!(
            refusal(
                &s,
                &[("X-Slack-Request-Timestamp", &ts), ("X-Slack-Signature", &wrong)],
                SLACK_BODY,
                SLACK_TIMESTAMP
            ),
            "signature mismatch"
        );
        // The timestamp is signed: another one within tolerance does not verify either.
        let other = (SLACK_TIMESTAMP + 1).to_string();
        assert_eq!(
            refusal(
                &s,
                &[("X-Slack-Request-Timestamp", &other), ("X-Slack-Signature", SLACK_SIGNATURE)],
                SLACK_BODY,
                SLACK_TIMESTAMP
            ),
            "signature mismatch"
        );
        assert_eq!(
            refusal(&s, &signed, SLACK_BODY, SLACK_TIMESTAMP + 301),
            "timestamp 1531420618 is more than 300 s away from now"
        );
        assert_eq!(
            refusal(&s, &[("X-Slack-Request-Timestamp", &ts)], SLACK_BODY, SLACK_TIMESTAMP),
            "missing header X-Slack-Signature"
        );
        assert_eq!(
            refusal(&s, &[("X-Slack-Signature", SLACK_SIGNATURE)], SLACK_BODY, SLACK_TIMESTAMP),
            "missing header X-Slack-Request-Timestamp"
        );
        assert_eq!(
            refusal(
                &s,
                &[("X-Slack-Request-Timestamp", "soon"), ("X-Slack-Signature", SLACK_SIGNATURE)],
                SLACK_BODY,
                0
            ),
            "X-Slack-Request-Timestamp is not an integer number of seconds"
        );
        // Extreme timestamps are refused without overflowing.
        let min = i64::MIN.to_string();
        assert!(refusal(
            &s,
            &[("X-Slack-Request-Timestamp", &min), ("X-Slack-Signature", SLACK_SIGNATURE)],
            SLACK_BODY,
            i64::MAX
        )
        .starts_with("timestamp "));
    }

    fn stripe_header(secret: &str, t: i64, body: &[u8]) -> String {
        format!("t={t},v1={}", hex_mac(Algorithm::Sha256, secret, &[format!("{t}.").as_bytes(), body]))
    }

    #[test]
    fn stripe_verifies_signed_payload_and_timestamp() {
        let secret = "whsec_5MyStripeEndpointSecretForTests";
        let s = source("stripe", json!({ "secret": secret }));
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let header = stripe_header(secret, NOW, body);
        accepts(&s, &[("stripe-signature", &header)], body, NOW + 299);
        // Any v1 may match; v0 entries and unknown ones are ignored.
        let other = stripe_header("whsec_other", NOW, body);
        let v1 = header.split_once(",v1=").unwrap().1;
        let rotated = format!("{other},v1={v1},v0=abcd,x=1");
        accepts(&s, &[("Stripe-Signature", &rotated)], body, NOW);

        assert_eq!(refusal(&s, &[("Stripe-Signature", &other)], body, NOW), "signature mismatch");
        assert_eq!(
            refusal(&s, &[("Stripe-Signature", &header)], br#"{"id":"evt_2","type":"invoice.paid"}"#, NOW),
            "signature mismatch"
        );
        // The secret is the whole string, prefix included.
        let without_prefix = stripe_header(secret.trim_start_matches("whsec_"), NOW, body);
        assert_eq!(refusal(&s, &[("Stripe-Signature", &without_prefix)], body, NOW), "signature mismatch");
        // The timestamp is signed.
        let moved = header.replacen(&format!("t={NOW}"), &format!("t={}", NOW + 1), 1);
        assert_eq!(refusal(&s, &[("Stripe-Signature", &moved)], body, NOW), "signature mismatch");
        assert_eq!(refusal(&s, &[], body, NOW), "missing header Stripe-Signature");
        assert_eq!(
            refusal(&s, &[("Stripe-Signature", &header)], body, NOW + 301),
            "timestamp 1700000000 is more than 300 s away from now"
        );
        assert_eq!(
            refusal(&s, &[("Stripe-Signature", &format!("t={NOW},v0=abcd"))], body, NOW),
            "Stripe-Signature has no v1 signature"
        );
        assert_eq!(refusal(&s, &[("Stripe-Signature", v1)], body, NOW), "Stripe-Signature has no timestamp (t=)");

        // A longer tolerance, set by the source.
        let lenient = source("stripe", json!({ "secret": secret, "tolerance": 600 }));
        accepts(&lenient, &[("Stripe-Signature", &header)], body, NOW + 301);
        assert!(refusal(&lenient, &[("Stripe-Signature", &header)], body, NOW + 601).contains("more than 600 s"));
    }

    #[test]
    fn shopify_verifies_base64_hmac_of_body() {
        let s = source("shopify", json!({ "secret": "shpss_shopify_secret" }));
        let body = br#"{"id":820982911946154508}"#;
        let signature = BASE64.encode(mac(Algorithm::Sha256, b"shpss_shopify_secret", &[body]).as_ref());
        accepts(&s, &[("X-Shopify-Hmac-SHA256", &signature)], body, NOW);
        assert_eq!(
            refusal(&s, &[("X-Shopify-Hmac-Sha256", &signature)], br#"{"id":820982911946154509}"#, NOW),
            "signature mismatch"
        );
        let hex = hex_mac(Algorithm::Sha256, "shpss_shopify_secret", &[body]);
        assert_eq!(refusal(&s, &[("X-Shopify-Hmac-Sha256", &hex)], body, NOW), "signature mismatch");
        let wrong = BASE64.encode(mac(Algorithm::Sha256, b"another", &[body]).as_ref());
        assert_eq!(refusal(&s, &[("X-Shopify-Hmac-Sha256", &wrong)], body, NOW), "signature mismatch");
        assert_eq!(refusal(&s, &[("X-Shopify-Hmac-Sha256", "!!")], body, NOW), "X-Shopify-Hmac-Sha256 is not base64");
        assert_eq!(refusal(&s, &[], body, NOW), "missing header X-Shopify-Hmac-Sha256");
    }

    // RFC 2202 / RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    const RFC_KEY: &str = "Jefe";
    const RFC_DATA: &[u8] = b"what do ya want for nothing?";
    const RFC_SHA1_HEX: &str = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";
    const RFC_SHA256_HEX: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    const RFC_SHA512_BASE64: &str =
        "Fkt6e/z4GeLjlfvnO1bgo4e9ZCIugx/WECcM1+olBVSXWL91wFqZSm0DT2X48Ob9yuqxo01Ka0tjbgcKOLznNw==";

    #[test]
    fn segment_verifies_hex_hmac_sha1_of_body() {
        let s = source("segment", json!({ "secret": RFC_KEY }));
        accepts(&s, &[("x-signature", RFC_SHA1_HEX)], RFC_DATA, NOW);
        accepts(&s, &[("X-Signature", &RFC_SHA1_HEX.to_uppercase())], RFC_DATA, NOW);
        assert_eq!(
            refusal(&s, &[("X-Signature", RFC_SHA1_HEX)], b"what do ya want for nothing!", NOW),
            "signature mismatch"
        );
        assert_eq!(refusal(&s, &[("X-Signature", &RFC_SHA256_HEX[..40])], RFC_DATA, NOW), "signature mismatch");
        assert_eq!(refusal(&s, &[("X-Signature", "xyz")], RFC_DATA, NOW), "X-Signature is not hex");
        assert_eq!(refusal(&s, &[], RFC_DATA, NOW), "missing header X-Signature");
        accepts(&source("segment", json!({})), &[], RFC_DATA, NOW);
    }

    #[test]
    fn zoom_verifies_v0_signature_and_timestamp() {
        let secret = "zoom-secret-token";
        let s = source("zoom", json!({ "secret": secret }));
        let body = br#"{"event":"meeting.started","payload":{}}"#;
        let ts = NOW.to_string();
        let sig = format!("v0={}", hex_mac(Algorithm::Sha256, secret, &[format!("v0:{ts}:").as_bytes(), body]));
        let signed = [("x-zm-request-timestamp", ts.as_str()), ("x-zm-signature", sig.as_str())];
        accepts(&s, &signed, body, NOW);
        assert_eq!(refusal(&s, &signed, br#"{"event":"meeting.started","payload":{} }"#, NOW), "signature mismatch");
        let wrong = format!("v0={}", hex_mac(Algorithm::Sha256, "other", &[format!("v0:{ts}:").as_bytes(), body]));
        assert_eq!(
            refusal(&s, &[("x-zm-request-timestamp", &ts), ("x-zm-signature", &wrong)], body, NOW),
            "signature mismatch"
        );
        assert_eq!(refusal(&s, &signed, body, NOW - 301), "timestamp 1700000000 is more than 300 s away from now");
        assert_eq!(refusal(&s, &[("x-zm-request-timestamp", &ts)], body, NOW), "missing header x-zm-signature");
        assert_eq!(refusal(&s, &[("x-zm-signature", &sig)], body, NOW), "missing header x-zm-request-timestamp");
        assert_eq!(
            refusal(&s, &[("x-zm-request-timestamp", &ts), ("x-zm-signature", &sig[3..])], body, NOW),
            "x-zm-signature is not v0=<hex>"
        );
    }

    // Standard Webhooks: the test vectors of its reference libraries
    // (github.com/standard-webhooks/standard-webhooks, libraries/rust/src/lib.rs `test_sign`,
    // and the vector of Svix's libraries also used in `signing`).
    #[test]
    fn svix_family_accepts_standard_webhooks_vectors() {
        let vectors = [
            (
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                &br#"{"email":"test@example.com","username":"test_user"}"#[..],
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
            (
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                &br#"{"test": 2432232314}"#[..],
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ];
        for (secret, id, ts, body, sig) in vectors {
            let t = ts.to_string();
            for type_name in ["svix", "clerk", "open-ai"] {
                let s = source(type_name, json!({ "secret": secret }));
                for prefix in ["webhook", "svix", "Svix", "WEBHOOK"] {
                    let (hi, ht, hs) =
                        (format!("{prefix}-id"), format!("{prefix}-timestamp"), format!("{prefix}-signature"));
                    let signed = [(hi.as_str(), id), (ht.as_str(), t.as_str()), (hs.as_str(), sig)];
                    accepts(&s, &signed, body, ts + 5);
                    let mut changed = body.to_vec();
                    changed.push(b' ');
                    assert_eq!(refusal(&s, &signed, &changed, ts), "signature mismatch");
                    assert_eq!(
                        refusal(&s, &signed, body, ts + 301),
                        format!("timestamp {ts} is more than 300 s away from now")
                    );
                }
                let wrong_id =
                    [("webhook-id", "msg_other"), ("webhook-timestamp", t.as_str()), ("webhook-signature", sig)];
                assert_eq!(refusal(&s, &wrong_id, body, ts), "signature mismatch");
                let no_v1 = [("webhook-id", id), ("webhook-timestamp", t.as_str()), ("webhook-signature", "v2,abc")];
                assert_eq!(refusal(&s, &no_v1, body, ts), "webhook-signature has no v1 or v1a signature");
                let missing = [("webhook-timestamp", t.as_str()), ("webhook-signature", sig)];
                assert_eq!(refusal(&s, &missing, body, ts), "missing header webhook-id (or svix-id)");
                let missing = [("svix-id", id), ("svix-signature", sig)];
                assert_eq!(refusal(&s, &missing, body, ts), "missing header webhook-timestamp (or svix-timestamp)");
            }
            // The same secret without its prefix is the same key.
            let bare = source("resend", json!({ "secret": secret.trim_start_matches("whsec_") }));
            accepts(&bare, &[("svix-id", id), ("svix-timestamp", t.as_str()), ("svix-signature", sig)], body, ts);
        }
    }

    #[test]
    fn svix_family_verifies_ed25519_with_a_public_key() {
        let pair = EndpointSecret::generate_ed25519();
        let s = source("svix", json!({ "secret": pair.for_receiver() }));
        let sig = pair.sign("msg_1", NOW, b"{}");
        let t = NOW.to_string();
        accepts(&s, &[("webhook-id", "msg_1"), ("webhook-timestamp", &t), ("webhook-signature", &sig)], b"{}", NOW);
        assert_eq!(
            refusal(
                &s,
                &[("webhook-id", "msg_1"), ("webhook-timestamp", &t), ("webhook-signature", &sig)],
                b"{ }",
                NOW
            ),
            "signature mismatch"
        );
    }

    #[test]
    fn generic_without_config_accepts_everything() {
        for config in [None, Some(json!(null)), Some(json!({}))] {
            let s = SourceType::parse("generic-webhook", config.as_ref()).unwrap();
            accepts(&s, &[], b"anything", NOW);
            assert_eq!(s.stored_config(), json!({}));
        }
    }

    #[test]
    fn generic_hmac_with_each_algorithm_and_encoding() {
        let sha256 = source(
            "generic-webhook",
            json!({ "hmac": { "header": "X-Signature", "secret": RFC_KEY, "prefix": "sha256=" } }),
        );
        let value = format!("sha256={RFC_SHA256_HEX}");
        accepts(&sha256, &[("x-signature", &value)], RFC_DATA, NOW);
        assert_eq!(
            refusal(&sha256, &[("X-Signature", RFC_SHA256_HEX)], RFC_DATA, NOW),
            "X-Signature does not start with sha256="
        );
        assert_eq!(
            refusal(&sha256, &[("X-Signature", &value)], b"what do ya want for nothing", NOW),
            "signature mismatch"
        );
        assert_eq!(refusal(&sha256, &[], RFC_DATA, NOW), "missing header X-Signature");

        let sha1 =
            source("generic-webhook", json!({ "hmac": { "header": "X-Sig", "secret": RFC_KEY, "algorithm": "sha1" } }));
        accepts(&sha1, &[("X-Sig", RFC_SHA1_HEX)], RFC_DATA, NOW);
        assert_eq!(refusal(&sha1, &[("X-Sig", RFC_SHA256_HEX)], RFC_DATA, NOW), "signature mismatch");

        let sha512 = source(
            "generic-webhook",
            json!({ "hmac": { "header": "X-Sig", "secret": RFC_KEY, "algorithm": "sha512", "encoding": "base64" } }),
        );
        accepts(&sha512, &[("X-Sig", RFC_SHA512_BASE64)], RFC_DATA, NOW);
        accepts(&sha512, &[("X-Sig", RFC_SHA512_BASE64.trim_end_matches('='))], RFC_DATA, NOW);
        assert_eq!(refusal(&sha512, &[("X-Sig", "%%%")], RFC_DATA, NOW), "X-Sig is not base64");
        let wrong_key = source(
            "generic-webhook",
            json!({ "hmac": { "header": "X-Sig", "secret": "Jeff", "algorithm": "sha512", "encoding": "base64" } }),
        );
        assert_eq!(refusal(&wrong_key, &[("X-Sig", RFC_SHA512_BASE64)], RFC_DATA, NOW), "signature mismatch");
    }

    #[test]
    fn generic_basic_auth_and_api_key() {
        let basic = source("generic-webhook", json!({ "basicAuth": { "username": "hook", "password": "s3cret:pw" } }));
        let good = format!("Basic {}", BASE64.encode("hook:s3cret:pw"));
        accepts(&basic, &[("authorization", &good)], b"", NOW);
        accepts(&basic, &[("Authorization", &good.replace("Basic", "basic"))], b"", NOW);
        let bad = format!("Basic {}", BASE64.encode("hook:s3cret"));
        assert_eq!(refusal(&basic, &[("Authorization", &bad)], b"", NOW), "wrong username or password");
        let other_user = format!("Basic {}", BASE64.encode("hooks:s3cret:pw"));
        assert_eq!(refusal(&basic, &[("Authorization", &other_user)], b"", NOW), "wrong username or password");
        assert_eq!(
            refusal(&basic, &[("Authorization", "Bearer abc")], b"", NOW),
            "Authorization is not Basic credentials"
        );
        assert_eq!(refusal(&basic, &[], b"", NOW), "missing header Authorization");

        let key = source("generic-webhook", json!({ "apiKey": { "header": "X-Api-Key", "key": "k-123" } }));
        accepts(&key, &[("x-api-key", "k-123")], b"", NOW);
        assert_eq!(refusal(&key, &[("X-Api-Key", "k-124")], b"", NOW), "wrong key in X-Api-Key");
        assert_eq!(refusal(&key, &[("X-Api-Key", "k-12")], b"", NOW), "wrong key in X-Api-Key");
        assert_eq!(refusal(&key, &[], b"", NOW), "missing header X-Api-Key");
    }

    #[test]
    fn no_reason_contains_the_secret_or_expected_signature() {
        let secret = "very-secret-value";
        let body = b"{}";
        let expected = hex_mac(Algorithm::Sha256, secret, &[body]);
        let s = source("github", json!({ "secret": secret }));
        for value in ["sha256=00", "sha1=00", "garbage"] {
            let reason = refusal(&s, &[("X-Hub-Signature-256", value)], body, NOW);
            assert!(!reason.contains(secret) && !reason.contains(&expected), "{reason}");
        }
    }

    #[test]
    fn unsupported_and_unknown_types_list_the_supported_ones() {
        let err = SourceType::parse("cron", Some(&json!({ "schedule": "* * * * *", "payload": "{}" }))).unwrap_err();
        assert_eq!(err.field, "type");
        assert!(err.reason.starts_with("'cron' is not supported by hookd; supported: "), "{}", err.reason);
        for name in SourceType::supported() {
            assert!(err.reason.contains(name), "{name} missing from {}", err.reason);
        }
        let err = SourceType::parse("GitHub", None).unwrap_err();
        assert_eq!(err.field, "type");
        assert!(err.reason.starts_with("unknown source type 'GitHub'; supported: beehiiv, brex,"), "{}", err.reason);
        assert_eq!(err.to_string(), format!("type: {}", err.reason));
    }

    #[test]
    fn supported_list_is_sorted_and_every_type_parses() {
        let list = SourceType::supported();
        assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        assert!(SVIX_FAMILY.iter().all(|n| list.contains(n)));
        assert!(SVIX_UNSUPPORTED.iter().all(|n| !list.contains(n)));
        for name in list {
            let config = example_config(name);
            let s = SourceType::parse(name, Some(&config)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.name(), *name);
        }
    }

    /// A valid config with a secret for each type.
    fn example_config(name: &str) -> Value {
        match name {
            "generic-webhook" => json!({ "hmac": { "header": "X-Sig", "secret": "generic-secret-1" } }),
            "stripe" => json!({ "secret": "whsec_stripe-secret-1", "tolerance": 120 }),
            "github" | "shopify" | "slack" | "segment" | "zoom" => json!({ "secret": format!("{name}-secret-1") }),
            _ => json!({ "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }),
        }
    }

    #[test]
    fn parse_refuses_missing_empty_and_unknown_settings() {
        let err = |type_name: &str, config: Value| SourceType::parse(type_name, Some(&config)).unwrap_err();
        let e = err("stripe", json!({}));
        assert_eq!((e.field.as_str(), e.reason.as_str()), ("config.secret", "is required"));
        let e = SourceType::parse("stripe", None).unwrap_err();
        assert_eq!(e.field, "config.secret");
        assert_eq!(err("slack", json!({ "secret": "" })).reason, "must not be empty");
        assert_eq!(err("shopify", json!({ "secret": 12 })).reason, "must be a string");
        assert_eq!(err("github", json!({ "secret": "" })).field, "config.secret");
        let e = err("github", json!({ "secret": "x", "secrets": ["y"] }));
        assert_eq!((e.field.as_str(), e.reason.as_str()), ("config.secrets", "unknown field; known: secret"));
        assert_eq!(err("zoom", json!("secret")).field, "config");
        assert_eq!(err("svix", json!({ "secret": "whsec_!!" })).field, "config.secret");
        assert_eq!(err("clerk", json!({ "secret": "whsec_AAAA" })).field, "config.secret");
        for bad in [json!(0), json!(86_401), json!(-5), json!(1.5), json!("300")] {
            assert_eq!(err("stripe", json!({ "secret": "whsec_x", "tolerance": bad })).field, "config.tolerance");
        }

        // generic-webhook
        assert_eq!(err("generic-webhook", json!({ "secret": "x" })).field, "config.secret");
        let both =
            json!({ "apiKey": { "header": "X-K", "key": "k" }, "basicAuth": { "username": "u", "password": "p" } });
        let e = err("generic-webhook", both);
        assert_eq!((e.field.as_str(), e.reason.as_str()), ("config", "give at most one of hmac, basicAuth, apiKey"));
        let e = err("generic-webhook", json!({ "hmac": { "header": "X-Sig", "secret": "s", "algorithm": "md5" } }));
        assert_eq!(
            (e.field.as_str(), e.reason.as_str()),
            ("config.hmac.algorithm", "must be one of sha256, sha1, sha512")
        );
        assert_eq!(
            err("generic-webhook", json!({ "hmac": { "header": "X-Sig", "secret": "s", "encoding": "b64" } })).field,
            "config.hmac.encoding"
        );
        assert_eq!(err("generic-webhook", json!({ "hmac": { "secret": "s" } })).field, "config.hmac.header");
        assert_eq!(
            err("generic-webhook", json!({ "hmac": { "header": "X Sig", "secret": "s" } })).field,
            "config.hmac.header"
        );
        assert_eq!(err("generic-webhook", json!({ "hmac": { "header": "X-Sig" } })).field, "config.hmac.secret");
        assert_eq!(
            err("generic-webhook", json!({ "hmac": { "header": "X-Sig", "secret": "s", "salt": "" } })).field,
            "config.hmac.salt"
        );
        assert_eq!(err("generic-webhook", json!({ "hmac": "X-Sig" })).field, "config.hmac");
        assert_eq!(
            err("generic-webhook", json!({ "basicAuth": { "username": "u" } })).field,
            "config.basicAuth.password"
        );
        assert_eq!(
            err("generic-webhook", json!({ "basicAuth": { "username": "a:b", "password": "p" } })).field,
            "config.basicAuth.username"
        );
        assert_eq!(
            err("generic-webhook", json!({ "apiKey": { "header": "X-K", "key": " " } })).field,
            "config.apiKey.key"
        );
    }

    #[test]
    fn stored_config_round_trips_and_public_config_hides_secrets() {
        let mut samples: Vec<(String, Value)> =
            SourceType::supported().iter().map(|n| (n.to_string(), example_config(n))).collect();
        samples.extend([
            ("generic-webhook".to_owned(), json!({ "basicAuth": { "username": "hook", "password": "generic-password-1" } })),
            ("generic-webhook".to_owned(), json!({ "apiKey": { "header": "X-Api-Key", "key": "generic-key-1" } })),
            (
                "generic-webhook".to_owned(),
                json!({ "hmac": { "header": "X-Sig", "secret": "generic-secret-2", "algorithm": "sha512", "encoding": "base64", "prefix": "v1=" } }),
            ),
            ("generic-webhook".to_owned(), json!({})),
            ("github".to_owned(), json!({})),
            ("stripe".to_owned(), json!({ "secret": "whsec_stripe-secret-2" })),
        ]);
        for (name, config) in samples {
            let s = source(&name, config.clone());
            let stored = s.stored_config();
            assert_eq!(SourceType::parse(s.name(), Some(&stored)).unwrap(), s, "{name} {stored}");
            let public = s.public_config().to_string();
            let debug = format!("{s:?}");
            for secret in ["-secret-", "-password-", "-key-", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
                assert!(!public.contains(secret), "{name}: {public}");
                assert!(!debug.contains(secret), "{name}: {debug}");
            }
            if config.to_string().contains("-secret-") || config.to_string().contains("whsec_") {
                assert!(stored.to_string().contains("secret"), "{name}: {stored}");
            }
        }
        // Non-secret settings are shown.
        let s = source("generic-webhook", json!({ "hmac": { "header": "X-Sig", "secret": "s", "prefix": "v1=" } }));
        assert_eq!(
            s.public_config(),
            json!({ "hmac": { "header": "X-Sig", "algorithm": "sha256", "encoding": "hex", "prefix": "v1=" } })
        );
        let s = source("generic-webhook", json!({ "basicAuth": { "username": "hook", "password": "pw" } }));
        assert_eq!(s.public_config(), json!({ "basicAuth": { "username": "hook" } }));
        let s = source("generic-webhook", json!({ "apiKey": { "header": "X-Api-Key", "key": "k" } }));
        assert_eq!(s.public_config(), json!({ "apiKey": { "header": "X-Api-Key" } }));
        assert_eq!(source("stripe", example_config("stripe")).public_config(), json!({ "tolerance": 120 }));
        assert_eq!(source("slack", example_config("slack")).public_config(), json!({}));
    }

    #[test]
    fn event_types_per_provider() {
        let ev = |name: &str, pairs: &[(&str, &str)], body: &str| {
            source(name, example_config(name)).event_type(&post(&headers(pairs), body.as_bytes()))
        };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(ev("github", &[("X-GitHub-Event", "issues")], r#"{"action":"opened"}"#), some("issues.opened"));
        assert_eq!(ev("github", &[("x-github-event", "push")], r#"{"ref":"refs/heads/main"}"#), some("push"));
        assert_eq!(ev("github", &[("X-GitHub-Event", "ping")], "not json"), some("ping"));
        assert_eq!(ev("github", &[], r#"{"action":"opened"}"#), None);
        assert_eq!(
            ev("stripe", &[], r#"{"id":"evt_1","type":"payment_intent.succeeded"}"#),
            some("payment_intent.succeeded")
        );
        assert_eq!(ev("stripe", &[], r#"{"id":"evt_1"}"#), None);
        assert_eq!(ev("shopify", &[("X-Shopify-Topic", "orders/create")], "{}"), some("orders.create"));
        assert_eq!(
            ev("slack", &[], r#"{"type":"event_callback","event":{"type":"app_mention"}}"#),
            some("app_mention")
        );
        assert_eq!(ev("slack", &[], r#"{"type":"url_verification","challenge":"c"}"#), some("url_verification"));
        assert_eq!(ev("slack", &[], "token=abc&command=%2Fx"), None);
        assert_eq!(ev("segment", &[], r#"{"type":"track","event":"Order Completed"}"#), some("track.Order_Completed"));
        assert_eq!(ev("segment", &[], r#"{"type":"identify","event":"ignored"}"#), some("identify"));
        assert_eq!(ev("zoom", &[], r#"{"event":"meeting.started"}"#), some("meeting.started"));
        assert_eq!(ev("clerk", &[], r#"{"type":"user.created","data":{}}"#), some("user.created"));
        assert_eq!(ev("svix", &[], r#"{"type":"a b/c:d"}"#), some("a_b_c_d"));
        assert_eq!(ev("svix", &[], r#"{"type":""}"#), None);
        assert_eq!(ev("svix", &[], r#"{"type":7}"#), None);
        assert_eq!(ev("generic-webhook", &[("X-GitHub-Event", "push")], r#"{"type":"x"}"#), None);
        let long = format!(r#"{{"type":"{}"}}"#, "é".repeat(300));
        assert_eq!(ev("resend", &[], &long), Some("_".repeat(256)));
    }

    #[test]
    fn delivery_ids_per_provider() {
        let id = |name: &str, pairs: &[(&str, &str)], body: &str| {
            source(name, example_config(name)).delivery_id(&post(&headers(pairs), body.as_bytes()))
        };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            id("github", &[("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")], "{}"),
            some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(id("github", &[], "{}"), None);
        assert_eq!(id("stripe", &[], r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy"}"#), some("evt_1NG8Du2eZvKYlo2CUI79vXWy"));
        assert_eq!(id("shopify", &[("X-Shopify-Webhook-Id", "w-1"), ("X-Shopify-Event-Id", "e-1")], "{}"), some("w-1"));
        assert_eq!(id("shopify", &[("X-Shopify-Event-Id", "e-1")], "{}"), some("e-1"));
        assert_eq!(id("slack", &[], r#"{"event_id":"Ev08MFMKH6"}"#), some("Ev08MFMKH6"));
        assert_eq!(id("segment", &[], r#"{"messageId":"ajs-1"}"#), some("ajs-1"));
        assert_eq!(id("svix", &[("svix-id", "msg_2"), ("webhook-id", "msg_1")], "{}"), some("msg_1"));
        assert_eq!(id("brex", &[("Svix-Id", "msg_2")], "{}"), some("msg_2"));
        assert_eq!(id("zoom", &[], r#"{"event":"meeting.started"}"#), None);
        assert_eq!(id("generic-webhook", &[("webhook-id", "msg_1")], "{}"), None);
        let long = "x".repeat(257);
        assert_eq!(id("svix", &[("webhook-id", &long)], "{}"), None);
        assert_eq!(id("svix", &[("webhook-id", &long[..256])], "{}"), Some(long[..256].to_owned()));
        assert_eq!(id("svix", &[("webhook-id", "")], "{}"), None);
    }

    #[test]
    fn handshakes_of_slack_and_zoom() {
        let hs = |name: &str, body: &str| source(name, example_config(name)).handshake(&post(&[], body.as_bytes()));
        let challenge = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        assert_eq!(hs("slack", challenge), Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".to_owned()));
        assert_eq!(hs("slack", r#"{"type":"event_callback","challenge":"x"}"#), None);
        assert_eq!(hs("slack", r#"{"type":"url_verification"}"#), None);
        assert_eq!(hs("github", challenge), None);
        assert_eq!(hs("generic-webhook", challenge), None);

        let zoom = SourceType::parse("zoom", Some(&json!({ "secret": "zoom-secret-token" }))).unwrap();
        let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        let answer = zoom.handshake(&post(&[], body)).expect("a zoom handshake");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(
            answer,
            json!({
                "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                // HMAC-SHA256("zoom-secret-token", plainToken), computed independently.
                "encryptedToken": "d9e0d764a78494688ba3f2d5c0ed4ca311394b4834d959759213424d2df961e3"
            })
        );
        assert_eq!(zoom.handshake(&post(&[], br#"{"event":"meeting.started","payload":{"plainToken":"x"}}"#)), None);
    }

    #[test]
    fn sanitizes_event_types() {
        assert_eq!(sanitize_event_type("orders.create"), Some("orders.create".to_owned()));
        assert_eq!(sanitize_event_type("a b\u{0}c-d_e"), Some("a_b_c-d_e".to_owned()));
        assert_eq!(sanitize_event_type(""), None);
        assert_eq!(sanitize_event_type(&"a".repeat(257)).map(|s| s.len()), Some(256));
        assert!(crate::names::EventTypeName::parse(&sanitize_event_type("x/y:z").unwrap()).is_ok());
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(hex_decode("00ff7A"), Some(vec![0, 255, 122]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode("é0"), None);
        assert_eq!(hex_encode(&[0, 255, 122]), "00ff7a");
    }

    #[test]
    fn credentials_for_hookd_are_named_so_that_they_are_not_passed_on() {
        let basic = source("generic-webhook", json!({ "basicAuth": { "username": "u", "password": "p" } }));
        assert_eq!(basic.credential_headers(), ["authorization"]);
        let key = source("generic-webhook", json!({ "apiKey": { "header": "X-Api-Key", "key": "k" } }));
        assert_eq!(key.credential_headers(), ["X-Api-Key"]);
        let github = source("github", json!({ "secret": "s" }));
        assert!(github.credential_headers().is_empty(), "a signature is no credential: it is passed on");
    }
}
