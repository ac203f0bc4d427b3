//! The service's keys: the JWT signing secret, the sealing key and the audit signing key. From configuration when
//! given (required when several instances share a database), otherwise generated once into
//! `<data-dir>/keys/` (mode 600) and reused.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::audit::key::AuditKey;
use crate::config::Config;
use crate::crypto::seal::SealKey;

/// The keys a running service signs and seals with.
#[derive(Clone)]
pub struct Keys {
    pub jwt_secret: Vec<u8>,
    pub seal: SealKey,
    /// Signs audit checkpoints (Ed25519).
    pub audit: AuditKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// Loads the configured keys, or the data directory's (creating them on first use).
    pub fn load(config: &Config) -> anyhow::Result<Keys> {
        let dir = config.data_dir.join("keys");
        let jwt_secret = match &config.jwt_secret {
            Some(s) => decode_key("jwt_secret", s, 32)?,
            None => load_or_create(&dir.join("jwt.secret"))?,
        };
        let seal = match &config.seal_key {
            Some(s) => decode_key("seal_key", s, 32)?,
            None => load_or_create(&dir.join("seal.key"))?,
        };
        let seal: [u8; 32] = seal
            .try_into()
            .map_err(|_| anyhow::anyhow!("seal_key must be exactly 32 bytes (base64)"))?;
        Ok(Keys {
            jwt_secret,
            seal: SealKey::from_bytes(&seal),
            audit: Self::audit(config)?,
        })
    }

    /// Only the audit key (what `audit checkpoint` and `audit public-key` need).
    pub fn audit(config: &Config) -> anyhow::Result<AuditKey> {
        let seed = match &config.audit_key {
            Some(s) => decode_key("audit_key", s, 32)?,
            None => load_or_create(&config.data_dir.join("keys").join("audit.key"))?,
        };
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| anyhow::anyhow!("audit_key must be exactly 32 bytes (base64)"))?;
        Ok(AuditKey::from_seed(&seed))
    }
}

fn decode_key(name: &str, text: &str, min_len: usize) -> anyhow::Result<Vec<u8>> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| anyhow::anyhow!("{name} must be base64"))?;
    anyhow::ensure!(bytes.len() >= min_len, "{name} must hold at least {min_len} bytes");
    Ok(bytes)
}

/// Reads a 32-byte key file (base64), or creates one with fresh random bytes, mode 600.
fn load_or_create(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return decode_key(&path.display().to_string(), &text, 32);
    }
    let dir: PathBuf = path.parent().expect("key files live in a directory").to_path_buf();
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let bytes = crate::crypto::random_bytes::<32>();
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return decode_key(&path.display().to_string(), &std::fs::read_to_string(path)?, 32);
        }
        Err(e) => return Err(e.into()),
    };
    std::io::Write::write_all(&mut file, format!("{}\n", STANDARD.encode(bytes)).as_bytes())?;
    file.sync_all()?;
    Ok(bytes.to_vec())
}
