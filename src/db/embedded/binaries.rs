//! Finding the PostgreSQL server binaries: `SHARELEDGER_PG_BIN`, the cluster's own major
//! version, PATH, `pg_config --bindir`, then `/usr/lib/postgresql/*/bin` (newest first).

use std::path::{Path, PathBuf};

use super::EmbeddedError;

const NEEDED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// The directory holding initdb, pg_ctl and postgres; `major` prefers that version (the one an
/// existing cluster was made with).
pub fn find_bin_dir(major: Option<&str>) -> Result<PathBuf, EmbeddedError> {
    candidates(major)
        .into_iter()
        .find(|dir| is_server_bin_dir(dir))
        .ok_or(EmbeddedError::BinariesNotFound)
}

fn candidates(major: Option<&str>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("SHARELEDGER_PG_BIN") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(major) = major {
        dirs.push(PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // Debian links /usr/bin tools to a wrapper; follow initdb to its real directory so
            // pg_ctl and postgres are found beside it.
            if let Ok(real) = std::fs::canonicalize(dir.join("initdb"))
                && let Some(parent) = real.parent()
            {
                dirs.push(parent.to_path_buf());
            }
        }
    }
    if let Ok(out) = std::process::Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|v| std::cmp::Reverse(v.0));
    dirs.extend(versioned.into_iter().map(|(_, dir)| dir));
    dirs
}

fn is_server_bin_dir(dir: &Path) -> bool {
    NEEDED.iter().all(|bin| dir.join(bin).is_file())
}
