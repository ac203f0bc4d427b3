//! The Ed25519 key that signs checkpoints. The private half stays with the service (configured,
//! or generated once into `<data-dir>/keys/audit.key`); auditors keep the public half elsewhere
//! (`shareledger audit public-key`) and verify with it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// The prefix of the public key's text form.
const PREFIX: &str = "ed25519:";

/// The service's signing key.
#[derive(Clone)]
pub struct AuditKey(SigningKey);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", self.public().id())
    }
}

impl AuditKey {
    /// From the 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).to_bytes().to_vec()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

/// A checkpoint verification key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses the text form `ed25519:<base64 of 32 bytes>` (surrounding whitespace allowed).
    pub fn parse(text: &str) -> Result<Self, String> {
        let body = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("a public key starts with {PREFIX:?}"))?;
        let bytes = STANDARD
            .decode(body)
            .map_err(|_| "the public key is not valid base64".to_owned())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "an Ed25519 public key has 32 bytes".to_owned())?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| "not a valid Ed25519 public key".to_owned())
    }

    /// The text form auditors keep.
    pub fn to_text(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.0.to_bytes()))
    }

    /// A short fingerprint naming the key in checkpoints: the first 8 bytes of its SHA-256, hex.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.to_bytes())[..8])
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature).is_ok_and(|s| self.0.verify(message, &s).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_under_its_own_key_only() {
        let key = AuditKey::from_seed(&[7; 32]);
        let other = AuditKey::from_seed(&[8; 32]);
        let signature = key.sign(b"checkpoint");
        assert!(key.public().verifies(b"checkpoint", &signature));
        assert!(!key.public().verifies(b"checkpoint!", &signature));
        assert!(!other.public().verifies(b"checkpoint", &signature));
        assert!(!key.public().verifies(b"checkpoint", &signature[..10]));
    }

    #[test]
    fn the_public_key_text_round_trips() {
        let key = AuditKey::from_seed(&[7; 32]).public();
        assert_eq!(PublicKey::parse(&format!("  {}\n", key.to_text())), Ok(key.clone()));
        assert!(PublicKey::parse("ed25519:AAAA").is_err());
        assert!(PublicKey::parse(&key.to_text().replace("ed25519:", "rsa:")).is_err());
        assert_eq!(key.id().len(), 16);
    }
}
