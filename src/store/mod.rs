//! The event store on PostgreSQL: append-only log, per-stream hash chains, optimistic
//! concurrency, atomic multi-stream appends, gap-free catch-up reads and snapshots.

/// The columns an append writes, in the order every append statement binds them.
macro_rules! appended_columns {
    () => {
        "stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, occurred_at, \
         recorded_at, prev_hash, hash"
    };
}

/// `INSERT INTO stream_snapshots`, before the rows (a `SELECT`): the columns every snapshot write
/// binds, in this order.
macro_rules! snapshot_insert {
    () => {
        "INSERT INTO stream_snapshots AS s (stream_id, version, head_hash, state_schema, state) "
    };
}

/// After the rows of `snapshot_insert`: a snapshot only ever moves forward (or to a new schema).
macro_rules! snapshot_upsert {
    () => {
        " ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, head_hash = EXCLUDED.head_hash, \
         state_schema = EXCLUDED.state_schema, state = EXCLUDED.state, updated_at = now() \
         WHERE s.version < EXCLUDED.version OR s.state_schema <> EXCLUDED.state_schema"
    };
}

mod append;
pub mod chain;
mod error;
mod event;
mod notify;
mod read;
mod snapshot;
pub mod verify;

use sqlx::PgPool;
use uuid::Uuid;

pub use append::{
    AppendOutcome, FirstAppend, FusedFirst, FusedWrite, SnapshotWrite, StreamAppend, append_firsts_fused, append_on,
    append_with_snapshots,
};
pub use chain::{Hash, ZERO_HASH};
pub use error::{StoreError, is_retryable_sqlx, is_unavailable_sqlx, is_unique_violation, sqlstate};
pub use event::{Cursor, EventMetadata, NewEvent, StoredEvent, StreamHead};
pub use notify::{CHANNEL, LogTail, Notifier, Wakeup};
pub use read::{
    LogError, decode_event, events_by_id, read_all, read_all_committed, read_stream, read_stream_until, stream_all,
    stream_head, visible_head,
};
pub use snapshot::{Snapshot, load_snapshot, lock_and_load_snapshots};

/// The log, reached through a connection pool.
#[derive(Clone, Debug)]
pub struct EventStore {
    pool: PgPool,
    notifier: Notifier,
}

impl EventStore {
    /// A store on this pool (migrations already applied). Must be called inside a tokio runtime
    /// (it starts the notifier task).
    pub fn new(pool: PgPool) -> Self {
        let notifier = Notifier::spawn(&pool);
        Self { pool, notifier }
    }

    /// Tells readers that events were committed (call after committing a transaction that used
    /// `append_on`; `append` does it itself).
    pub fn committed(&self) {
        self.notifier.committed();
    }

    /// A receiver that changes whenever this process commits events.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notifier.subscribe()
    }

    /// The pool the store uses.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Appends the batch atomically as one statement. A retry of a batch whose event ids are all
    /// already stored returns the stored events with `already_stored` and adds nothing.
    #[tracing::instrument(skip_all, fields(streams = appends.len()))]
    pub async fn append(&self, appends: &[StreamAppend]) -> Result<AppendOutcome, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let result = append_on(&mut conn, appends).await;
        if result.is_ok() {
            self.notifier.committed();
        }
        match result {
            Err(StoreError::Conflict { streams }) => {
                let ids: Vec<Uuid> = appends
                    .iter()
                    .flat_map(|a| a.events.iter().map(|e| e.event_id))
                    .collect();
                let stored = events_by_id(&mut *conn, &ids).await?;
                if !ids.is_empty() && stored.len() == ids.len() {
                    let heads = appends
                        .iter()
                        .filter_map(|a| {
                            let last = stored
                                .iter()
                                .filter(|e| e.stream_id == a.stream_id)
                                .max_by_key(|e| e.stream_version)?;
                            Some((
                                a.stream_id.clone(),
                                StreamHead {
                                    version: last.stream_version,
                                    hash: last.hash,
                                },
                            ))
                        })
                        .collect();
                    Ok(AppendOutcome {
                        events: stored,
                        heads,
                        already_stored: true,
                    })
                } else {
                    Err(StoreError::Conflict { streams })
                }
            }
            other => other,
        }
    }

    /// The events of a stream after a version.
    pub async fn read_stream(&self, stream_id: &str, after_version: i64) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(read_stream(&self.pool, stream_id, after_version).await?)
    }

    /// A stream's current head.
    pub async fn stream_head(&self, stream_id: &str) -> Result<StreamHead, StoreError> {
        Ok(stream_head(&self.pool, stream_id).await?)
    }

    /// Up to `limit` events after `after` in gap-free catch-up order.
    pub async fn read_all(&self, after: Cursor, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(read_all(&self.pool, after, limit).await?)
    }
}
