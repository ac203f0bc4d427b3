//! Where the embedded cluster lives and as whom it runs.
//!
//! PostgreSQL refuses to run as root. When the service is root, the cluster runs as the
//! `postgres` system user (or `nobody`), which must be able to reach the cluster directory.
//! A checkout under a private home (mode 700) is common: then the cluster is placed under
//! `/var/lib/shareledger/clusters/<hash of the data dir>` and the place is remembered in
//! `<data-dir>/postgres.location`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};
use tokio::process::Command;

use super::EmbeddedError;

const LOCATION_FILE: &str = "postgres.location";
const FALLBACK_ROOT: &str = "/var/lib/shareledger/clusters";
/// Unix socket paths are limited to 107 bytes; keep a margin.
const MAX_SOCKET_PATH: usize = 100;
/// The port only names the socket file; nothing listens on TCP.
pub const PORT: u16 = 5432;

/// The unprivileged account the cluster runs as when the service is root.
#[derive(Debug, Clone)]
pub struct RunAs {
    pub name: String,
    pub uid: nix::unistd::Uid,
    pub gid: nix::unistd::Gid,
}

/// The resolved places of one data directory's cluster.
#[derive(Debug, Clone)]
pub struct Layout {
    pub data_dir: PathBuf,
    pub cluster_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub run_as: Option<RunAs>,
}

impl Layout {
    /// Works out (and remembers) where the cluster of `data_dir` lives. Creates nothing but the
    /// location file.
    pub async fn resolve(data_dir: &Path) -> Result<Layout, EmbeddedError> {
        let run_as = run_as()?;
        let remembered = data_dir.join(LOCATION_FILE);
        let cluster_dir = if let Ok(text) = std::fs::read_to_string(&remembered) {
            PathBuf::from(text.trim())
        } else {
            let inside = data_dir.join("postgres");
            match &run_as {
                Some(user) if !reachable_by(user, data_dir).await => {
                    let outside = PathBuf::from(FALLBACK_ROOT).join(short_hash(data_dir, 16));
                    std::fs::write(&remembered, format!("{}\n", outside.display()))
                        .map_err(|e| EmbeddedError::io(format!("write {}", remembered.display()), e))?;
                    tracing::info!(
                        data_dir = %data_dir.display(),
                        cluster = %outside.display(),
                        user = %user.name,
                        "the cluster user cannot reach the data directory; placing the cluster outside it"
                    );
                    outside
                }
                _ => inside,
            }
        };
        let socket_dir = if cluster_dir.join(".s.PGSQL.5432").as_os_str().len() <= MAX_SOCKET_PATH {
            cluster_dir.clone()
        } else {
            PathBuf::from(format!("/tmp/shareledger-{}", short_hash(&cluster_dir, 12)))
        };
        for path in [&cluster_dir, &socket_dir] {
            if path.to_string_lossy().contains('\'') {
                return Err(EmbeddedError::Unsupported(format!(
                    "the path {} contains a quote; choose another --data-dir",
                    path.display()
                )));
            }
        }
        Ok(Layout {
            data_dir: data_dir.to_path_buf(),
            cluster_dir,
            socket_dir,
            run_as,
        })
    }

    /// Whether initdb already ran here.
    pub fn is_initialized(&self) -> bool {
        self.cluster_dir.join("PG_VERSION").is_file()
    }

    /// The major version the cluster was made with.
    pub fn pg_major(&self) -> Option<String> {
        std::fs::read_to_string(self.cluster_dir.join("PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_owned())
    }

    /// Creates the cluster and socket directories, owned by the cluster user, mode 700.
    pub fn prepare_dirs(&self) -> Result<(), EmbeddedError> {
        for dir in [&self.cluster_dir, &self.socket_dir] {
            std::fs::create_dir_all(dir).map_err(|e| EmbeddedError::io(format!("create {}", dir.display()), e))?;
            if let Some(user) = &self.run_as {
                std::os::unix::fs::chown(dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                    .map_err(|e| EmbeddedError::io(format!("chown {}", dir.display()), e))?;
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| EmbeddedError::io(format!("chmod {}", dir.display()), e))?;
        }
        Ok(())
    }

    /// A command that runs `program` as the cluster user.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", &user.name, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        // The cluster user may not be allowed into the caller's working directory.
        cmd.current_dir("/").stdin(Stdio::null()).kill_on_drop(false);
        cmd
    }
}

fn run_as() -> Result<Option<RunAs>, EmbeddedError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(user)) = nix::unistd::User::from_name(name) {
            return Ok(Some(RunAs {
                name: name.to_owned(),
                uid: user.uid,
                gid: user.gid,
            }));
        }
    }
    Err(EmbeddedError::Unsupported(
        "running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as; \
         create one (useradd --system postgres) or run shareledger as an unprivileged user"
            .into(),
    ))
}

async fn reachable_by(user: &RunAs, dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", &user.name, "--", "test", "-x"])
        .arg(dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

fn short_hash(path: &Path, chars: usize) -> String {
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    hex::encode(digest)[..chars].to_owned()
}
