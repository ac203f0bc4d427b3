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
/// round trip (`lock_and_read_snapshots`, migration 0010): unlike a row lock it exists before the
/// stream's first event (so first writers queue too) and writes nothing to the table; and the
/// read after it sees what the lock's previous holder committed.
pub async fn load_snapshot<'c>(
    db: impl PgExecutor<'c>,
    stream_id: &str,
    lock: bool,
) -> Result<Option<Snapshot>, StoreError> {
    if lock {
        return Ok(lock_and_load_snapshots(db, &[stream_id]).await?.remove(stream_id));
    }
    let row = sqlx::query(
        "SELECT stream_id, version, head_hash, state_schema, state FROM stream_snapshots WHERE stream_id = $1",
    )
    .bind(stream_id)
    .fetch_optional(db)
    .await?;
    row.map(|row| decode(&row).map(|(_, snapshot)| snapshot)).transpose()
}

/// A row of (stream_id, version, head_hash, state_schema, state).
fn decode(row: &sqlx::postgres::PgRow) -> Result<(String, Snapshot), StoreError> {
    let snapshot = Snapshot {
        head: StreamHead {
            version: row.try_get(1)?,
            hash: to_hash(row.try_get(2)?)?,
        },
        state_schema: row.try_get(3)?,
        state: row.try_get(4)?,
    };
    Ok((row.try_get(0)?, snapshot))
}

/// Takes the locks of several streams (the lock `load_snapshot` takes with `lock`) until the
/// transaction ends, in one order every caller shares, so two batches never wait on each other
/// in a cycle; then reads their snapshots, current as of after the locks (by stream id; a
/// stream without one is absent). One round trip (`lock_and_read_snapshots`, migration 0010).
pub async fn lock_and_load_snapshots<'c>(
    db: impl PgExecutor<'c>,
    stream_ids: &[&str],
) -> Result<std::collections::HashMap<String, Snapshot>, StoreError> {
    let rows =
        sqlx::query("SELECT stream_id, version, head_hash, state_schema, state FROM lock_and_read_snapshots($1)")
            .bind(stream_ids)
            .fetch_all(db)
            .await?;
    rows.iter().map(decode).collect()
}

/// One stream's state to store at its new head (`save_snapshots`).
#[derive(Debug, Clone, Copy)]
pub(super) struct SnapshotRow<'a> {
    pub stream_id: &'a str,
    pub head: StreamHead,
    pub state_schema: i32,
    pub state: &'a Value,
}

/// Stores several streams' states in one statement, each only moving forward (an older head
/// never replaces a newer one). Each stream appears at most once. Written beside the events
/// (`append_with_snapshots`), never on its own.
pub(super) async fn save_snapshots<'c>(db: impl PgExecutor<'c>, rows: &[SnapshotRow<'_>]) -> Result<(), StoreError> {
    sqlx::query(concat!(
        snapshot_insert!(),
        "SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[], $4::int4[], $5::jsonb[])",
        snapshot_upsert!()
    ))
    .bind(rows.iter().map(|r| r.stream_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.head.version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.head.hash.to_vec()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.state_schema).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.state).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}
