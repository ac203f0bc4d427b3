//! Test support: every test gets a fresh, migrated database on the suite's server.
//!
//! The server is `DATABASE_URL` (what `scripts/test` sets, pointing at its throwaway cluster),
//! or else an embedded cluster under `target/test-cluster` started on first use.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, PgPool};
use tokio::sync::OnceCell;

use crate::config::Config;
use crate::db::embedded::{ClusterOptions, EmbeddedPostgres};
use crate::db::fresh::fresh_database;

/// A database of its own for one test.
pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    pub connect: PgConnectOptions,
}

impl TestDb {
    /// Creates a fresh migrated database and a pool of `pool_size` connections to it.
    pub async fn new() -> TestDb {
        Self::with_pool_size(10).await
    }

    /// Same, with a pool of the given size (concurrency tests want more).
    pub async fn with_pool_size(pool_size: u32) -> TestDb {
        let server = server().await.clone();
        let (connect, name) = fresh_database(&server, "test")
            .await
            .expect("cannot create a fresh test database");
        let connect = connect.options([("idle_in_transaction_session_timeout", "60s")]);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await
            .expect("cannot connect to the fresh test database");
        TestDb { pool, name, connect }
    }

    /// A separate connection (e.g. to hold a transaction open, or to tamper as the owner).
    pub async fn connection(&self) -> PgConnection {
        self.connect.connect().await.expect("cannot open a test connection")
    }

    /// Runs `sql` as the table owner with the log's append-only trigger switched off, as an
    /// attacker with database access could (tamper tests).
    pub async fn tamper(&self, sql: &str) {
        let mut conn = self.connection().await;
        for statement in [
            "ALTER TABLE events DISABLE TRIGGER events_append_only",
            sql,
            "ALTER TABLE events ENABLE TRIGGER events_append_only",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&mut conn)
                .await
                .expect("tampering statement");
        }
    }

    /// A service configuration that uses this database; its files (content, keys, exports) go to
    /// a directory of the test's own, removed when the `TestDb` is dropped.
    pub fn config(&self) -> Config {
        Config::for_database(Some(self.connect.to_url_lossy().to_string()), &self.files_dir())
    }

    fn files_dir(&self) -> PathBuf {
        std::env::temp_dir().join(format!("shareledger-test-{}", self.name))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Exports of large logs run to hundreds of MB; thousands of tests must not fill the disk.
        let _ = std::fs::remove_dir_all(self.files_dir());
    }
}

/// The suite's PostgreSQL server.
pub async fn server() -> &'static PgConnectOptions {
    static SERVER: OnceCell<PgConnectOptions> = OnceCell::const_new();
    SERVER
        .get_or_init(|| async {
            match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => {
                    PgConnectOptions::from_str(&url).expect("DATABASE_URL is not a PostgreSQL URL")
                }
                _ => {
                    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-cluster");
                    let cluster = EmbeddedPostgres::start(&dir, ClusterOptions { ephemeral: true })
                        .await
                        .expect("cannot start the embedded test cluster");
                    let options = cluster.connect_options("postgres");
                    // Left running for the other test processes; `shareledger db stop
                    // --data-dir target/test-cluster` stops it.
                    cluster.pin().expect("cannot pin the test cluster");
                    options
                }
            }
        })
        .await
}
