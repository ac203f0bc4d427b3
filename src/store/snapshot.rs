//! Always-current aggregate snapshots: derived data, written in the same transaction as the
//! events they fold, so a decision costs one read instead of a replay.

use serde_json::Value;
use sqlx::{PgExecutor, Row};

use super::error::StoreError;
use super::event::StreamHead;
use super::read::to_hash;

/// A stream's folded state at `head`.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub head: StreamHead,
    pub state_schema: i32,
    pub state: Value,
}

/// Reads a stream's snapshot; with `lock`, first takes the stream's lock until the transaction
/// ends (the hot-stream path: writers of one stream queue here instead of conflicting).
///
/// The lock is a transaction-scoped advisory lock keyed by the stream id, taken in the same
/// statement: unlike a row lock it exists before the stream's first event (so first writers
/// queue too) and writes nothing to the table.
pub async fn load_snapshot<'c>(
    db: impl PgExecutor<'c>,
    stream_id: &str,
    lock: bool,
) -> Result<Option<Snapshot>, StoreError> {
    let sql = if lock {
        "SELECT s.version, s.head_hash, s.state_schema, s.state          FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 7))) AS locked          LEFT JOIN stream_snapshots s ON s.stream_id = $1"
    } else {
        "SELECT version, head_hash, state_schema, state FROM stream_snapshots WHERE stream_id = $1"
    };
    let row = sqlx::query(sql).bind(stream_id).fetch_optional(db).await?;
    let row = row.filter(|r| r.try_get::<Option<i64>, _>(0).ok().flatten().is_some());
    row.map(|row| {
        Ok(Snapshot {
            head: StreamHead {
                version: row.try_get(0)?,
                hash: to_hash(row.try_get(1)?)?,
            },
            state_schema: row.try_get(2)?,
            state: row.try_get(3)?,
        })
    })
    .transpose()
}

/// Stores a stream's state at `head`. Only ever moves forward: an older head never replaces a
/// newer one.
pub async fn save_snapshot<'c>(
    db: impl PgExecutor<'c>,
    stream_id: &str,
    head: StreamHead,
    state_schema: i32,
    state: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stream_snapshots AS s (stream_id, version, head_hash, state_schema, state) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, \
             head_hash = EXCLUDED.head_hash, state_schema = EXCLUDED.state_schema, \
             state = EXCLUDED.state, updated_at = now() \
         WHERE s.version < EXCLUDED.version OR s.state_schema <> EXCLUDED.state_schema",
    )
    .bind(stream_id)
    .bind(head.version)
    .bind(&head.hash[..])
    .bind(state_schema)
    .bind(state)
    .execute(db)
    .await?;
    Ok(())
}
