//! Waking log readers as soon as events are committed.
//!
//! - Readers in this process are woken directly (a watch channel bumped on every commit).
//! - Readers in other service instances are woken by PostgreSQL NOTIFY on `shareledger_events`,
//!   sent after commits and coalesced to at most one per `NOTIFY_INTERVAL`: each NOTIFY is a
//!   statement of its own, and at one per append it would cost as much as the append.
//! - Every reader also polls, so a lost notification (a crash between commit and notify, a
//!   dropped listener connection) only delays, never stalls.
//!
//! NOTIFY is deliberately not sent inside the append transaction: PostgreSQL serializes the
//! commits of notifying transactions on a global lock held through the WAL flush, which caps
//! appends at one commit per flush.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::error::StoreError;
use super::event::{Cursor, StoredEvent};
use super::read::read_all;

/// The channel writers notify after committing appends.
pub const CHANNEL: &str = "shareledger_events";

/// At most one NOTIFY per interval: how late another instance may hear of a commit.
pub const NOTIFY_INTERVAL: Duration = Duration::from_millis(25);

/// Announces commits to readers here (at once) and elsewhere (NOTIFY, coalesced).
#[derive(Clone, Debug)]
pub struct Notifier {
    remote: tokio::sync::mpsc::Sender<()>,
    local: watch::Sender<u64>,
}

impl Notifier {
    /// Starts the notifying task on this pool; it ends when the last clone is dropped.
    pub fn spawn(pool: &PgPool) -> Self {
        let (remote, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let pool = pool.clone();
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                if pool.is_closed() {
                    break;
                }
                if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
                    .bind(CHANNEL)
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(error = %e, "NOTIFY failed; readers will poll");
                }
                tokio::time::sleep(NOTIFY_INTERVAL).await;
            }
        });
        Self {
            remote,
            local: watch::Sender::new(0),
        }
    }

    /// Signals that events were committed.
    pub fn committed(&self) {
        self.local.send_modify(|n| *n = n.wrapping_add(1));
        // A full channel already holds a pending notification that covers this commit.
        let _ = self.remote.try_send(());
    }

    /// A receiver that changes on every local commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.local.subscribe()
    }
}

/// Wakes a reader when new events may be readable.
pub struct Wakeup {
    listener: Option<PgListener>,
    local: Option<watch::Receiver<u64>>,
    pool: PgPool,
    poll: Duration,
}

impl Wakeup {
    /// Listens for commits of this process (`local`) and, through NOTIFY, of others; falls back
    /// to polling every `poll`.
    pub async fn new(pool: &PgPool, local: Option<watch::Receiver<u64>>, poll: Duration) -> Self {
        Self {
            listener: listen(pool).await,
            local,
            pool: pool.clone(),
            poll,
        }
    }

    /// Returns after a commit was announced or after the polling interval, whichever is first.
    pub async fn wait(&mut self) {
        let local = async {
            match self.local.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        let remote = async {
            match self.listener.as_mut() {
                Some(listener) => match listener.try_recv().await {
                    Ok(Some(_)) => true,
                    // The connection dropped (notifications may be lost) or failed.
                    Ok(None) | Err(_) => false,
                },
                None => std::future::pending::<bool>().await,
            }
        };
        tokio::select! {
            () = local => {}
            healthy = remote => if !healthy { self.listener = None },
            () = tokio::time::sleep(self.poll) => {
                if self.listener.is_none() {
                    self.listener = listen(&self.pool).await;
                }
            }
        }
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(CHANNEL).await.ok()?;
    Some(listener)
}

/// Follows the log from a cursor in gap-free order, waiting for new events when caught up.
pub struct LogTail {
    pool: PgPool,
    cursor: Cursor,
    batch: i64,
    wakeup: Wakeup,
}

impl LogTail {
    /// A tail starting after `cursor`, reading up to `batch` events at a time.
    pub async fn new(store: &super::EventStore, cursor: Cursor, batch: i64, poll: Duration) -> Self {
        Self {
            pool: store.pool().clone(),
            cursor,
            batch,
            wakeup: Wakeup::new(store.pool(), Some(store.subscribe()), poll).await,
        }
    }

    /// The next batch (possibly empty after one wait), advancing the cursor past it.
    pub async fn next_batch(&mut self) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = read_all(&self.pool, self.cursor, self.batch).await?;
        if events.is_empty() {
            self.wakeup.wait().await;
            events = read_all(&self.pool, self.cursor, self.batch).await?;
        }
        if let Some(last) = events.last() {
            self.cursor = last.cursor();
        }
        Ok(events)
    }

    /// Where the tail stands.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }
}
