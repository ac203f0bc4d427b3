//! The embedded PostgreSQL: a private cluster under the data directory, made with the system's
//! `initdb`, run with `pg_ctl`, listening only on a Unix socket. Several processes on one data
//! directory share one running cluster; the last one to leave stops it.

mod binaries;
mod layout;
mod locks;

use std::path::{Path, PathBuf};
use std::process::Output;

use nix::fcntl::FlockArg;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

pub use binaries::find_bin_dir;
pub use layout::{Layout, PORT};
use locks::{FileLock, lock};

/// The cluster's superuser (trust authentication over a mode-700 socket directory).
pub const DB_USER: &str = "shareledger";
/// Present while `shareledger db start` keeps the cluster running.
const PINNED: &str = "postgres.pinned";

/// The service's database inside the cluster.
pub const DB_NAME: &str = "shareledger";

/// The embedded cluster could not be made, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH, via pg_config --bindir \
         or under /usr/lib/postgresql/*/bin: install them with `apt-get install postgresql` \
         (or set DATABASE_URL to use an existing server)"
    )]
    BinariesNotFound,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed ({status}): {detail}")]
    Command {
        what: String,
        status: String,
        detail: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot connect to the embedded cluster")]
    Connect(#[source] sqlx::Error),
}

impl EmbeddedError {
    pub(crate) fn io(what: String, source: std::io::Error) -> Self {
        EmbeddedError::Io { what, source }
    }
}

/// How to make a new cluster.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterOptions {
    /// No fsync: for throwaway test clusters only. Applies when the cluster is created.
    pub ephemeral: bool,
}

/// A running embedded cluster this process is using.
pub struct EmbeddedPostgres {
    layout: Layout,
    bin_dir: PathBuf,
    users: Option<FileLock>,
    started_here: bool,
}

impl EmbeddedPostgres {
    /// Starts the data directory's cluster (creating it on first use), or attaches to it when
    /// another process already runs it.
    #[tracing::instrument(skip_all, fields(data_dir = %data_dir.display()))]
    pub async fn start(data_dir: &Path, options: ClusterOptions) -> Result<Self, EmbeddedError> {
        let data_dir = prepare_data_dir(data_dir)?;
        let _deciding = lock(&data_dir.join("postgres.lock"), FlockArg::LockExclusive).await?;
        let users = lock(&data_dir.join("postgres.users"), FlockArg::LockShared).await?;
        let layout = Layout::resolve(&data_dir).await?;
        let bin_dir = find_bin_dir(layout.pg_major().as_deref())?;
        let mut cluster = EmbeddedPostgres {
            layout,
            bin_dir,
            users: Some(users),
            started_here: false,
        };
        if !cluster.layout.is_initialized() {
            cluster.layout.prepare_dirs()?;
            cluster.initdb(options).await?;
        }
        if !cluster.is_running().await? {
            cluster.layout.prepare_dirs()?;
            cluster.pg_ctl_start().await?;
            cluster.started_here = true;
        }
        cluster.ensure_database(DB_NAME).await?;
        tracing::info!(
            cluster = %cluster.layout.cluster_dir.display(),
            socket = %cluster.layout.socket_dir.display(),
            started = cluster.started_here,
            "embedded PostgreSQL ready"
        );
        Ok(cluster)
    }

    /// Connection options for a database of this cluster.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.layout.socket_dir)
            .port(PORT)
            .username(DB_USER)
            .database(database)
    }

    /// A `postgres://` URL for a database of this cluster (Unix socket in `host=`).
    pub fn url(&self, database: &str) -> String {
        self.connect_options(database).to_url_lossy().to_string()
    }

    /// Where the cluster's files are.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Whether this process started the cluster (rather than attaching to a running one).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Stops using the cluster; stops the cluster too when no other process uses it and it is
    /// not pinned by `shareledger db start`. Returns whether it was stopped.
    pub async fn release(mut self) -> Result<bool, EmbeddedError> {
        let _deciding = lock(&self.layout.data_dir.join("postgres.lock"), FlockArg::LockExclusive).await?;
        let last = self.users.as_ref().is_some_and(|users| users.try_upgrade());
        let pinned = self.layout.data_dir.join(PINNED).exists();
        let last = last && !pinned;
        if last {
            self.pg_ctl_stop().await?;
        }
        self.users = None;
        Ok(last)
    }

    /// Leaves the cluster running for others without pinning it: the last user stops it.
    pub fn detach(mut self) {
        self.users = None;
    }

    /// Keeps the cluster running until `stop_cluster` (`shareledger db start`).
    pub fn pin(mut self) -> Result<(), EmbeddedError> {
        let marker = self.layout.data_dir.join(PINNED);
        std::fs::write(
            &marker,
            "kept running by `shareledger db start`; `shareledger db stop` stops it\n",
        )
        .map_err(|e| EmbeddedError::io(format!("write {}", marker.display()), e))?;
        self.users = None;
        Ok(())
    }

    /// Stops the data directory's cluster now, whoever uses it (`shareledger db stop`).
    pub async fn stop_cluster(data_dir: &Path) -> Result<bool, EmbeddedError> {
        let data_dir = std::fs::canonicalize(data_dir)
            .map_err(|e| EmbeddedError::io(format!("open {}", data_dir.display()), e))?;
        let _deciding = lock(&data_dir.join("postgres.lock"), FlockArg::LockExclusive).await?;
        let _ = std::fs::remove_file(data_dir.join(PINNED));
        let layout = Layout::resolve(&data_dir).await?;
        if !layout.is_initialized() {
            return Ok(false);
        }
        let cluster = EmbeddedPostgres {
            bin_dir: find_bin_dir(layout.pg_major().as_deref())?,
            layout,
            users: None,
            started_here: false,
        };
        if !cluster.is_running().await? {
            return Ok(false);
        }
        cluster.pg_ctl_stop().await?;
        Ok(true)
    }

    async fn initdb(&self, options: ClusterOptions) -> Result<(), EmbeddedError> {
        let locale = if utf8_c_locale_available() { "C.UTF-8" } else { "C" };
        let mut cmd = self.layout.command(&self.bin_dir.join("initdb"));
        cmd.arg("-D")
            .arg(&self.layout.cluster_dir)
            .args(["-U", DB_USER, "--auth=trust", "--encoding=UTF8"])
            .arg(format!("--locale={locale}"));
        if options.ephemeral {
            cmd.arg("--no-sync");
        }
        run("initdb", &mut cmd).await?;
        let mut conf = String::from(
            "\n# Added by shareledger: a private cluster reached only through its Unix socket.\n\
             listen_addresses = ''\n\
             unix_socket_permissions = 0700\n\
             max_connections = 200\n\
             idle_in_transaction_session_timeout = '60s'\n",
        );
        if options.ephemeral {
            conf.push_str(
                "# Throwaway cluster: durability traded for speed.\n\
                 fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            );
        }
        let path = self.layout.cluster_dir.join("postgresql.conf");
        let mut text =
            std::fs::read_to_string(&path).map_err(|e| EmbeddedError::io(format!("read {}", path.display()), e))?;
        text.push_str(&conf);
        std::fs::write(&path, text).map_err(|e| EmbeddedError::io(format!("write {}", path.display()), e))
    }

    async fn is_running(&self) -> Result<bool, EmbeddedError> {
        let mut cmd = self.layout.command(&self.bin_dir.join("pg_ctl"));
        cmd.arg("status").arg("-D").arg(&self.layout.cluster_dir);
        let out = output("pg_ctl status", &mut cmd).await?;
        // 0: running; 3: not running; 4: no usable data directory.
        Ok(out.status.success())
    }

    async fn pg_ctl_start(&self) -> Result<(), EmbeddedError> {
        let log = self.layout.cluster_dir.join("server.log");
        let mut cmd = self.layout.command(&self.bin_dir.join("pg_ctl"));
        cmd.arg("start")
            .arg("-D")
            .arg(&self.layout.cluster_dir)
            .args(["-w", "-t", "120", "-l"])
            .arg(&log)
            .arg("-o")
            .arg(format!(
                "-k '{}' -p {PORT} -c listen_addresses=''",
                self.layout.socket_dir.display()
            ));
        run("pg_ctl start", &mut cmd)
            .await
            .map(|_| ())
            .map_err(|e| with_log_tail(e, &log))
    }

    async fn pg_ctl_stop(&self) -> Result<(), EmbeddedError> {
        let mut cmd = self.layout.command(&self.bin_dir.join("pg_ctl"));
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.layout.cluster_dir)
            .args(["-m", "fast", "-w", "-t", "120"]);
        run("pg_ctl stop", &mut cmd).await?;
        tracing::info!(cluster = %self.layout.cluster_dir.display(), "embedded PostgreSQL stopped");
        Ok(())
    }

    async fn ensure_database(&self, name: &str) -> Result<(), EmbeddedError> {
        let mut conn = PgConnection::connect_with(&self.connect_options("postgres"))
            .await
            .map_err(EmbeddedError::Connect)?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .map_err(EmbeddedError::Connect)?;
        if !exists {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .map_err(EmbeddedError::Connect)?;
        }
        conn.close().await.map_err(EmbeddedError::Connect)
    }
}

fn prepare_data_dir(data_dir: &Path) -> Result<PathBuf, EmbeddedError> {
    if !data_dir.exists() {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| EmbeddedError::io(format!("create {}", data_dir.display()), e))?;
    }
    std::fs::canonicalize(data_dir).map_err(|e| EmbeddedError::io(format!("open {}", data_dir.display()), e))
}

fn utf8_c_locale_available() -> bool {
    std::process::Command::new("locale")
        .arg("-a")
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.eq_ignore_ascii_case("c.utf8") || l.eq_ignore_ascii_case("c.utf-8"))
        })
        .unwrap_or(false)
}

async fn output(what: &str, cmd: &mut tokio::process::Command) -> Result<Output, EmbeddedError> {
    cmd.output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            EmbeddedError::Unsupported(format!(
                "{what}: a needed program (runuser or a PostgreSQL tool) is missing: {e}"
            ))
        } else {
            EmbeddedError::io(what.to_owned(), e)
        }
    })
}

async fn run(what: &str, cmd: &mut tokio::process::Command) -> Result<Output, EmbeddedError> {
    let out = output(what, cmd).await?;
    if out.status.success() {
        return Ok(out);
    }
    let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if detail.is_empty() {
        detail = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    Err(EmbeddedError::Command {
        what: what.to_owned(),
        status: out.status.to_string(),
        detail,
    })
}

fn with_log_tail(error: EmbeddedError, log: &Path) -> EmbeddedError {
    match error {
        EmbeddedError::Command { what, status, detail } => {
            let tail: Vec<String> = std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(5)
                .map(str::to_owned)
                .collect();
            let tail: Vec<String> = tail.into_iter().rev().collect();
            EmbeddedError::Command {
                what,
                status,
                detail: format!("{detail}; server log: {}", tail.join(" | ")),
            }
        }
        other => other,
    }
}
