//! Secrets at rest: endpoint signing secrets and keys, OAuth client secrets, TLS client keys
//! and inbox secrets are stored sealed (AES-256-GCM, `ring`) under a main key that lives
//! outside the database, so a stolen database file or backup reveals none of them.
//!
//! A sealed value is `sealed:v1:{key id}:{base64(nonce ‖ ciphertext ‖ tag)}`. The key id (8 hex
//! digits of a SHA-256 of the key) says which main key sealed it, so that a key can be
//! replaced while hookd runs: the key file lists the current key first, then older ones
//! still accepted for opening; values are re-sealed under the current key by `hookd main-key
//! rotate`. When a value names a key this process does not know, the file is read again
//! (at most once a second): that is how a running node learns of a rotation.
//!
//! The associated data is the kind of value (`endpoint.secret`, …), so a sealed value cannot
//! be moved into another kind of column and opened there. Values without the prefix are
//! plaintext from before sealing; they are read as they are, and sealed at start-up.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";
/// How often, at most, the key file is read again for a key id this process does not know.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Why a sealed value could not be opened, or a key not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed with main key {0}, which this node does not have (see --main-key-file)")]
    UnknownKey(String),
    #[error("a sealed value is damaged or was sealed for another use")]
    Damaged,
    #[error("{0}")]
    BadKey(String),
}

/// One main key.
struct MainKey {
    id: String,
    key: LessSafeKey,
}

impl MainKey {
    fn parse(text: &str) -> Result<MainKey, SealError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            SealError::BadKey("a main key is 32 bytes in base64 (`hookd main-key new` makes one)".into())
        })?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey(format!("a main key is 32 bytes, not {}", bytes.len())));
        }
        let digest = Sha256::new().chain_update(b"hookd main key id\0").chain_update(&bytes).finalize();
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes"));
        Ok(MainKey { id, key })
    }
}

/// Main keys: the first seals, all open.
struct Keys(Vec<MainKey>);

impl Keys {
    /// One base64 key per line; empty lines and `#` comments are skipped.
    fn parse(text: &str) -> Result<Keys, SealError> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(MainKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(SealError::BadKey("no main key found".into()));
        }
        Ok(Keys(keys))
    }
}

/// Seals and opens secrets with the main keys.
pub struct Sealer {
    keys: RwLock<Keys>,
    /// Where the keys came from, to read again; `None` for keys given inline.
    file: Option<PathBuf>,
    last_read: RwLock<Instant>,
}

/// A new main key, base64.
pub fn new_main_key() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("the system's random source works");
    STANDARD.encode(bytes)
}

impl Sealer {
    /// From the text of a key file (or of `HOOKD_MAIN_KEY`): keys one per line, current first.
    pub fn from_text(text: &str) -> Result<Sealer, SealError> {
        Ok(Sealer { keys: RwLock::new(Keys::parse(text)?), file: None, last_read: RwLock::new(long_ago()) })
    }

    /// From keys not yet in `path`, where the caller is about to write them (a key generated
    /// on first start); the file is read again like [`Sealer::from_file`]'s.
    pub fn from_text_for_file(text: &str, path: PathBuf) -> Result<Sealer, SealError> {
        let mut sealer = Sealer::from_text(text)?;
        sealer.file = Some(path);
        Ok(sealer)
    }

    /// From a key file, which is read again when a value names a key not in it.
    pub fn from_file(path: PathBuf) -> Result<Sealer, SealError> {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| SealError::BadKey(format!("cannot read the main key file {}: {e}", path.display())))?;
        let keys = Keys::parse(&text).map_err(|e| SealError::BadKey(format!("{}: {e}", path.display())))?;
        Ok(Sealer { keys: RwLock::new(keys), file: Some(path), last_read: RwLock::new(long_ago()) })
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> String {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).0[0].id.clone()
    }

    /// The ids of every key this sealer can open with, current first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).0.iter().map(|k| k.id.clone()).collect()
    }

    /// Seals `plaintext` for the use `purpose` names.
    pub fn seal(&self, purpose: &str, plaintext: &str) -> String {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let current = &keys.0[0];
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("the system's random source works");
        let mut data = plaintext.as_bytes().to_vec();
        current
            .key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(purpose.as_bytes()), &mut data)
            .expect("AES-GCM seals any length hookd stores");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{}:{}", current.id, STANDARD.encode(out))
    }

    /// Whether `stored` is sealed under the current key (else it needs sealing again).
    pub fn is_current(&self, stored: &str) -> bool {
        stored.strip_prefix(PREFIX).and_then(|rest| rest.split_once(':')).is_some_and(|(id, _)| id == self.current_id())
    }

    /// Opens a value sealed for `purpose`; a value without the prefix is plaintext from before
    /// sealing and is returned as it is.
    pub fn open(&self, purpose: &str, stored: &str) -> Result<String, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, sealed) = rest.split_once(':').ok_or(SealError::Damaged)?;
        let mut data = STANDARD.decode(sealed).map_err(|_| SealError::Damaged)?;
        if data.len() < NONCE_LEN {
            return Err(SealError::Damaged);
        }
        if !self.knows(id) {
            self.reload();
        }
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let key = keys.0.iter().find(|k| k.id == id).ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let (nonce, body) = data.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Damaged)?;
        let plain =
            key.key.open_in_place(nonce, Aad::from(purpose.as_bytes()), body).map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Damaged)
    }

    fn knows(&self, id: &str) -> bool {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).0.iter().any(|k| k.id == id)
    }

    /// Reads the key file again, at most once per [`RELOAD_EVERY`]; a file that no longer
    /// parses leaves the keys as they were.
    fn reload(&self) {
        let Some(path) = &self.file else { return };
        {
            let mut last = self.last_read.write().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < RELOAD_EVERY {
                return;
            }
            *last = Instant::now();
        }
        match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Keys::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(keys) => *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys,
            Err(e) => tracing_free_warning(&format!("main key file {} not read again: {e}", path.display())),
        }
    }
}

