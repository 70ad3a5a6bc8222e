//! Sealing secrets at rest: XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`)
//! with the server's 32-byte key, a random 192-bit nonce per value (random nonces of
//! that size never repeat in practice), and the secret's name as associated data, so
//! a sealed value copied to another name does not open.
//!
//! The key is a file of 32 random bytes (`head -c 32 /dev/urandom > key`), or of 64
//! hex digits. Without a key the server refuses to store secrets: it never keeps one
//! in plain text.

use anyhow::{Context, bail};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::path::Path;

/// Bytes of a nonce.
const NONCE_BYTES: usize = 24;

/// The server's secret key, ready to seal and open.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// A sealed value that does not open: the key changed, or the row was altered.
#[derive(Debug, thiserror::Error)]
#[error(
    "the secret {0} cannot be decrypted with this server's key (was --secret-key-file changed?)"
)]
pub struct Unreadable(pub String);

impl Vault {
    /// Reads the key file.
    ///
    /// # Errors
    /// If it cannot be read or holds neither 32 bytes nor 64 hex digits.
    pub fn from_key_file(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the secret key file {}", path.display()))?;
        let key: Vec<u8> = if bytes.len() == 32 {
            bytes
        } else {
            let text = String::from_utf8_lossy(&bytes);
            match hex::decode(text.trim()) {
                Ok(key) if key.len() == 32 => key,
                _ => bail!(
                    "the secret key file {} must hold 32 bytes (head -c 32 /dev/urandom) or 64 hex \
                     digits; it holds {} bytes",
                    path.display(),
                    bytes.len()
                ),
            }
        };
        Ok(Vault::from_key(&key))
    }

    /// A vault over a 32-byte key.
    ///
    /// # Panics
    /// If `key` is not 32 bytes long.
    pub fn from_key(key: &[u8]) -> Self {
        Vault {
            cipher: XChaCha20Poly1305::new_from_slice(key).expect("a 32-byte key"),
        }
    }

    /// Seals `value` for secret `name`: hex of the nonce and the ciphertext.
    pub fn seal(&self, name: &str, value: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length the API accepts");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        hex::encode(sealed)
    }

    /// Opens what [`Vault::seal`] sealed for `name`.
    ///
    /// # Errors
    /// [`Unreadable`] if the key or the name differs, or the text was altered.
    pub fn open(&self, name: &str, sealed: &str) -> Result<String, Unreadable> {
        let unreadable = || Unreadable(name.to_owned());
        let bytes = hex::decode(sealed).map_err(|_| unreadable())?;
        if bytes.len() < NONCE_BYTES {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| unreadable())?;
        let plain = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| unreadable())?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_under_the_same_key_and_name() {
        let vault = Vault::from_key(&[7; 32]);
        let sealed = vault.seal("TOKEN", "xoxb-123");
        assert!(!sealed.contains(&hex::encode("xoxb-123")));
        assert_ne!(
            sealed,
            vault.seal("TOKEN", "xoxb-123"),
            "a fresh nonce each time"
        );
        assert_eq!(vault.open("TOKEN", &sealed).unwrap(), "xoxb-123");
        assert!(vault.open("OTHER", &sealed).is_err());
        assert!(Vault::from_key(&[8; 32]).open("TOKEN", &sealed).is_err());
        assert!(vault.open("TOKEN", "00").is_err());
    }

    #[test]
    fn reads_raw_and_hex_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [1u8; 32]).unwrap();
        let hexed = dir.path().join("hex");
        std::fs::write(&hexed, format!("{}\n", hex::encode([1u8; 32]))).unwrap();
        let sealed = Vault::from_key_file(&raw).unwrap().seal("A", "v");
        assert_eq!(
            Vault::from_key_file(&hexed)
                .unwrap()
                .open("A", &sealed)
                .unwrap(),
            "v"
        );
        let short = dir.path().join("short");
        std::fs::write(&short, [1u8; 16]).unwrap();
        let e = Vault::from_key_file(&short).unwrap_err().to_string();
        assert!(e.contains("32 bytes"), "{e}");
    }
}
