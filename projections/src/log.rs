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

/// `stream_all` as one binary `COPY` of the same query, for a reader of the whole log: the
/// database sends rows without the per-row protocol of a query's results, and [`CopyEvents`]
/// decodes them without building a row object per event. (`COPY` takes no parameters; the
/// cursor goes in as two numbers.)
pub fn catch_up_copy_sql(after: Cursor) -> String {
    format!(
        concat!(
            "COPY (",
            catch_up_sql!("('{tx}'::xid8, {position})"),
            ") TO STDOUT (FORMAT binary)"
        ),
        tx = after.tx_id,
        position = after.position
    )
}

/// Events out of a binary `COPY` of `event_columns!()`, fed in chunks as they arrive (a chunk
/// may end anywhere in a row).
#[derive(Default)]
pub struct CopyEvents {
    buf: Vec<u8>,
    at: usize,
    header: bool,
    trailer: bool,
}

/// The signature that opens binary `COPY` (flags and the header extension length follow).
const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const EVENT_COLUMNS: usize = 13;

impl CopyEvents {
    /// Adds bytes as they came.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.at > 0 && self.at >= self.buf.len() / 2 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next event, if the bytes fed so far hold all of it.
    pub fn next_event(&mut self) -> Result<Option<StoredEvent>, LogError> {
        let corrupt = |what: &str| LogError::Corrupt(format!("binary COPY of events: {what}"));
        if !self.header {
            let Some(head) = self.buf.get(self.at..self.at + COPY_SIGNATURE.len() + 8) else {
                return Ok(None);
            };
            if !head.starts_with(COPY_SIGNATURE) {
                return Err(corrupt("no signature"));
            }
            let extension = i32::from_be_bytes(head[COPY_SIGNATURE.len() + 4..].try_into().expect("4 bytes"));
            let extension = usize::try_from(extension).map_err(|_| corrupt("header extension"))?;
            let end = self.at + head.len() + extension;
            if self.buf.len() < end {
                return Ok(None);
            }
            self.at = end;
            self.header = true;
        }
        if self.trailer {
            return Err(corrupt("data after the trailer"));
        }
        let rest = &self.buf[self.at..];
        let Some(count) = rest.get(..2) else {
            return Ok(None);
        };
        match i16::from_be_bytes([count[0], count[1]]) {
            -1 => {
                self.at += 2;
                self.trailer = true;
                return Ok(None);
            }
            n if n as usize == EVENT_COLUMNS => {}
            n => return Err(corrupt(&format!("{n} fields in a row"))),
        }
        // Find every field first: a row that has not fully arrived is left for the next chunk.
        let mut fields: [Option<&[u8]>; EVENT_COLUMNS] = [None; EVENT_COLUMNS];
        let mut at = 2;
        for field in &mut fields {
            let Some(len) = rest.get(at..at + 4) else {
                return Ok(None);
            };
            let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
            at += 4;
            if len >= 0 {
                let Some(bytes) = rest.get(at..at + len as usize) else {
                    return Ok(None);
                };
                *field = Some(bytes);
                at += len as usize;
            }
        }
        let event = event_of_fields(&fields)?;
        self.at += at;
        Ok(Some(event))
    }

    /// Whether the copy ended as it should: the trailer read and nothing left over.
    pub fn finish(&self) -> Result<(), LogError> {
        if self.trailer && self.at == self.buf.len() {
            Ok(())
        } else {
            Err(LogError::Corrupt("binary COPY of events ended early".to_owned()))
        }
    }
}

/// An event from the binary fields of one row of `event_columns!()`.
fn event_of_fields(fields: &[Option<&[u8]>; EVENT_COLUMNS]) -> Result<StoredEvent, LogError> {
    let field = |i: usize| fields[i].ok_or_else(|| LogError::Corrupt(format!("NULL in event column {i}")));
    let fixed = |i: usize| -> Result<[u8; 8], LogError> {
        field(i)?
            .try_into()
            .map_err(|_| LogError::Corrupt(format!("event column {i} is not 8 bytes")))
    };
    let text = |i: usize| -> Result<&str, LogError> {
        std::str::from_utf8(field(i)?).map_err(|e| LogError::Corrupt(format!("event column {i}: {e}")))
    };
    let time = |i: usize| -> Result<chrono::DateTime<chrono::Utc>, LogError> {
        i64::from_be_bytes(fixed(i)?)
            .checked_add(crate::copy::PG_EPOCH_MICROS)
            .and_then(chrono::DateTime::from_timestamp_micros)
            .ok_or_else(|| LogError::Corrupt(format!("event column {i}: instant out of range")))
    };
    let json = |i: usize| -> Result<LazyJson, LogError> {
        let text = match field(i)? {
            [1, text @ ..] => text,
            _ => return Err(LogError::Corrupt(format!("event column {i}: not jsonb version 1"))),
        };
        std::str::from_utf8(text)
            .map_err(|e| e.to_string())
            .and_then(|text| LazyJson::from_text(text).map_err(|e| e.to_string()))
            .map_err(|e| LogError::Corrupt(format!("event column {i}: {e}")))
    };
    let tx = text(1)?;
    Ok(StoredEvent {
        global_position: i64::from_be_bytes(fixed(0)?),
        tx_id: tx.parse().map_err(|_| LogError::Corrupt(format!("tx_id {tx:?}")))?,
        stream_id: text(2)?.to_owned(),
        stream_version: i64::from_be_bytes(fixed(3)?),
        event_id: Uuid::from_slice(field(4)?).map_err(|e| LogError::Corrupt(format!("event_id: {e}")))?,
        event_type: text(5)?.to_owned(),
        schema_version: i32::from_be_bytes(
            field(6)?
                .try_into()
                .map_err(|_| LogError::Corrupt("schema_version is not 4 bytes".to_owned()))?,
        ),
        payload: json(7)?,
        metadata: json(8)?,
        occurred_at: time(9)?,
        recorded_at: time(10)?,
        prev_hash: hash_of(field(11)?)?,
        hash: hash_of(field(12)?)?,
    })
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
