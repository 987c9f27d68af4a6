//! Sealing secrets we persist (refresh tokens) with an AEAD under a local key file.
//!
//! Why: a refresh token read from a copied data directory or backup lets anyone read the
//! whole tenant for 90 days. Sealed with AES-256-GCM under `data_dir/secret.key` (mode 0600,
//! created on first use, or `[secrets] key_file`), the store alone is useless. Sealed
//! values carry a version prefix so the scheme can change later; a wrong key or a tampered
//! value is an error that names neither the key nor the plaintext.

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::{Path, PathBuf};

/// Prefix of values sealed by this release.
const VERSION_PREFIX: &str = "sealed.v1.";
/// Key length for AES-256.
const KEY_LEN: usize = 32;

/// Why a secret could not be sealed or opened. Never contains key or plaintext bytes.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error(
        "a sealed secret could not be opened: wrong key file or tampered value (was secret.key replaced?)"
    )]
    Open,
    #[error("a sealed secret has an unknown format (not `{VERSION_PREFIX}…`)")]
    Format,
    #[error("sealing failed: {0}")]
    Seal(&'static str),
}

/// The AEAD key that seals and opens persisted secrets. Cheap to clone.
#[derive(Clone)]
pub struct SecretBox {
    key: std::sync::Arc<LessSafeKey>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

impl SecretBox {
    /// Loads the key at `path`, creating it (32 random bytes, mode 0600) when absent.
    pub fn open_or_create(path: &Path) -> Result<SecretBox, SecretsError> {
        let err = |reason: String| SecretsError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::read(path) {
            Ok(bytes) => SecretBox::from_key(&bytes).map_err(|_| {
                err(format!(
                    "must hold exactly {KEY_LEN} bytes (has {})",
                    bytes.len()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| err("no randomness available".to_string()))?;
                write_private(path, &key).map_err(|e| err(format!("cannot create: {e}")))?;
                tracing::info!(path = %path.display(), "created the key that seals stored secrets");
                SecretBox::from_key(&key).map_err(|_| err("unusable key".to_string()))
            }
            Err(e) => Err(err(format!("cannot read: {e}"))),
        }
    }

    /// A box for raw key bytes (exactly 32).
    pub fn from_key(bytes: &[u8]) -> Result<SecretBox, SecretsError> {
        if bytes.len() != KEY_LEN {
            return Err(SecretsError::Seal("key must be 32 bytes"));
        }
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SecretsError::Seal("key rejected"))?;
        Ok(SecretBox {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
        })
    }

    /// Seals `plaintext`; `context` (e.g. the record key) is authenticated too, so a sealed
    /// value copied onto another record does not open.
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, SecretsError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SecretsError::Seal("no randomness available"))?;
        let mut data = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .map_err(|_| SecretsError::Seal("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!(
            "{VERSION_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// Opens a value sealed by [`SecretBox::seal`] with the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, SecretsError> {
        let encoded = sealed
            .strip_prefix(VERSION_PREFIX)
            .ok_or(SecretsError::Format)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| SecretsError::Format)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretsError::Format);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretsError::Format)?;
        let mut data = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| SecretsError::Open)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretsError::Open)
    }
}

/// Creates `path` readable by its owner only and writes `bytes`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_context_binding() {
        let b = SecretBox::from_key(&[7u8; 32]).unwrap();
        let sealed = b.seal("primary/all", "refresh-token-value").unwrap();
        assert!(sealed.starts_with(VERSION_PREFIX));
        assert!(!sealed.contains("refresh-token-value"));
        assert_eq!(
            b.open("primary/all", &sealed).unwrap(),
            "refresh-token-value"
        );
        assert_ne!(
            sealed,
            b.seal("primary/all", "refresh-token-value").unwrap()
        );
        assert!(matches!(
            b.open("backup/all", &sealed),
            Err(SecretsError::Open)
        ));
    }

    #[test]
    fn tampering_is_detected() {
        let b = SecretBox::from_key(&[7u8; 32]).unwrap();
        let sealed = b.seal("k", "secret").unwrap();
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix(VERSION_PREFIX).unwrap())
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!(
            "{VERSION_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        assert!(matches!(b.open("k", &tampered), Err(SecretsError::Open)));
        assert!(matches!(b.open("k", "plain"), Err(SecretsError::Format)));
        assert!(matches!(
            b.open("k", "sealed.v1.!!"),
            Err(SecretsError::Format)
        ));
        assert!(matches!(
            b.open("k", "sealed.v1.AAAA"),
            Err(SecretsError::Format)
        ));
    }

    #[test]
    fn wrong_key_is_a_clear_error_without_plaintext() {
        let a = SecretBox::from_key(&[1u8; 32]).unwrap();
        let b = SecretBox::from_key(&[2u8; 32]).unwrap();
        let sealed = a.seal("k", "top-secret").unwrap();
        let e = b.open("k", &sealed).unwrap_err();
        assert!(e.to_string().contains("wrong key"), "{e}");
        assert!(!e.to_string().contains("top-secret"));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = SecretBox::open_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = a.seal("k", "v").unwrap();
        let again = SecretBox::open_or_create(&path).unwrap();
        assert_eq!(again.open("k", &sealed).unwrap(), "v");
        std::fs::write(&path, b"short").unwrap();
        let e = SecretBox::open_or_create(&path).unwrap_err();
        assert!(e.to_string().contains("32 bytes"), "{e}");
    }
}
