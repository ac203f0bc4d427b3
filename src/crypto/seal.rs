//! Sealing secrets the owner must be able to read back (the access code, the link token):
//! XChaCha20-Poly1305 with a random 192-bit nonce, bound to the share by associated data.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The sealing key (32 bytes).
#[derive(Clone)]
pub struct SealKey(XChaCha20Poly1305);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// Sealed data could not be opened: wrong key, wrong binding, or tampered bytes.
#[derive(Debug, thiserror::Error)]
#[error("sealed secret cannot be opened")]
pub struct Unseal;

impl SealKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(bytes.into()))
    }

    /// `nonce || ciphertext` of `plain`, bound to `binding` (e.g. the share id).
    pub fn seal(&self, plain: &[u8], binding: &[u8]) -> Vec<u8> {
        let nonce_bytes = super::random_bytes::<24>();
        let nonce = XNonce::from(nonce_bytes);
        let mut out = nonce_bytes.to_vec();
        out.extend(
            self.0
                .encrypt(
                    &nonce,
                    Payload {
                        msg: plain,
                        aad: binding,
                    },
                )
                .expect("encryption of an in-memory buffer cannot fail"),
        );
        out
    }

    /// Opens what `seal` produced with the same binding.
    pub fn open(&self, sealed: &[u8], binding: &[u8]) -> Result<Vec<u8>, Unseal> {
        if sealed.len() < 24 {
            return Err(Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| Unseal)?;
        self.0
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: binding,
                },
            )
            .map_err(|_| Unseal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_binding() {
        let key = SealKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"pa55word", b"share-1");
        assert!(!sealed.windows(8).any(|w| w == b"pa55word"), "no plain text inside");
        assert_eq!(key.open(&sealed, b"share-1").unwrap(), b"pa55word");
        assert!(key.open(&sealed, b"share-2").is_err(), "bound to its share");
        assert!(SealKey::from_bytes(&[8; 32]).open(&sealed, b"share-1").is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&tampered, b"share-1").is_err());
        assert_ne!(key.seal(b"x", b"b"), key.seal(b"x", b"b"), "fresh nonce each time");
    }
}
