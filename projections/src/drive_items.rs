//! The built-in drive as a table: one row per item, kept in the append transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shareledger_domain::drive::{DriveEvent, ItemKind};
use shareledger_domain::log::StoredEvent;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::{ProjectionError, stream_uuid};

/// A drive item as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriveItemRow {
    pub id: Uuid,
    pub owner_id: String,
    pub enterprise_id: String,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub kind: ItemKind,
    pub size: Option<i64>,
    pub content_type: Option<String>,
    pub sha256: Option<String>,
    #[serde(skip)]
    pub content_key: Option<String>,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of a `DriveItemRow`, in the order `decode` reads them by name.
pub const COLUMNS: &str = "item_id, owner_id, enterprise_id, parent_id, name, kind, size, content_type, sha256, \
                       content_key, deleted, created_at, updated_at";

/// A drive item from a row holding `COLUMNS` (by name).
pub fn decode(row: &PgRow) -> Result<DriveItemRow, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(DriveItemRow {
        id: row.try_get("item_id")?,
        owner_id: row.try_get("owner_id")?,
        enterprise_id: row.try_get("enterprise_id")?,
        parent_id: row.try_get("parent_id")?,
        name: row.try_get("name")?,
        kind: if kind == "folder" {
            ItemKind::Folder
        } else {
            ItemKind::File
        },
        size: row.try_get("size")?,
        content_type: row.try_get("content_type")?,
        sha256: row.try_get("sha256")?,
        content_key: row.try_get("content_key")?,
        deleted: row.try_get("deleted")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Applies drive events (other streams are ignored).
pub async fn apply(conn: &mut PgConnection, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    for e in events.iter().filter(|e| e.stream_id.starts_with("item-")) {
        let id = stream_uuid(&e.stream_id, "item")?;
        let event: DriveEvent = e.decode().map_err(|source| ProjectionError::Decode {
            position: e.global_position,
            source,
        })?;
        let at = e.occurred_at;
        let query = match &event {
            DriveEvent::FileRegistered {
                owner_id,
                enterprise_id,
                parent,
                name,
                content,
                ..
            } => sqlx::query(
                "INSERT INTO drive_items (item_id, owner_id, enterprise_id, parent_id, name, kind, size, content_type, \
                 sha256, content_key, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'file', $6, $7, $8, $9, $10, $10) ON CONFLICT (item_id) DO NOTHING",
            )
            .bind(id)
            .bind(owner_id)
            .bind(enterprise_id)
            .bind(parent)
            .bind(name)
            .bind(i64::try_from(content.size).unwrap_or(i64::MAX))
            .bind(&content.content_type)
            .bind(&content.sha256)
            .bind(&content.key)
            .bind(at),
            DriveEvent::FolderCreated {
                owner_id,
                enterprise_id,
                parent,
                name,
                ..
            } => sqlx::query(
                "INSERT INTO drive_items (item_id, owner_id, enterprise_id, parent_id, name, kind, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'folder', $6, $6) ON CONFLICT (item_id) DO NOTHING",
            )
            .bind(id)
            .bind(owner_id)
            .bind(enterprise_id)
            .bind(parent)
            .bind(name)
            .bind(at),
            DriveEvent::ItemRenamed { name } => {
                sqlx::query("UPDATE drive_items SET name = $2, updated_at = $3 WHERE item_id = $1")
                    .bind(id)
                    .bind(name)
                    .bind(at)
            }
            DriveEvent::ItemDeleted => {
                sqlx::query("UPDATE drive_items SET deleted = true, updated_at = $2 WHERE item_id = $1")
                    .bind(id)
                    .bind(at)
            }
            DriveEvent::ItemRestored => {
                sqlx::query("UPDATE drive_items SET deleted = false, updated_at = $2 WHERE item_id = $1")
                    .bind(id)
                    .bind(at)
            }
            DriveEvent::ContentReplaced { content, .. } => sqlx::query(
                "UPDATE drive_items SET size = $2, content_type = $3, sha256 = $4, content_key = $5, updated_at = $6 \
                 WHERE item_id = $1",
            )
            .bind(id)
            .bind(i64::try_from(content.size).unwrap_or(i64::MAX))
            .bind(&content.content_type)
            .bind(&content.sha256)
            .bind(&content.key)
            .bind(at),
        };
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// One item by id.
pub async fn get<'c>(db: impl PgExecutor<'c>, id: Uuid) -> Result<Option<DriveItemRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM drive_items WHERE item_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(decode).transpose()
}

/// The children of `parent` (the top level when `None`) in `owner_id`'s drive, folders first,
/// then by name; deleted items only when asked for.
pub async fn list_children<'c>(
    db: impl PgExecutor<'c>,
    owner_id: &str,
    parent: Option<Uuid>,
    include_deleted: bool,
) -> Result<Vec<DriveItemRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM drive_items \
         WHERE owner_id = $1 AND parent_id IS NOT DISTINCT FROM $2 AND (deleted = false OR $3) \
         ORDER BY kind DESC, name, item_id LIMIT 10000"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner_id)
        .bind(parent)
        .bind(include_deleted)
        .fetch_all(db)
        .await?;
    rows.iter().map(decode).collect()
}

