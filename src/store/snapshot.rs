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

/// Takes the locks of several streams (the lock `load_snapshot` takes with `lock`) until the
/// transaction ends, in one order every caller shares, so two batches never wait on each other
/// in a cycle. A statement of its own: what is read after it sees every writer that held a lock.
pub async fn lock_streams(conn: &mut sqlx::PgConnection, stream_ids: &[&str]) -> Result<(), StoreError> {
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock(k)) FROM ( \
             SELECT hashtextextended(s, 7) AS k FROM unnest($1::text[]) AS u(s) ORDER BY 1 OFFSET 0) AS sorted",
    )
    .bind(stream_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// The snapshots of several streams, by stream id (a stream without one is absent).
pub async fn load_snapshots<'c>(
    db: impl PgExecutor<'c>,
    stream_ids: &[&str],
) -> Result<std::collections::HashMap<String, Snapshot>, StoreError> {
    let rows = sqlx::query(
        "SELECT stream_id, version, head_hash, state_schema, state FROM stream_snapshots WHERE stream_id = ANY($1)",
    )
    .bind(stream_ids)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let snapshot = Snapshot {
                head: StreamHead {
                    version: row.try_get(1)?,
                    hash: to_hash(row.try_get(2)?)?,
                },
                state_schema: row.try_get(3)?,
                state: row.try_get(4)?,
            };
            Ok((row.try_get(0)?, snapshot))
        })
        .collect()
}

/// One stream's state to store at its new head (`save_snapshots`).
#[derive(Debug, Clone, Copy)]
pub struct SnapshotRow<'a> {
    pub stream_id: &'a str,
    pub head: StreamHead,
    pub state_schema: i32,
    pub state: &'a Value,
}

/// Stores several streams' states in one statement, each only moving forward (as
/// `save_snapshot`). Each stream appears at most once.
pub async fn save_snapshots<'c>(db: impl PgExecutor<'c>, rows: &[SnapshotRow<'_>]) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stream_snapshots AS s (stream_id, version, head_hash, state_schema, state) \
         SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[], $4::int4[], $5::jsonb[]) \
         ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, \
             head_hash = EXCLUDED.head_hash, state_schema = EXCLUDED.state_schema, \
             state = EXCLUDED.state, updated_at = now() \
         WHERE s.version < EXCLUDED.version OR s.state_schema <> EXCLUDED.state_schema",
    )
    .bind(rows.iter().map(|r| r.stream_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.head.version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.head.hash.to_vec()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.state_schema).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.state).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}
