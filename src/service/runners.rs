//! The asynchronous projections of this instance: their runners, and rebuilds started here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use shareledger_projections::projection::{ALL, Kind, Projection};
use shareledger_projections::runner::{Runner, RunnerStatus, StatusHandle, Wait};
use sqlx::postgres::PgConnectOptions;
use tokio::task::JoinHandle;

use crate::store::{EventStore, Wakeup};

/// How often, at most, a runner applies while commits keep coming (see `Runner::gather`): a
/// few milliseconds of lag for far fewer, larger transactions on a busy service.
const GATHER: Duration = Duration::from_millis(10);

/// Wakes a runner on commits (here at once, elsewhere by NOTIFY) or after the poll interval.
struct LogWait(Wakeup);

impl Wait for LogWait {
    fn wait(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(self.0.wait())
    }
}

/// A rebuild's progress as this instance saw it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RebuildStatus {
    /// `running`, `done` or `failed`.
    pub state: String,
    pub events: u64,
    pub events_per_second: Option<f64>,
    pub error: Option<String>,
}

/// Runner and rebuild statuses of this instance.
#[derive(Debug, Default)]
pub struct Runners {
    statuses: Mutex<BTreeMap<&'static str, StatusHandle>>,
    rebuilds: Mutex<BTreeMap<String, RebuildStatus>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Runners {
    /// Starts a runner for every asynchronous projection.
    pub async fn start(&self, store: &EventStore, connect: &PgConnectOptions) {
        for projection in ALL.iter().copied().filter(|p| p.kind() == Kind::Async) {
            let status: StatusHandle = Arc::new(Mutex::new(RunnerStatus {
                state: "starting",
                ..RunnerStatus::default()
            }));
            self.statuses
                .lock()
                .expect("lock")
                .insert(projection.name(), status.clone());
            let wait = LogWait(Wakeup::new(store.pool(), Some(store.subscribe()), Duration::from_millis(500)).await);
            let runner = Runner {
                projection,
                connect: connect.clone(),
                batch: 1000,
                gather: GATHER,
                standby_poll: Duration::from_secs(1),
                status,
            };
            let handle = tokio::spawn(runner.run(Box::new(wait)));
            self.tasks.lock().expect("lock").push(handle);
        }
    }

    /// Stops this instance's runners (their open transactions roll back; nothing is lost).
    pub fn stop(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// This instance's runner of a projection, if it runs one.
    pub fn status(&self, name: &str) -> Option<RunnerStatus> {
        let statuses = self.statuses.lock().expect("lock");
        statuses.get(name).and_then(|s| s.lock().ok().map(|s| s.clone()))
    }

    /// The last rebuild of a projection started here.
    pub fn rebuild(&self, name: &str) -> Option<RebuildStatus> {
        self.rebuilds.lock().expect("lock").get(name).cloned()
    }

    /// Records a rebuild's progress.
    pub fn set_rebuild(&self, name: &str, status: RebuildStatus) {
        self.rebuilds.lock().expect("lock").insert(name.to_owned(), status);
    }

    /// Whether a rebuild of this projection is running here.
    pub fn rebuilding(&self, name: &str) -> bool {
        self.rebuild(name).is_some_and(|r| r.state == "running")
    }
}

impl Drop for Runners {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a projection is known.
pub fn known(name: &str) -> Option<&'static dyn Projection> {
    shareledger_projections::projection::find(name)
}
