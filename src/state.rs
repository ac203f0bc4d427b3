//! What every request handler can reach.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::config::Config;
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
}

impl AppState {
    /// State over an open pool (migrations applied).
    pub fn new(config: Config, pool: PgPool) -> Self {
        let store = EventStore::new(pool.clone());
        Self {
            inner: Arc::new(Inner {
                runtime: Runtime::new(store.clone(), RetryPolicy::default()),
                store,
                metrics: crate::telemetry::metrics_handle(),
                config,
                pool,
            }),
        }
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
}
