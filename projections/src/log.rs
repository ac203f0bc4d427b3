//! Reading the log: one stream in version order, or the whole log in gap-free catch-up order.
//! (The service's store writes the log and re-exports these readers.)
//!
//! Catch-up order is `(tx_id, global_position)`, read only below the oldest transaction still
//! running (`pg_snapshot_xmin(pg_current_snapshot())`). Positions are handed out before commit,
//! so a reader ordering by position alone could pass a position whose transaction commits later
//! and skip it forever; no transaction below xmin can still add rows, so this order never skips.

use futures_util::TryStreamExt;
use shareledger_domain::json::LazyJson;
use shareledger_domain::log::{Cursor, Hash, StoredEvent, StreamHead};
use sqlx::postgres::{PgRow, PgValueFormat};
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// Reading the log failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("corrupt event row: {0}")]
    Corrupt(String),
}

/// The columns every event query selects, in the order `decode_event` reads them. The text
/// form of `tx_id` has its own name: a bare `ORDER BY tx_id` would otherwise sort by the text
/// ("1000" before "940") and a catch-up reader would skip events when ids gain a digit.
#[macro_export]
macro_rules! event_columns {
    () => {
        "global_position, tx_id::text AS tx_id_text, stream_id, stream_version, event_id, event_type, \
         schema_version, payload, metadata, occurred_at, recorded_at, prev_hash, hash"
    };
}

/// Decodes a row selected with `event_columns!()`.
pub fn decode_event(row: &PgRow) -> Result<StoredEvent, LogError> {
    // By index, in `event_columns!()` order: this runs for every event of a rebuild.
    let tx: &str = row.try_get(1)?;
    Ok(StoredEvent {
        global_position: row.try_get(0)?,
        tx_id: tx.parse().map_err(|_| LogError::Corrupt(format!("tx_id {tx:?}")))?,
        stream_id: row.try_get(2)?,
        stream_version: row.try_get(3)?,
        event_id: row.try_get(4)?,
        event_type: row.try_get(5)?,
        schema_version: row.try_get(6)?,
        payload: json_of(row, 7)?,
        metadata: json_of(row, 8)?,
        occurred_at: row.try_get(9)?,
        recorded_at: row.try_get(10)?,
        prev_hash: hash_of(row.try_get(11)?)?,
        hash: hash_of(row.try_get(12)?)?,
    })
}

/// A `jsonb` column as the text PostgreSQL sent (the binary form is a version byte, then the
/// text); the tree is built only if a reader asks for it.
fn json_of(row: &PgRow, index: usize) -> Result<LazyJson, LogError> {
    let raw = row.try_get_raw(index)?;
    let binary = raw.format() == PgValueFormat::Binary;
    let bytes = raw
        .as_bytes()
        .map_err(|e| LogError::Corrupt(format!("json column {index}: {e}")))?;
    let text = match bytes {
        [1, text @ ..] if binary => text,
        [version, ..] if binary => return Err(LogError::Corrupt(format!("jsonb version {version}"))),
        text => text,
    };
    std::str::from_utf8(text)
        .map_err(|e| e.to_string())
        .and_then(|text| LazyJson::from_text(text).map_err(|e| e.to_string()))
        .map_err(|e| LogError::Corrupt(format!("json column {index}: {e}")))
}

fn hash_of(bytes: &[u8]) -> Result<Hash, LogError> {
    bytes
        .try_into()
        .map_err(|_| LogError::Corrupt(format!("hash of {} bytes", bytes.len())))
}

/// A 32-byte digest from a `bytea` column.
pub fn to_hash(bytes: Vec<u8>) -> Result<Hash, LogError> {
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| LogError::Corrupt(format!("hash of {} bytes", b.len())))
}

/// The events of one stream after `after_version`, in version order.
pub async fn read_stream<'c>(
    db: impl PgExecutor<'c>,
    stream_id: &str,
    after_version: i64,
) -> Result<Vec<StoredEvent>, LogError> {
    const SQL: &str = concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version"
    );
    let rows = sqlx::query(SQL)
        .bind(stream_id)
        .bind(after_version)
        .fetch_all(db)
        .await?;
    rows.iter().map(decode_event).collect()
}

/// The events of one stream recorded up to `until` (inclusive), in version order.
pub async fn read_stream_until<'c>(
    db: impl PgExecutor<'c>,
    stream_id: &str,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<StoredEvent>, LogError> {
    const SQL: &str = concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE stream_id = $1 AND recorded_at <= $2 ORDER BY stream_version"
    );
    let rows = sqlx::query(SQL).bind(stream_id).bind(until).fetch_all(db).await?;
    rows.iter().map(decode_event).collect()
}

/// The current head of a stream (`StreamHead::EMPTY` when it has no events).
pub async fn stream_head<'c>(db: impl PgExecutor<'c>, stream_id: &str) -> Result<StreamHead, LogError> {
    let row = sqlx::query(
        "SELECT stream_version, hash FROM events WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1",
    )
    .bind(stream_id)
    .fetch_optional(db)
    .await?;
    match row {
        None => Ok(StreamHead::EMPTY),
        Some(row) => Ok(StreamHead {
            version: row.try_get(0)?,
            hash: to_hash(row.try_get(1)?)?,
        }),
    }
}

