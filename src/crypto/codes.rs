//! Access codes: generated from the OS random source, hashed with argon2id (at least
//! m=19456 KiB, t=2, p=1, unique salt), verified off the async threads under a concurrency cap
//! so a flood of attempts cannot exhaust memory or stall other requests.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// The parameters every new hash uses (OWASP's minimum for argon2id).
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// Characters of generated codes: letters and digits without look-alikes (0/O, 1/l/I).
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
/// Length of generated codes.
pub const GENERATED_LEN: usize = 6;

/// A new random access code.
pub fn generate() -> String {
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % ALPHABET.len());
    let mut out = String::with_capacity(GENERATED_LEN);
    while out.len() < GENERATED_LEN {
        for b in super::random_bytes::<16>() {
            if (b as usize) < limit && out.len() < GENERATED_LEN {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The result of checking a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Right code; `rehash` holds a stronger hash when the stored one is weaker than today's.
    Yes {
        rehash: Option<String>,
    },
    No,
}

/// Runs argon2 on blocking threads, at most `permits` at a time.
#[derive(Debug, Clone)]
pub struct CodeHasher {
    permits: Arc<Semaphore>,
    /// How many hashes or verifications ran (tests check throttling happens before argon2).
    runs: Arc<std::sync::atomic::AtomicU64>,
    /// Computations running now, and the most that ever ran at once.
    running: Arc<std::sync::atomic::AtomicU64>,
    most: Arc<std::sync::atomic::AtomicU64>,
}

impl CodeHasher {
    /// A hasher allowing `concurrency` argon2 computations at once.
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            runs: Arc::default(),
            running: Arc::default(),
            most: Arc::default(),
        }
    }

    /// The most argon2 computations that ever ran at once.
    pub fn most_at_once(&self) -> u64 {
        self.most.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many argon2 computations have run.
    pub fn runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hashes a code into a PHC string with a fresh salt.
    pub async fn hash(&self, code: &str) -> anyhow::Result<String> {
        let code = code.as_bytes().to_vec();
        self.blocking(move || {
            hasher()
                .hash_password(&code)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
        })
        .await
    }

    /// Checks a code against a stored PHC string (exactly as typed: no trimming).
    pub async fn verify(&self, code: &str, phc: &str) -> anyhow::Result<Verified> {
        let code = code.as_bytes().to_vec();
        let phc = phc.to_owned();
        self.blocking(move || {
            let parsed = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
            if hasher().verify_password(&code, &parsed).is_err() {
                return Ok(Verified::No);
            }
            let rehash = if is_weaker_than_current(&parsed) {
                Some(
                    hasher()
                        .hash_password(&code)
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                        .to_string(),
                )
            } else {
                None
            };
            Ok(Verified::Yes { rehash })
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        use std::sync::atomic::Ordering::Relaxed;
        let _permit = self.permits.acquire().await.expect("semaphore never closed");
        self.runs.fetch_add(1, Relaxed);
        let now = self.running.fetch_add(1, Relaxed) + 1;
        self.most.fetch_max(now, Relaxed);
        let result = tokio::task::spawn_blocking(work).await;
        self.running.fetch_sub(1, Relaxed);
        result?
    }
}

fn is_weaker_than_current(hash: &PasswordHash) -> bool {
    let param = |name: &str| hash.params.get_decimal(name).unwrap_or(0);
    hash.algorithm.as_str() != "argon2id"
        || param("m") < MEMORY_KIB
        || param("t") < ITERATIONS
        || param("p") < PARALLELISM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_valid_access_codes() {
        for _ in 0..1000 {
            let code = generate();
            assert_eq!(code.len(), GENERATED_LEN);
            assert!(shareledger_domain::share::validate_access_code(&code).is_ok());
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_minimum_parameters_and_unique_salts() {
        let h = CodeHasher::new(2);
        let a = h.hash("s3cret").await.unwrap();
        let b = h.hash("s3cret").await.unwrap();
        assert_ne!(a, b, "a fresh salt every time");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_eq!(h.verify("s3cret", &a).await.unwrap(), Verified::Yes { rehash: None });
        assert_eq!(h.verify("s3cret ", &a).await.unwrap(), Verified::No, "no trimming");
        assert_eq!(h.verify("S3cret", &a).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn a_weaker_stored_hash_is_upgraded_on_the_next_successful_verify() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8, 1, 1, None).unwrap())
            .hash_password(b"s3cret")
            .unwrap()
            .to_string();
        let h = CodeHasher::new(1);
        match h.verify("s3cret", &weak).await.unwrap() {
            Verified::Yes { rehash: Some(new) } => assert!(new.contains("m=19456,t=2,p=1")),
            other => panic!("expected an upgrade, got {other:?}"),
        }
        assert_eq!(h.verify("wrong", &weak).await.unwrap(), Verified::No);
    }
}
