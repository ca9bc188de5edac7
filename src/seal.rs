//! Sealing of Graph access tokens at rest (XChaCha20-Poly1305).
//!
//! A sealed value reads `enc1:<key id>:<base64(nonce || ciphertext)>`. The key lives
//! outside the database: `secret_key` in the config file (HELPSTACK_SECRET_KEY), or,
//! when no config sets one, the owner-only file `secret.key` in the data directory,
//! generated on first use. A copy of the database alone (a backup) holds no usable
//! token. The key id (8 hex digits of the key's SHA-256) names the key a value was
//! sealed with, so a rotation can find old rows and a process that has not reloaded
//! yet can tell a newer key from a broken value.
//!
//! The keyring is process-wide: every command opens the database through
//! `store::open::open_data_dir`, which installs the key first, so the store can seal and
//! open tokens in the one file that owns their column.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::data_dir::{KEY_FILE, PREVIOUS_KEY_FILE};
/// Prefix of a sealed value (format version 1).
pub const PREFIX: &str = "enc1:";
/// Associated data: a sealed token cannot be passed off as another kind of value.
const AAD: &[u8] = b"helpstack graph access token";

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("secret_key: {0}")]
    BadKey(String),
    #[error("the value was sealed with key {0}, which is not configured")]
    UnknownKey(String),
    #[error("the sealed value is damaged or the key is wrong")]
    Damaged,
    #[error("cannot use the key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the key came from, for messages and for `rotate secret-key`.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// HELPSTACK_SECRET_KEY or `secret_key` in the config file.
    Config,
    /// The data directory's key file (the path), `created` when generated just now.
    File { path: PathBuf, created: bool },
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

struct Keyring {
    current: Option<String>,
    keys: Vec<Key>,
    /// How to find a newer key (another process rotated it): the key file's path.
    key_file: Option<PathBuf>,
    config_file: Option<PathBuf>,
}

static KEYRING: RwLock<Keyring> = RwLock::new(Keyring {
    current: None,
    keys: Vec::new(),
    key_file: None,
    config_file: None,
});

/// Generates a new key, base64 encoded (32 random bytes).
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
    B64.encode(bytes)
}

/// Parses a base64 key of exactly 32 bytes.
pub fn parse_key(text: &str) -> Result<[u8; 32], SealError> {
    let bytes = B64.decode(text.trim()).map_err(|_| {
        SealError::BadKey("not base64 (generate one with `openssl rand -base64 32`)".into())
    })?;
    bytes
        .try_into()
        .map_err(|_| SealError::BadKey("must be 32 bytes, base64 encoded (44 characters)".into()))
}

/// The id of a key: 8 hex digits of its SHA-256, safe to show and store.
pub fn key_id(text: &str) -> Result<String, SealError> {
    let bytes = parse_key(text)?;
    Ok(hex::encode(&Sha256::digest(bytes)[..4]))
}

fn add_key(ring: &mut Keyring, text: &str) -> Result<String, SealError> {
    let bytes = parse_key(text)?;
    let id = hex::encode(&Sha256::digest(bytes)[..4]);
    if !ring.keys.iter().any(|k| k.id == id) {
        let cipher = XChaCha20Poly1305::new((&bytes).into());
        ring.keys.push(Key {
            id: id.clone(),
            cipher,
        });
    }
    Ok(id)
}

