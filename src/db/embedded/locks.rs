//! Cross-process coordination through file locks in the data directory.
//!
//! - `postgres.lock` (exclusive, short): one process at a time decides to start or stop.
//! - `postgres.users` (shared, long): held by every process using the cluster; the last one to
//!   leave (the one that can take it exclusively) stops the cluster.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::EmbeddedError;

/// A held file lock; released on drop.
pub struct FileLock(#[allow(dead_code)] Flock<File>);

fn open(path: &Path) -> Result<File, EmbeddedError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| EmbeddedError::io(format!("open lock file {}", path.display()), e))
}

/// Blocks (on a blocking thread) until the lock is held.
pub async fn lock(path: &Path, arg: FlockArg) -> Result<FileLock, EmbeddedError> {
    let file = open(path)?;
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        Flock::lock(file, arg)
            .map(FileLock)
            .map_err(|(_, errno)| EmbeddedError::io(format!("lock {shown}"), errno.into()))
    })
    .await
    .map_err(|e| EmbeddedError::io("lock task".into(), std::io::Error::other(e)))?
}

impl FileLock {
    /// Tries to turn a shared lock into an exclusive one without waiting: true when this
    /// process is the only holder.
    pub fn try_upgrade(&self) -> bool {
        self.0.relock(FlockArg::LockExclusiveNonblock).is_ok()
    }
}