/// The named items (any order; unknown ids are absent), each with whether it or a folder above
/// it is deleted (a deleted folder hides its content), in one round trip.
pub async fn get_many_with_deleted<'c>(
    db: impl PgExecutor<'c>,
    ids: &[Uuid],
) -> Result<Vec<(DriveItemRow, bool)>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(with_deleted(IdCount::of(ids))))
        .bind(ids)
        .fetch_all(db)
        .await?;
    rows.iter().map(decode_with_deleted).collect()
}

/// How many ids a `with_deleted` query names: its text differs for one id (see there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdCount {
    One = 0,
    Many = 1,
}

impl IdCount {
    pub fn of(ids: &[Uuid]) -> Self {
        if ids.len() == 1 { IdCount::One } else { IdCount::Many }
    }
}

/// The query behind `get_many_with_deleted`, to be joined into others: its ids are `$1`
/// (`uuid[]`), `count` of them. For one id the text says so (`($1::uuid[])[1]`). With an array
/// of unknown length PostgreSQL prices a generic plan (for ten ids) above a custom one (for the
/// one), so it never caches one and plans on every call, which cost five times the run in a
/// create's read (0.44 against 0.08 ms, `pg_stat_statements`); with one id stated, the two
/// price alike and the generic plan is cached after five calls.
pub fn with_deleted(count: IdCount) -> &'static str {
    static SQL: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
        [
            with_deleted_where("item_id = ($1::uuid[])[1]"),
            with_deleted_where("item_id = ANY($1)"),
        ]
    });
    &SQL[count as usize]
}

fn with_deleted_where(named: &str) -> String {
    format!(
        "WITH RECURSIVE up(start, item_id, parent_id, deleted, depth) AS ( \
             SELECT item_id, item_id, parent_id, deleted, 0 FROM drive_items WHERE {named} \
             UNION ALL \
             SELECT up.start, d.item_id, d.parent_id, d.deleted, up.depth + 1 FROM drive_items d \
             JOIN up ON d.item_id = up.parent_id WHERE up.depth < 64), \
         gone AS (SELECT start FROM up GROUP BY start HAVING bool_or(deleted)) \
         SELECT {COLUMNS}, item_id IN (SELECT start FROM gone) AS under_deleted \
         FROM drive_items WHERE {named}"
    )
}

/// A row of `with_deleted`: the item, and whether it or a folder above it is deleted.
pub fn decode_with_deleted(row: &PgRow) -> Result<(DriveItemRow, bool), sqlx::Error> {
    Ok((decode(row)?, row.try_get("under_deleted")?))
}

/// The item and the folders above it, nearest first (at most 64 levels).
pub async fn chain<'c>(db: impl PgExecutor<'c>, id: Uuid) -> Result<Vec<DriveItemRow>, sqlx::Error> {
    static CHAIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH RECURSIVE {} SELECT {COLUMNS} FROM up ORDER BY depth",
            chain_cte("item_id = $1")
        )
    });
    let rows = sqlx::query(sqlx::AssertSqlSafe(CHAIN.as_str()))
        .bind(id)
        .fetch_all(db)
        .await?;
    rows.iter().map(decode).collect()
}

/// The recursive CTE `up` behind `chain`, to be used in other queries (after `WITH RECURSIVE`):
/// the item `start` selects (a condition on `drive_items`), then the folders above it, each
/// with every column and its `depth` (0 for the item).
pub fn chain_cte(start: &str) -> String {
    let prefixed = COLUMNS
        .split(", ")
        .map(|c| format!("d.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "up AS ( \
             SELECT {COLUMNS}, 0 AS depth FROM drive_items WHERE {start} \
             UNION ALL \
             SELECT {prefixed}, up.depth + 1 FROM drive_items d JOIN up ON d.item_id = up.parent_id WHERE up.depth < 64)"
    )
}