/// Reads the data directory's key file, creating it (0600) with a fresh key when
/// absent. Two processes starting together agree: the file is created exclusively.
pub fn read_or_create_key_file(path: &Path) -> Result<(String, bool), SealError> {
    let io = |source| SealError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok((text.trim().to_string(), false)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        Err(_) => {}
    }
    let key = generate_key();
    match crate::private_files::create_new(path, format!("{key}\n").as_bytes()) {
        Ok(()) => Ok((key, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path)
            .map(|t| (t.trim().to_string(), false))
            .map_err(io),
        Err(e) => Err(io(e)),
    }
}

/// Installs the key of a configuration as the current one (older ones stay, to open
/// values sealed before a rotation). Returns where the key came from.
pub fn install(
    configured: Option<&str>,
    config_file: Option<&Path>,
    data_dir: &Path,
) -> Result<Origin, SealError> {
    let key_file = data_dir.join(KEY_FILE);
    let (text, origin) = match configured {
        Some(k) => (k.to_string(), Origin::Config),
        None => {
            let (text, created) = read_or_create_key_file(&key_file)?;
            (
                text,
                Origin::File {
                    path: key_file.clone(),
                    created,
                },
            )
        }
    };
    let mut ring = KEYRING.write().unwrap_or_else(|p| p.into_inner());
    let id = add_key(&mut ring, &text)?;
    ring.current = Some(id);
    ring.key_file = Some(key_file);
    ring.config_file = config_file.map(Path::to_path_buf);
    Ok(origin)
}

/// Makes `text` the current key (after `rotate secret-key`); the old keys stay.
pub fn set_current(text: &str) -> Result<String, SealError> {
    let mut ring = KEYRING.write().unwrap_or_else(|p| p.into_inner());
    let id = add_key(&mut ring, text)?;
    ring.current = Some(id.clone());
    Ok(id)
}

/// The id of the current key, if one is installed.
pub fn current_id() -> Option<String> {
    KEYRING
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .current
        .clone()
}

/// `secret_key` of a config file, read here rather than through `config` (which
/// validates keys with this module): unknown keys are ignored, unreadable is none.
fn config_file_key(path: &std::path::Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct KeyOnly {
        secret_key: Option<String>,
    }
    let text = std::fs::read_to_string(path).ok()?;
    toml::from_str::<KeyOnly>(&text).ok()?.secret_key
}

/// Looks for a key another process put in place (a rotation), in the environment,
/// the config file and the key file; the newest found becomes current.
fn refresh() {
    let (config_file, key_file) = {
        let ring = KEYRING.read().unwrap_or_else(|p| p.into_inner());
        (ring.config_file.clone(), ring.key_file.clone())
    };
    let mut found = Vec::new();
    if let Some(k) = std::env::var("HELPSTACK_SECRET_KEY")
        .ok()
        .filter(|v| !v.is_empty())
    {
        found.push(k);
    } else if let Some(k) = config_file
        .as_deref()
        .and_then(config_file_key)
        .filter(|v| !v.is_empty())
    {
        found.push(k);
    }
    if let Some(file) = key_file {
        for p in [file.clone(), file.with_file_name(PREVIOUS_KEY_FILE)] {
            if let Ok(k) = std::fs::read_to_string(p) {
                found.push(k.trim().to_string());
            }
        }
    }
    let mut ring = KEYRING.write().unwrap_or_else(|p| p.into_inner());
    for (i, k) in found.iter().enumerate() {
        if let Ok(id) = add_key(&mut ring, k)
            && i == 0
        {
            ring.current = Some(id);
        }
    }
}

/// Seals a value with the current key. Without an installed key (unit tests on an
/// in-memory database) the value is returned as it is.
pub fn seal(plain: &str) -> String {
    let ring = KEYRING.read().unwrap_or_else(|p| p.into_inner());
    let Some(key) = ring
        .current
        .as_ref()
        .and_then(|id| ring.keys.iter().find(|k| &k.id == id))
    else {
        return plain.to_string();
    };
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).expect("the OS random number generator is unavailable");
    let sealed = key
        .cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plain.as_bytes(),
                aad: AAD,
            },
        )
        .expect("XChaCha20-Poly1305 encryption of a short value cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    format!("{PREFIX}{}:{}", key.id, B64.encode(out))
}

/// Whether a stored value is sealed (anything else is a legacy plaintext token).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The id of the key a sealed value needs.
pub fn sealed_with(stored: &str) -> Option<&str> {
    stored.strip_prefix(PREFIX)?.split(':').next()
}

/// Opens a sealed value; a plaintext one (not yet migrated) is returned as it is.
pub fn open(stored: &str) -> Result<String, SealError> {
    let Some(rest) = stored.strip_prefix(PREFIX) else {
        return Ok(stored.to_string());
    };
    let (id, body) = rest.split_once(':').ok_or(SealError::Damaged)?;
    let known = |id: &str| {
        KEYRING
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .iter()
            .any(|k| k.id == id)
    };
    if !known(id) {
        refresh();
        if !known(id) {
            return Err(SealError::UnknownKey(id.to_string()));
        }
    }
    let bytes = B64.decode(body).map_err(|_| SealError::Damaged)?;
    if bytes.len() < 24 {
        return Err(SealError::Damaged);
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    let ring = KEYRING.read().unwrap_or_else(|p| p.into_inner());
    let key = ring
        .keys
        .iter()
        .find(|k| k.id == id)
        .ok_or(SealError::Damaged)?;
    let plain = key
        .cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: AAD,
            },
        )
        .map_err(|_| SealError::Damaged)?;
    String::from_utf8(plain).map_err(|_| SealError::Damaged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_rotation() {
        let first = generate_key();
        let second = generate_key();
        assert!(parse_key(&first).is_ok());
        assert!(parse_key("short").is_err());
        set_current(&first).unwrap();
        let a = seal("EAAG-token");
        assert!(is_sealed(&a), "{a}");
        assert!(!a.contains("EAAG"));
        assert_ne!(seal("EAAG-token"), a, "random nonces");
        assert_eq!(sealed_with(&a), Some(key_id(&first).unwrap().as_str()));
        set_current(&second).unwrap();
        assert_eq!(open(&a).unwrap(), "EAAG-token", "old key still opens");
        let b = seal("EAAG-token");
        assert_eq!(sealed_with(&b), Some(key_id(&second).unwrap().as_str()));
        assert_eq!(open("plain").unwrap(), "plain");
        let mut damaged = b.clone();
        damaged.pop();
        damaged.push(if b.ends_with('A') { 'B' } else { 'A' });
        assert!(open(&damaged).is_err());
        assert!(matches!(
            open("enc1:00000000:AAAA"),
            Err(SealError::UnknownKey(_))
        ));
    }
}
