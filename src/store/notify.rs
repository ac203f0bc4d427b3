//! Waking log readers: LISTEN on the channel the events trigger notifies, with a polling
//! fallback so a lost notification or a dropped listener connection only delays, never stalls.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::error::StoreError;
use super::event::{Cursor, StoredEvent};
use super::read::read_all;

/// The channel `events_notify()` signals after every committed append.
pub const CHANNEL: &str = "shareledger_events";

/// Wakes a reader when new events may be readable.
pub struct Wakeup {
    listener: Option<PgListener>,
    pool: PgPool,
    poll: Duration,
}

impl Wakeup {
    /// Listens on the events channel; falls back to polling every `poll` if it cannot.
    pub async fn new(pool: &PgPool, poll: Duration) -> Self {
        let listener = listen(pool).await;
        Self {
            listener,
            pool: pool.clone(),
            poll,
        }
    }

    /// Returns after a notification or after the polling interval, whichever comes first.
    pub async fn wait(&mut self) {
        match self.listener.as_mut() {
            Some(listener) => match tokio::time::timeout(self.poll, listener.try_recv()).await {
                Ok(Ok(Some(_))) | Err(_) => {}
                // The connection dropped (notifications may be lost) or failed: reconnect next
                // time round, and let the caller poll now.
                Ok(Ok(None)) | Ok(Err(_)) => self.listener = None,
            },
            None => {
                tokio::time::sleep(self.poll).await;
                self.listener = listen(&self.pool).await;
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
    pub async fn new(pool: &PgPool, cursor: Cursor, batch: i64, poll: Duration) -> Self {
        Self {
            pool: pool.clone(),
            cursor,
            batch,
            wakeup: Wakeup::new(pool, poll).await,
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