/// Events after `$1::xid8, $2` (or the cursor given as a SQL row literal) that no open
/// transaction can still precede, in catch-up order: the one query behind `read_all`,
/// `stream_all` and a runner's `read_after_checkpoint`.
macro_rules! catch_up_sql {
    () => {
        catch_up_sql!("($1::text::xid8, $2)")
    };
    ($after:literal) => {
        concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE (tx_id, global_position) > ",
            $after,
            " AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
             ORDER BY events.tx_id, events.global_position"
        )
    };
}

/// Up to `limit` events after `after`, in gap-free catch-up order.
pub async fn read_all<'c>(db: impl PgExecutor<'c>, after: Cursor, limit: i64) -> Result<Vec<StoredEvent>, LogError> {
    const SQL: &str = concat!(catch_up_sql!(), " LIMIT $3");
    let rows = sqlx::query(SQL)
        .bind(after.tx_id.to_string())
        .bind(after.position)
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.iter().map(decode_event).collect()
}

/// What a runner's step reads: the projection's checkpoint and up to `limit` events after it,
/// in catch-up order, in one round trip. `None` when no event is readable after it.
pub async fn read_after_checkpoint<'c>(
    db: impl PgExecutor<'c>,
    projection: &str,
    limit: i64,
) -> Result<Option<(Cursor, Vec<StoredEvent>)>, LogError> {
    const SQL: &str = concat!(
        "SELECT e.*, c.tx_id::text, c.position FROM projection_checkpoints c CROSS JOIN LATERAL (",
        catch_up_sql!("(c.tx_id, c.position)"),
        " LIMIT $2) e WHERE c.name = $1"
    );
    let rows = sqlx::query(SQL).bind(projection).bind(limit).fetch_all(db).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let tx: &str = first.try_get(13)?;
    let from = Cursor {
        tx_id: tx
            .parse()
            .map_err(|_| LogError::Corrupt(format!("checkpoint tx_id {tx:?}")))?,
        position: first.try_get(14)?,
    };
    Ok(Some((from, rows.iter().map(decode_event).collect::<Result<_, _>>()?)))
}

/// Every committed event after `after`, regardless of the visibility horizon. Only correct
/// when no transaction that could still append is relevant (a rebuild's final catch-up under
/// a lock that keeps writers of the projection out).
pub async fn read_all_committed<'c>(db: impl PgExecutor<'c>, after: Cursor) -> Result<Vec<StoredEvent>, LogError> {
    const SQL: &str = concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2) ORDER BY events.tx_id, events.global_position"
    );
    let rows = sqlx::query(SQL)
        .bind(after.tx_id.to_string())
        .bind(after.position)
        .fetch_all(db)
        .await?;
    rows.iter().map(decode_event).collect()
}

/// Streams every event after `after` in catch-up order without holding them all in memory.
pub fn stream_all<'c, E>(db: E, after: Cursor) -> impl futures_util::Stream<Item = Result<StoredEvent, LogError>> + 'c
where
    E: PgExecutor<'c> + 'c,
{
    stream_all_rows(db, after)
        .map_err(LogError::from)
        .and_then(|row| async move { decode_event(&row) })
}

/// `stream_all` without the decoding: the rows, for a reader that decodes elsewhere.
pub fn stream_all_rows<'c, E>(db: E, after: Cursor) -> impl futures_util::Stream<Item = Result<PgRow, sqlx::Error>> + 'c
where
    E: PgExecutor<'c> + 'c,
{
    sqlx::query(catch_up_sql!())
        .bind(after.tx_id.to_string())
        .bind(after.position)
        .fetch(db)
}

/// The cursor of the last event a catch-up reader could see now (`Cursor::START` if none).
pub async fn visible_head<'c>(db: impl PgExecutor<'c>) -> Result<Cursor, LogError> {
    let row = sqlx::query(
        "SELECT tx_id::text AS tx_id_text, global_position FROM events \
         WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.tx_id DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?;
    match row {
        None => Ok(Cursor::START),
        Some(row) => {
            let tx: String = row.try_get(0)?;
            Ok(Cursor {
                tx_id: tx.parse().map_err(|_| LogError::Corrupt(format!("tx_id {tx:?}")))?,
                position: row.try_get(1)?,
            })
        }
    }
}

/// The stored events with these ids (any order).
pub async fn events_by_id<'c>(db: impl PgExecutor<'c>, ids: &[Uuid]) -> Result<Vec<StoredEvent>, LogError> {
    const SQL: &str = concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE event_id = ANY($1) ORDER BY global_position"
    );
    let rows = sqlx::query(SQL).bind(ids).fetch_all(db).await?;
    rows.iter().map(decode_event).collect()
}