/// A last read long enough ago that the first unknown key reads the file again at once.
fn long_ago() -> Instant {
    Instant::now().checked_sub(RELOAD_EVERY).unwrap_or_else(Instant::now)
}

/// hookd-core has no logger; the one place that would log writes to standard error.
fn tracing_free_warning(message: &str) {
    eprintln!("warning: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let sealer = Sealer::from_text(&new_main_key()).unwrap();
        let sealed = sealer.seal("endpoint.secret", "whsec_abc");
        // `_` is in neither the key id's hex nor standard base64, so this cannot match by chance
        // (a plain "abc" once did, inside the key id).
        assert!(sealed.starts_with("sealed:v1:") && !sealed.contains("whsec_"), "{sealed}");
        assert_eq!(sealer.open("endpoint.secret", &sealed).unwrap(), "whsec_abc");
        // Another nonce each time.
        assert_ne!(sealer.seal("endpoint.secret", "whsec_abc"), sealed);
        assert!(sealer.is_current(&sealed));
        // Bound to its use, and to its bytes.
        assert_eq!(sealer.open("inbox.secret", &sealed), Err(SealError::Damaged));
        let mut tampered = sealed.clone();
        tampered
            .replace_range(tampered.len() - 3..tampered.len() - 2, if tampered.ends_with("A==") { "B" } else { "A" });
        assert!(sealer.open("endpoint.secret", &tampered).is_err());
        // Plaintext from before sealing reads as it is.
        assert_eq!(sealer.open("endpoint.secret", "whsec_old").unwrap(), "whsec_old");
    }

    #[test]
    fn older_keys_open_and_the_first_seals() {
        let (old, new) = (new_main_key(), new_main_key());
        let before = Sealer::from_text(&old).unwrap();
        let sealed = before.seal("p", "x");
        let after = Sealer::from_text(&format!("{new}\n# the previous key\n{old}\n")).unwrap();
        assert_eq!(after.open("p", &sealed).unwrap(), "x");
        assert!(!after.is_current(&sealed));
        assert!(after.is_current(&after.seal("p", "x")));
        assert_eq!(after.key_ids().len(), 2);
        let unknown = Sealer::from_text(&new_main_key()).unwrap();
        assert!(matches!(unknown.open("p", &sealed), Err(SealError::UnknownKey(_))));
    }

    #[test]
    fn a_node_reads_its_key_file_again_for_a_key_it_does_not_know() {
        let dir = std::env::temp_dir().join(format!("hookd-sealing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("main-key");
        let (old, new) = (new_main_key(), new_main_key());
        std::fs::write(&path, &old).unwrap();
        let node = Sealer::from_file(path.clone()).unwrap();
        let generated = Sealer::from_text_for_file(&old, path.clone()).unwrap();
        // Another process rotates: new key first, old kept.
        std::fs::write(&path, format!("{new}\n{old}\n")).unwrap();
        let sealed_new = Sealer::from_text(&new).unwrap().seal("p", "fresh");
        assert_eq!(node.open("p", &sealed_new).unwrap(), "fresh");
        assert_eq!(generated.open("p", &sealed_new).unwrap(), "fresh", "right after start too");
        assert_eq!(node.current_id(), Sealer::from_text(&new).unwrap().current_id());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(Sealer::from_text("").is_err());
        assert!(Sealer::from_text("not base64!").is_err());
        assert!(Sealer::from_text(&STANDARD.encode([0u8; 16])).is_err());
    }
}
