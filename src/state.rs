//! What every request handler can reach.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::content::ContentStore;
use crate::crypto::codes::CodeHasher;
use crate::keys::Keys;
use crate::runtime::{RetryPolicy, Runtime};
use crate::store::EventStore;

/// Shared, cheaply cloned application state.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    pool: PgPool,
    store: EventStore,
    runtime: Runtime,
    metrics: PrometheusHandle,
    keys: Keys,
    clock: Arc<dyn Clock>,
    hasher: CodeHasher,
    content: ContentStore,
    throttles: crate::service::recipient::throttle::Throttles,
    runners: crate::service::runners::Runners,
    combiner: crate::service::recipient::combine::Combiner,
    names: crate::service::shares::name_index::NameIndex,
    connect: sqlx::postgres::PgConnectOptions,
}

/// Parts tests replace.
pub struct AppOptions {
    pub clock: Arc<dyn Clock>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
        }
    }
}

impl AppState {
    /// State over an open pool (migrations applied), with the system clock.
    pub fn new(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        Self::with_options(config, pool, AppOptions::default())
    }

    /// State with replaced parts.
    pub fn with_options(config: Config, pool: PgPool, options: AppOptions) -> anyhow::Result<Self> {
        let store = EventStore::new(pool.clone());
        let keys = Keys::load(&config)?;
        let content = ContentStore::local(&config.data_dir.join("content"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                runtime: Runtime::new(store.clone(), RetryPolicy::default()),
                store,
                metrics: crate::telemetry::metrics_handle(),
                keys,
                clock: options.clock,
                hasher: CodeHasher::new(config.argon2_concurrency),
                content,
                throttles: Default::default(),
                runners: Default::default(),
                combiner: Default::default(),
                names: crate::service::shares::name_index::NameIndex::new(config.name_index_bytes),
                connect: pool.connect_options().as_ref().clone(),
                config,
                pool,
            }),
        })
    }

    /// Concurrent accesses, to any shares, written together (`service::recipient::combine`).
    pub fn combiner(&self) -> &crate::service::recipient::combine::Combiner {
        &self.inner.combiner
    }

    /// Owners' share names for the search's substring (`service::shares::name_index`).
    pub fn names(&self) -> &crate::service::shares::name_index::NameIndex {
        &self.inner.names
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn store(&self) -> &EventStore {
        &self.inner.store
    }

    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }

    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub fn clock_arc(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    pub fn hasher(&self) -> &CodeHasher {
        &self.inner.hasher
    }

    pub fn content(&self) -> &ContentStore {
        &self.inner.content
    }

    pub fn throttles(&self) -> &crate::service::recipient::throttle::Throttles {
        &self.inner.throttles
    }

    /// This instance's projection runners and rebuilds.
    pub fn runners(&self) -> &crate::service::runners::Runners {
        &self.inner.runners
    }

    /// How to open dedicated connections (runners, rebuilds).
    pub fn connect_options(&self) -> &sqlx::postgres::PgConnectOptions {
        &self.inner.connect
    }

    /// Starts the runners of the asynchronous projections.
    pub async fn start_runners(&self) {
        self.inner.runners.start(&self.inner.store, &self.inner.connect).await;
    }
}
