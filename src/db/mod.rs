//! Reaching PostgreSQL: the configured server (`DATABASE_URL`) or the embedded cluster, a tuned
//! pool, and the migrations.

pub mod embedded;
pub mod fresh;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::config::Config;
use embedded::{ClusterOptions, EmbeddedPostgres};

/// Every migration in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Could not reach or prepare the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Embedded(#[from] embedded::EmbeddedError),
    #[error("DATABASE_URL is not a valid PostgreSQL URL")]
    BadUrl(#[source] sqlx::Error),
    #[error("cannot connect to PostgreSQL")]
    Connect(#[source] sqlx::Error),
    #[error("migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// An open database: the pool and, when embedded, the cluster this process uses.
pub struct Database {
    pub pool: PgPool,
    pub connect: PgConnectOptions,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Opens the configured server, or starts/attaches to the embedded cluster.
    pub async fn open(config: &Config) -> Result<Database, DbError> {
        let (connect, embedded) = match &config.database_url {
            Some(url) => (PgConnectOptions::from_str(url).map_err(DbError::BadUrl)?, None),
            None => {
                let cluster = EmbeddedPostgres::start(&config.data_dir, ClusterOptions::default()).await?;
                (cluster.connect_options(embedded::DB_NAME), Some(cluster))
            }
        };
        let connect = session_options(connect, config);
        let pool = pool_options(config).connect_lazy_with(connect.clone());
        wait_until_reachable(&pool, config.db_connect_timeout).await?;
        Ok(Database {
            pool,
            connect,
            embedded,
        })
    }

    /// The embedded cluster, if this database is one.
    pub fn embedded(&self) -> Option<&EmbeddedPostgres> {
        self.embedded.as_ref()
    }

    /// Closes the pool and releases the embedded cluster (stopping it if no one else uses it).
    pub async fn close(self) {
        self.pool.close().await;
        if let Some(cluster) = self.embedded {
            match cluster.release().await {
                Ok(stopped) => tracing::debug!(stopped, "released the embedded cluster"),
                Err(e) => tracing::error!(error = %e, "could not stop the embedded cluster"),
            }
        }
    }
}

/// Per-connection settings every shareledger session gets.
pub fn session_options(connect: PgConnectOptions, config: &Config) -> PgConnectOptions {
    connect
        .application_name("shareledger")
        .options([(
            "idle_in_transaction_session_timeout",
            format!("{}ms", config.db_idle_in_transaction_timeout.as_millis()),
        )])
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(
            if config.db_slow_statement.is_zero() {
                tracing::log::LevelFilter::Off
            } else {
                tracing::log::LevelFilter::Warn
            },
            config.db_slow_statement,
        )
}

/// The pool settings: no ping before each checkout (a failed connection is discarded when it
/// fails), a short acquire timeout so requests fail fast when the database is gone.
pub fn pool_options(config: &Config) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.db_pool_size)
        .min_connections(0)
        .acquire_timeout(config.db_acquire_timeout)
        .test_before_acquire(false)
        .idle_timeout(Some(Duration::from_secs(300)))
}

/// Begins a transaction whose statements run on generic plans: planned once per connection and
/// then reused, whatever their parameters. For statements that look rows up by key, where
/// PostgreSQL would otherwise plan anew on every call (it keeps choosing a custom plan when an
/// array parameter of a few elements makes the custom plan look cheaper than a generic one
/// assuming ten), and the planning costs as much as the execution: a batch's append planned in
/// 0.36 ms and ran in 0.3 ms. Never for searches whose best plan depends on the values
/// (`my_share_links` runs those unnamed). The `SET LOCAL` goes with the `BEGIN` (no round trip
/// of its own) and ends with the transaction. Not worth it for a read on its own: the
/// transaction costs it two round trips (`drive_items::with_deleted` states its one id instead).
pub async fn begin_generic(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin_with("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan")
        .await
}

/// A small pool of `connections` to the database of `pool` (with its settings), whose sessions
/// run every statement on a generic plan, planned once per connection and then reused: for
/// writers that run a few statement shapes over and over, each looking rows up by key, where
/// the shared pool would spread each shape over all its connections and PostgreSQL would keep
/// planning it (the group commit's, `runtime::group`). Connections open when first needed.
pub fn generic_plan_pool(pool: &PgPool, connections: u32) -> PgPool {
    pool.options()
        .clone()
        .max_connections(connections)
        .min_connections(0)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(&mut *conn, "SET plan_cache_mode = force_generic_plan").await?;
                Ok(())
            })
        })
        .connect_lazy_with(pool.connect_options().as_ref().clone())
}

async fn wait_until_reachable(pool: &PgPool, timeout: Duration) -> Result<(), DbError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match sqlx::query("SELECT 1").execute(pool).await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(DbError::Connect(e)),
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Applies every pending migration (serialized across instances by sqlx's advisory lock).
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether every migration this build knows is applied.
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<i64> =
        match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
        {
            Ok(versions) => versions,
            // No migrations table yet: nothing applied.
            Err(e) if crate::store::sqlstate(&e).as_deref() == Some("42P01") => Vec::new(),
            Err(e) => return Err(e),
        };
    Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
}
