//! The runner of an asynchronous projection.
//!
//! - One active runner per projection across all service instances: a session advisory lock
//!   held on the runner's own connection; when that connection dies (the instance crashed), the
//!   lock goes with it and a standby runner elsewhere takes over.
//! - Each batch is read in gap-free order, applied, and the checkpoint moved, in one transaction:
//!   every event is applied exactly once, even across crashes. The checkpoint moves by
//!   compare-and-set, so even two runners that both believed themselves active could not apply
//!   a batch twice.
//! - Wakes on new commits (the caller's `Wait`) and also polls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::projection::Projection;
use crate::{ProjectionError, checkpoint, log};

/// Waits until new events may be readable.
pub trait Wait: Send {
    fn wait(&mut self) -> BoxFuture<'_, ()>;
}

/// What a runner of this instance is doing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunnerStatus {
    /// `starting`, `active` (applying here), `standby` (another instance is active), `failed`.
    pub state: &'static str,
    pub last_error: Option<String>,
    pub batches: u64,
    pub events: u64,
}

/// Shared handle to a runner's status.
pub type StatusHandle = Arc<Mutex<RunnerStatus>>;

/// A stable 63-bit key for an advisory lock.
pub fn lock_key(purpose: &str, name: &str) -> i64 {
    // FNV-1a: stable across builds and processes.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in purpose.bytes().chain([b':']).chain(name.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash >> 1) as i64
}

/// Applies the next batch, if any; returns how many events were applied. Serialized with a
/// rebuild's swap by a transaction-scoped lock.
///
/// The batch commits without waiting for its WAL flush (`synchronous_commit = off`): a
/// projection is derived data, and its cursor moves in the same transaction as its rows, so a
/// crash can only lose whole recent batches, which the runner applies again. The wait saved
/// is projection lag, and WAL flushes the requests' own commits no longer queue behind.
pub async fn step(conn: &mut PgConnection, projection: &dyn Projection, batch: i64) -> Result<usize, ProjectionError> {
    // Round trips are what a step waits for when the machine is busy: the transaction, its
    // settings and the lock in one; the checkpoint and the events after it in another.
    let key = lock_key("apply", projection.name());
    let mut tx = conn
        .begin_with(AssertSqlSafe(format!(
            "BEGIN; SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock({key})"
        )))
        .await?;
    let Some((from, events)) = log::read_after_checkpoint(&mut *tx, projection.name(), batch)
        .await
        .map_err(log_error)?
    else {
        tx.commit().await?;
        return Ok(0);
    };
    let last = events.last().expect("a step reads at least one event");
    projection.apply(&mut tx, &events).await?;
    let moved = checkpoint::advance(
        &mut *tx,
        projection.name(),
        from,
        last.cursor(),
        events.len() as i64,
        Some(last.recorded_at),
    )
    .await?;
    if !moved {
        // Someone else applied these events meanwhile: drop our work.
        tx.rollback().await?;
        return Ok(0);
    }
    tx.commit().await?;
    metrics::counter!("projection_events_applied_total", "projection" => projection.name())
        .increment(events.len() as u64);
    Ok(events.len())
}

pub(crate) fn log_error(e: log::LogError) -> ProjectionError {
    match e {
        log::LogError::Database(e) => ProjectionError::Database(e),
        log::LogError::Corrupt(detail) => ProjectionError::BadStreamId(detail),
    }
}

/// Runs one projection until the task is cancelled.
pub struct Runner {
    pub projection: &'static dyn Projection,
    pub connect: PgConnectOptions,
    pub batch: i64,
    /// While commits keep coming, at most one step per `gather`: the events of the commits in
    /// between are applied together, instead of a transaction per commit. After a quiet spell
    /// the first commit is applied at once.
    pub gather: Duration,
    pub standby_poll: Duration,
    pub status: StatusHandle,
}

impl Runner {
    /// Keeps the projection current: acquire the lock (or stand by), then apply batches.
    pub async fn run(self, mut wait: Box<dyn Wait>) {
        let mut failures = 0u32;
        loop {
            let result = self.session(wait.as_mut()).await;
            if let Err(e) = result {
                failures += 1;
                tracing::warn!(projection = self.projection.name(), error = %e, "projection runner failed; retrying");
                self.set(|s| {
                    s.state = "failed";
                    s.last_error = Some(e.to_string());
                });
                let backoff = Duration::from_millis(200 * u64::from(failures.min(25)));
                tokio::time::sleep(backoff).await;
            }
        }
    }

    fn set(&self, f: impl FnOnce(&mut RunnerStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    async fn session(&self, wait: &mut dyn Wait) -> Result<(), ProjectionError> {
        let mut conn = PgConnection::connect_with(&self.connect).await?;
        let key = lock_key("runner", self.projection.name());
        loop {
            let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut conn)
                .await?;
            if held {
                break;
            }
            self.set(|s| s.state = "standby");
            tokio::time::sleep(self.standby_poll).await;
        }
        self.set(|s| {
            s.state = "active";
            s.last_error = None;
        });
        tracing::info!(projection = self.projection.name(), "projection runner active");
        let mut last_step: Option<tokio::time::Instant> = None;
        loop {
            if let Some(last) = last_step {
                tokio::time::sleep_until(last + self.gather).await;
            }
            last_step = Some(tokio::time::Instant::now());
            let applied = step(&mut conn, self.projection, self.batch).await?;
            if applied > 0 {
                self.set(|s| {
                    s.batches += 1;
                    s.events += applied as u64;
                });
            }
            // A full batch: more are waiting. Otherwise this step read up to the newest commit
            // (or a gap, whose commit wakes us): wait for the next.
            if (applied as i64) < self.batch {
                wait.wait().await;
            }
        }
    }
}

/// Waits until the projection has applied the event at `cursor` (read-your-writes), up to
/// `timeout`. Returns whether it got there.
pub async fn wait_until_applied(
    pool: &sqlx::PgPool,
    name: &str,
    cursor: shareledger_domain::log::Cursor,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if checkpoint::load(pool, name, false).await?.cursor >= cursor {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
