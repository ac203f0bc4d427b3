//! Where an asynchronous projection stands in the log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shareledger_domain::log::Cursor;
use sqlx::{PgExecutor, Row};

/// A projection's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    pub cursor: Cursor,
    pub events_applied: i64,
    pub last_event_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Reads a projection's checkpoint (`lock`: until the transaction ends).
pub async fn load<'c>(db: impl PgExecutor<'c>, name: &str, lock: bool) -> Result<Checkpoint, sqlx::Error> {
    let sql = if lock {
        "SELECT tx_id::text, position, events_applied, last_event_at, updated_at FROM projection_checkpoints WHERE name = $1 FOR UPDATE"
    } else {
        "SELECT tx_id::text, position, events_applied, last_event_at, updated_at FROM projection_checkpoints WHERE name = $1"
    };
    let row = sqlx::query(sql).bind(name).fetch_one(db).await?;
    let tx: String = row.try_get(0)?;
    Ok(Checkpoint {
        cursor: Cursor {
            tx_id: tx.parse().unwrap_or(0),
            position: row.try_get(1)?,
        },
        events_applied: row.try_get(2)?,
        last_event_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

/// Moves the checkpoint from `from` to `to` after applying `applied` events; false (and no
/// change) when another runner moved it first, so a batch is never applied twice.
pub async fn advance<'c>(
    db: impl PgExecutor<'c>,
    name: &str,
    from: Cursor,
    to: Cursor,
    applied: i64,
    last_event_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE projection_checkpoints SET tx_id = $4::text::xid8, position = $5, events_applied = events_applied + $6, \
         last_event_at = coalesce($7, last_event_at), updated_at = now() \
         WHERE name = $1 AND tx_id = $2::text::xid8 AND position = $3",
    )
    .bind(name)
    .bind(from.tx_id.to_string())
    .bind(from.position)
    .bind(to.tx_id.to_string())
    .bind(to.position)
    .bind(applied)
    .bind(last_event_at)
    .execute(db)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Sets the checkpoint outright (a rebuild's swap).
pub async fn set<'c>(
    db: impl PgExecutor<'c>,
    name: &str,
    to: Cursor,
    applied: i64,
    last_event_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, tx_id, position, events_applied, last_event_at) \
         VALUES ($1, $2::text::xid8, $3, $4, $5) \
         ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position, \
             events_applied = EXCLUDED.events_applied, last_event_at = EXCLUDED.last_event_at, updated_at = now()",
    )
    .bind(name)
    .bind(to.tx_id.to_string())
    .bind(to.position)
    .bind(applied)
    .bind(last_event_at)
    .execute(db)
    .await?;
    Ok(())
}

/// How far behind the log a checkpoint is: events not applied yet (counted up to `cap`) and the
/// age of the oldest of them.
pub async fn lag<'c>(db: impl PgExecutor<'c>, cursor: Cursor, cap: i64) -> Result<(i64, f64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8 FROM ( \
             SELECT recorded_at FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
             ORDER BY tx_id, global_position LIMIT $3) behind",
    )
    .bind(cursor.tx_id.to_string())
    .bind(cursor.position)
    .bind(cap)
    .fetch_one(db)
    .await?;
    Ok((row.try_get(0)?, row.try_get::<f64, _>(1)?.max(0.0)))
}
