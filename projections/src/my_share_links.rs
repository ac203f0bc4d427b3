//! "My Share Links": one row per share, kept in the append transaction, searched by name
//! substring (trigram index; or among the shares the service's name index offers, kept current
//! with `names_since`), creation time and status, sorted and paged by keyset.

use foldhash::{HashMap, HashMapExt};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use shareledger_domain::log::StoredEvent;
use shareledger_domain::share::ShareEvent;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::copy::CopyRows;
use crate::page::PageCursor;
use crate::projection::RebuildState;
use crate::{ProjectionError, stream_uuid};

/// A share as the owner's list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareRow {
    pub share_id: Uuid,
    pub owner_id: String,
    pub owner_name: String,
    pub enterprise_id: String,
    pub name: String,
    pub message: String,
    pub items: Value,
    pub item_count: i32,
    pub permissions: Value,
    pub scope: String,
    pub limits: Value,
    pub has_code: bool,
    pub autofill_code: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// `active` or `cancelled` as stored; `expired` is derived at read time.
    pub status: String,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub counters: Counters,
    pub last_access_at: Option<DateTime<Utc>>,
}

/// What recipients did with a share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub opens: i64,
    pub previews: i64,
    pub downloads: i64,
    pub saves: i64,
    pub uploads: i64,
    pub edits: i64,
    pub refused: i64,
    pub reports: i64,
}

impl ShareRow {
    /// `active`, `expired` or `cancelled` at `now`.
    pub fn status_at(&self, now: DateTime<Utc>) -> &'static str {
        if self.status == "cancelled" {
            "cancelled"
        } else if self.expires_at.is_some_and(|at| now >= at) {
            "expired"
        } else {
            "active"
        }
    }
}

const COLUMNS: &str = "share_id, owner_id, owner_name, enterprise_id, name, message, items, item_count, permissions, \
    scope, limits, has_code, autofill_code, expires_at, status, cancelled_at, created_at, updated_at, opens, previews, \
    downloads, saves, uploads, edits, refused, reports, last_access_at";

fn decode(row: &PgRow) -> Result<ShareRow, sqlx::Error> {
    Ok(ShareRow {
        share_id: row.try_get("share_id")?,
        owner_id: row.try_get("owner_id")?,
        owner_name: row.try_get("owner_name")?,
        enterprise_id: row.try_get("enterprise_id")?,
        name: row.try_get("name")?,
        message: row.try_get("message")?,
        items: row.try_get("items")?,
        item_count: row.try_get("item_count")?,
        permissions: row.try_get("permissions")?,
        scope: row.try_get("scope")?,
        limits: row.try_get("limits")?,
        has_code: row.try_get("has_code")?,
        autofill_code: row.try_get("autofill_code")?,
        expires_at: row.try_get("expires_at")?,
        status: row.try_get("status")?,
        cancelled_at: row.try_get("cancelled_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        counters: Counters {
            opens: row.try_get("opens")?,
            previews: row.try_get("previews")?,
            downloads: row.try_get("downloads")?,
            saves: row.try_get("saves")?,
            uploads: row.try_get("uploads")?,
            edits: row.try_get("edits")?,
            refused: row.try_get("refused")?,
            reports: row.try_get("reports")?,
        },
        last_access_at: row.try_get("last_access_at")?,
    })
}

/// What recipients did to one share within a batch.
#[derive(Default)]
struct Activity {
    counts: [i64; 8],
    last_access_at: Option<chrono::DateTime<Utc>>,
    last_position: i64,
}

/// The counter an event type increments (index into `Activity::counts`), known from the type
/// name alone so recipients' events need no decoding.
fn counter(event_type: &str) -> Option<usize> {
    Some(match event_type {
        "ShareOpened" => 0,
        "FilePreviewed" => 1,
        "FileDownloaded" => 2,
        "FileSaved" => 3,
        "FileUploaded" => 4,
        "DocumentEdited" => 5,
        "AccessRefused" => 6,
        "ShareReported" => 7,
        _ => return None,
    })
}

/// Adds recipients' activity `d` (per share: the eight counters, the latest access and position)
/// to the row `m`: the live path's per-batch sums and a rebuild's staged ones alike.
macro_rules! add_activity {
    () => {
        "opens = m.opens + d.opens, previews = m.previews + d.previews, downloads = m.downloads + d.downloads, \
         saves = m.saves + d.saves, uploads = m.uploads + d.uploads, edits = m.edits + d.edits, \
         refused = m.refused + d.refused, reports = m.reports + d.reports, \
         last_access_at = greatest(m.last_access_at, d.accessed), \
         last_position = greatest(m.last_position, d.position)"
    };
}

/// Applies share events (other streams are ignored). The owner's changes are applied one by
/// one in order; recipients' activity only adds to counters (other columns, taking the latest
/// time and position), so it is summed per share and written in one statement.
///
/// The same statement remembers each download's session and item (`session_downloads`), so
/// that a byte range continuing a download the session already counted is not counted again:
/// a download costs one statement here, not two.
pub async fn apply(conn: &mut PgConnection, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    let activity = apply_changes(conn, events).await?;
    if activity.is_empty() {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct Download {
        session_id: Uuid,
        item_id: Uuid,
    }
    let (mut sessions, mut items, mut shares, mut ats) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in events.iter().filter(|e| e.event_type == "FileDownloaded") {
        let download: Download = e.payload.read().map_err(|source| ProjectionError::Decode {
            position: e.global_position,
            source: shareledger_domain::DecodeError::Payload {
                event_type: e.event_type.clone(),
                version: e.schema_version,
                source,
            },
        })?;
        sessions.push(download.session_id);
        items.push(download.item_id);
        shares.push(stream_uuid(&e.stream_id, "share")?);
        ats.push(e.occurred_at);
    }
    let mut ids = Vec::with_capacity(activity.len());
    let mut columns: [Vec<i64>; 8] = Default::default();
    let (mut accessed, mut positions) = (Vec::new(), Vec::new());
    for (id, a) in activity {
        ids.push(id);
        for (column, n) in columns.iter_mut().zip(a.counts) {
            column.push(n);
        }
        accessed.push(a.last_access_at);
        positions.push(a.last_position);
    }
    let [opens, previews, downloads, saves, uploads, edits, refused, reports] = columns;
    sqlx::query(concat!(
        "WITH downloads AS (INSERT INTO session_downloads (session_id, item_id, share_id, at) \
             SELECT * FROM unnest($12::uuid[], $13::uuid[], $14::uuid[], $15::timestamptz[]) \
             ON CONFLICT DO NOTHING) \
         UPDATE my_share_links m SET ",
        add_activity!(),
        " FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], \
                     $9::int8[], $10::timestamptz[], $11::int8[]) \
             AS d(share_id, opens, previews, downloads, saves, uploads, edits, refused, reports, accessed, position) \
         WHERE m.share_id = d.share_id"
    ))
    .bind(ids)
    .bind(opens)
    .bind(previews)
    .bind(downloads)
    .bind(saves)
    .bind(uploads)
    .bind(edits)
    .bind(refused)
    .bind(reports)
    .bind(accessed)
    .bind(positions)
    .bind(sessions)
    .bind(items)
    .bind(shares)
    .bind(ats)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies a batch's owner changes in order and returns its recipients' activity per share,
/// still to be added to the counters.
async fn apply_changes(
    conn: &mut PgConnection,
    events: &[StoredEvent],
) -> Result<HashMap<Uuid, Activity>, ProjectionError> {
    let mut activity: HashMap<Uuid, Activity> = HashMap::new();
    let mut created = Created::default();
    for e in events.iter().filter(|e| e.stream_id.starts_with("share-")) {
        let id = stream_uuid(&e.stream_id, "share")?;
        match counter(&e.event_type) {
            Some(i) => {
                let a = activity.entry(id).or_default();
                a.counts[i] += 1;
                a.last_access_at = a.last_access_at.max(Some(e.occurred_at));
                a.last_position = a.last_position.max(e.global_position);
            }
            None => {
                let event: ShareEvent = e.decode().map_err(|source| ProjectionError::Decode {
                    position: e.global_position,
                    source,
                })?;
                if let ShareEvent::ShareCreated(c) = &event {
                    // New shares go in together; anything else waits until they are in.
                    created.push(id, c, e);
                } else {
                    created.flush(conn).await?;
                    apply_one(conn, id, &event, e).await?;
                }
            }
        }
    }
    created.flush(conn).await?;
    Ok(activity)
}

/// A rebuild stages the counters' increments instead of updating every row batch after batch
/// (each update writes a new version of a wide row): `apply_rebuild` appends each batch's sums
/// per share to an unlogged table with one binary `COPY`, `finish_rebuild` adds them up and
/// writes every row once.
pub async fn prepare_rebuild(conn: &mut PgConnection) -> Result<RebuildState, ProjectionError> {
    sqlx::query(
        "CREATE UNLOGGED TABLE activity_staging (share_id uuid NOT NULL, opens int8 NOT NULL, \
         previews int8 NOT NULL, downloads int8 NOT NULL, saves int8 NOT NULL, uploads int8 NOT NULL, \
         edits int8 NOT NULL, refused int8 NOT NULL, reports int8 NOT NULL, accessed timestamptz, \
         position int8 NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    Ok(Box::new(()))
}

/// Applies a batch of a rebuild (see `prepare_rebuild`).
pub async fn apply_rebuild(
    conn: &mut PgConnection,
    events: &[StoredEvent],
    _state: &mut RebuildState,
) -> Result<(), ProjectionError> {
    let activity = apply_changes(conn, events).await?;
    if activity.is_empty() {
        return Ok(());
    }
    let mut rows = CopyRows::new(11, activity.len());
    for (id, a) in activity {
        rows.uuid(id);
        for n in a.counts {
            rows.int8(n);
        }
        match a.last_access_at {
            Some(at) => rows.time(at),
            None => rows.null(),
        };
        rows.int8(a.last_position);
        rows.end_row();
    }
    rows.send(
        conn,
        "COPY activity_staging (share_id, opens, previews, downloads, saves, uploads, edits, refused, reports, \
         accessed, position) FROM STDIN (FORMAT binary)",
    )
    .await?;
    Ok(())
}

/// Adds the staged increments to the rows, once per share.
pub async fn finish_rebuild(conn: &mut PgConnection, _state: RebuildState) -> Result<(), ProjectionError> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    for sql in [
        "SET LOCAL work_mem = '256MB'",
        concat!(
            "UPDATE my_share_links m SET ",
            add_activity!(),
            " FROM (SELECT share_id, sum(opens)::int8 AS opens, sum(previews)::int8 AS previews, sum(downloads)::int8 AS downloads, \
                      sum(saves)::int8 AS saves, sum(uploads)::int8 AS uploads, sum(edits)::int8 AS edits, sum(refused)::int8 AS refused, \
                      sum(reports)::int8 AS reports, max(accessed) AS accessed, max(position) AS position \
               FROM activity_staging GROUP BY share_id) d \
         WHERE m.share_id = d.share_id"
        ),
        "DROP TABLE activity_staging",
    ] {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn apply_one(
    conn: &mut PgConnection,
    id: Uuid,
    event: &ShareEvent,
    e: &StoredEvent,
) -> Result<(), ProjectionError> {
    let json = |v: &dyn erased::ToJson| v.to_json();
    let mut q = match event {
        ShareEvent::ShareCreated(c) => {
            let mut one = Created::default();
            one.push(id, c, e);
            return one.flush(conn).await;
        }
        ShareEvent::ShareRenamed { name } => {
            let mut q = QueryBuilder::new("UPDATE my_share_links SET name = ");
            q.push_bind(name.clone()).push(", name_tx = ").push_bind(tx_id(e));
            finish(q, id, e)
        }
        ShareEvent::ShareMessageChanged { message } => set(id, e, "message", message.clone()),
        ShareEvent::SharePermissionsChanged { permissions } => set(id, e, "permissions", json(permissions)),
        ShareEvent::ShareScopeChanged { scope } => set(id, e, "scope", scope_name(scope).to_owned()),
        ShareEvent::ShareExpiryChanged { expires_at } => set(id, e, "expires_at", *expires_at),
        ShareEvent::ShareLimitsChanged { limits } => set(id, e, "limits", json(limits)),
        ShareEvent::ShareAccessCodeChanged { .. } => set(id, e, "has_code", true),
        ShareEvent::ShareAccessCodeRemoved { .. } => set(id, e, "has_code", false),
        ShareEvent::ShareAutofillChanged { autofill_code } => set(id, e, "autofill_code", *autofill_code),
        ShareEvent::ShareQrCodeIssued { .. }
        | ShareEvent::ShareOpened { .. }
        | ShareEvent::FilePreviewed { .. }
        | ShareEvent::FileDownloaded { .. }
        | ShareEvent::FileSaved { .. }
        | ShareEvent::FileUploaded { .. }
        | ShareEvent::DocumentEdited { .. }
        | ShareEvent::AccessRefused { .. }
        | ShareEvent::ShareReported { .. } => return Ok(()),
        ShareEvent::ShareCancelled { .. } => {
            let mut q = QueryBuilder::new("UPDATE my_share_links SET status = 'cancelled', cancelled_at = ");
            q.push_bind(e.occurred_at);
            finish(q, id, e)
        }
    };
    q.build().execute(&mut *conn).await?;
    Ok(())
}

/// A new share's row as part of the statement that appends its `ShareCreated` (a common table
/// expression beside the CTE named by its second argument, whose `global_position` the row
/// takes): what
/// `apply` inserts for that event, in the same round trip as the event. `None` unless `events`
/// is that one event.
pub fn push_created_with_append(
    events: &[StoredEvent],
) -> Result<Option<impl FnOnce(&mut QueryBuilder<Postgres>, &str) + Send + 'static>, ProjectionError> {
    let [e] = events else {
        return Ok(None);
    };
    if e.event_type != "ShareCreated" || !e.stream_id.starts_with("share-") {
        return Ok(None);
    }
    let ShareEvent::ShareCreated(c) = e.decode::<ShareEvent>().map_err(|source| ProjectionError::Decode {
        position: e.global_position,
        source,
    })?
    else {
        return Ok(None);
    };
    let mut row = Created::default();
    row.push(stream_uuid(&e.stream_id, "share")?, &c, e);
    Ok(Some(move |q: &mut QueryBuilder<Postgres>, appended: &str| {
        row.push_insert(q, Position::Appended(appended))
    }))
}

/// Where new rows' `last_position` comes from.
#[derive(Clone, Copy)]
enum Position<'a> {
    /// Their events' positions, as given.
    Given,
    /// The statement's CTE of this name (one event, written in the same statement).
    Appended(&'a str),
}

/// New shares' rows, inserted with one statement.
#[derive(Default)]
struct Created {
    ids: Vec<Uuid>,
    owners: Vec<String>,
    owner_names: Vec<String>,
    enterprises: Vec<String>,
    names: Vec<String>,
    messages: Vec<String>,
    items: Vec<serde_json::Value>,
    item_counts: Vec<i32>,
    permissions: Vec<serde_json::Value>,
    scopes: Vec<&'static str>,
    limits: Vec<serde_json::Value>,
    has_code: Vec<bool>,
    autofill: Vec<bool>,
    expires: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
    positions: Vec<i64>,
    txs: Vec<i64>,
}

impl Created {
    fn push(&mut self, id: Uuid, c: &shareledger_domain::share::ShareCreated, e: &StoredEvent) {
        let json = |v: &dyn erased::ToJson| v.to_json();
        self.ids.push(id);
        self.owners.push(c.owner_id.clone());
        self.owner_names.push(c.owner_name.clone());
        self.enterprises.push(c.enterprise_id.clone());
        self.names.push(c.name.clone());
        self.messages.push(c.message.clone());
        self.items.push(json(&c.items));
        self.item_counts.push(i32::try_from(c.items.len()).unwrap_or(i32::MAX));
        self.permissions.push(json(&c.permissions));
        self.scopes.push(scope_name(&c.scope));
        self.limits.push(json(&c.limits));
        self.has_code.push(c.has_code);
        self.autofill.push(c.autofill_code);
        self.expires.push(c.expires_at);
        self.at.push(e.occurred_at);
        self.positions.push(e.global_position);
        self.txs.push(tx_id(e));
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let mut q = QueryBuilder::new("");
        std::mem::take(self).push_insert(&mut q, Position::Given);
        q.build().execute(&mut *conn).await?;
        Ok(())
    }

    /// The rows' `INSERT`, one row per element of the arrays.
    fn push_insert(self, q: &mut QueryBuilder<Postgres>, position: Position<'_>) {
        q.push(
            "INSERT INTO my_share_links (share_id, owner_id, owner_name, enterprise_id, name, message, items, \
             item_count, permissions, scope, limits, has_code, autofill_code, expires_at, status, created_at, \
             updated_at, last_position, name_tx) \
             SELECT id, o, onm, ent, nm, msg, it, ic, pe, sc, li, hc, af, ex, 'active', at, at, ",
        );
        q.push(match position {
            Position::Given => "pos, tx",
            Position::Appended(_) => "a.global_position, a.tx_id::text::int8",
        });
        q.push(" FROM unnest(");
        let mut arrays = q.separated(", ");
        arrays.push_bind(self.ids);
        arrays.push_bind(self.owners);
        arrays.push_bind(self.owner_names);
        arrays.push_bind(self.enterprises);
        arrays.push_bind(self.names);
        arrays.push_bind(self.messages);
        arrays.push_bind(self.items);
        arrays.push_bind(self.item_counts);
        arrays.push_bind(self.permissions);
        arrays.push_bind(self.scopes);
        arrays.push_bind(self.limits);
        arrays.push_bind(self.has_code);
        arrays.push_bind(self.autofill);
        arrays.push_bind(self.expires);
        arrays.push_bind(self.at);
        arrays.push_bind(self.positions);
        arrays.push_bind(self.txs);
        q.push(") AS u(id, o, onm, ent, nm, msg, it, ic, pe, sc, li, hc, af, ex, at, pos, tx)");
        if let Position::Appended(appended) = position {
            q.push(format_args!(", {appended} a"));
        }
        q.push(" ON CONFLICT (share_id) DO NOTHING");
    }
}

fn set<T>(id: Uuid, e: &StoredEvent, column: &str, value: T) -> QueryBuilder<Postgres>
where
    T: for<'t> sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>,
{
    let mut q = QueryBuilder::new(format!("UPDATE my_share_links SET {column} = "));
    q.push_bind(value);
    finish(q, id, e)
}

fn finish(mut q: QueryBuilder<Postgres>, id: Uuid, e: &StoredEvent) -> QueryBuilder<Postgres> {
    q.push(", updated_at = ")
        .push_bind(e.occurred_at)
        .push(", last_position = ")
        .push_bind(e.global_position)
        .push(" WHERE share_id = ")
        .push_bind(id);
    q
}

/// The event's transaction as stored in `name_tx` (transaction ids stay far below `i64::MAX`).
fn tx_id(e: &StoredEvent) -> i64 {
    i64::try_from(e.tx_id).unwrap_or(i64::MAX)
}

fn scope_name(scope: &shareledger_domain::share::Scope) -> &'static str {
    match scope {
        shareledger_domain::share::Scope::Anyone => "anyone",
        shareledger_domain::share::Scope::Enterprise => "enterprise",
    }
}

mod erased {
    /// Serializes settings values into the JSON columns.
    pub trait ToJson {
        fn to_json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> ToJson for T {
        fn to_json(&self) -> serde_json::Value {
            serde_json::to_value(self).expect("plain data")
        }
    }
}

/// One share by id.
pub async fn get<'c>(db: impl PgExecutor<'c>, id: Uuid) -> Result<Option<ShareRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM my_share_links WHERE share_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(decode).transpose()
}

/// Which shares a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Active,
    Expired,
    Cancelled,
    All,
}

/// The sort column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderBy {
    Created,
    Updated,
    Name,
    /// The message (the reference product's `description`).
    Message,
}

impl OrderBy {
    fn column(self) -> &'static str {
        match self {
            OrderBy::Created => "created_at",
            OrderBy::Updated => "updated_at",
            OrderBy::Name => "name",
            OrderBy::Message => "message",
        }
    }
}

/// A time column a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    Created,
    Updated,
    /// The expiry; a permanent share compares as 1970-01-01T00:00:00Z (the epoch).
    Expires,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => " = ",
            Cmp::Ne => " <> ",
            Cmp::Gt => " > ",
            Cmp::Ge => " >= ",
            Cmp::Lt => " < ",
            Cmp::Le => " <= ",
        }
    }
}

/// A stored status (`expired` is not one: it is derived from the expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredStatus {
    Active,
    Cancelled,
}

/// A boolean filter over an owner's shares, beyond the fixed fields of `Search` (the
/// compatibility API's query language compiles to this). Values are always bound, never spliced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// All of them (an empty list is true).
    All(Vec<Filter>),
    /// Any of them (an empty list is false).
    Any(Vec<Filter>),
    Not(Box<Filter>),
    Time {
        field: TimeField,
        cmp: Cmp,
        at: DateTime<Utc>,
    },
    /// The name contains the text, case-insensitively.
    NameContains(String),
    /// The stored status is one of these.
    StatusIn(Vec<StoredStatus>),
}

impl Filter {
    /// A text every match's name contains, when the filter requires one: a `NameContains` on
    /// its own or among the parts of an `All` (the longest, the most selective, when there are
    /// several). Under `Any` or `Not` a name is not required.
    pub fn required_name(&self) -> Option<&str> {
        match self {
            Filter::NameContains(text) => Some(text),
            Filter::All(parts) => parts
                .iter()
                .filter_map(Filter::required_name)
                .max_by_key(|text| text.len()),
            _ => None,
        }
    }

    fn push(&self, q: &mut QueryBuilder<Postgres>) {
        match self {
            Filter::All(parts) | Filter::Any(parts) if parts.is_empty() => {
                q.push(if matches!(self, Filter::All(_)) {
                    "TRUE"
                } else {
                    "FALSE"
                });
            }
            Filter::All(parts) | Filter::Any(parts) => {
                let joint = if matches!(self, Filter::All(_)) {
                    " AND "
                } else {
                    " OR "
                };
                q.push("(");
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        q.push(joint);
                    }
                    part.push(q);
                }
                q.push(")");
            }
            Filter::Not(inner) => {
                q.push("NOT ");
                inner.push(q);
            }
            Filter::Time { field, cmp, at } => {
                q.push(match field {
                    TimeField::Created => "created_at",
                    TimeField::Updated => "updated_at",
                    TimeField::Expires => "coalesce(expires_at, 'epoch'::timestamptz)",
                });
                q.push(cmp.sql()).push_bind(*at);
            }
            Filter::NameContains(text) => {
                q.push("name ILIKE ").push_bind(like_pattern(text)).push(" ESCAPE '\\'");
            }
            Filter::StatusIn(statuses) => {
                let names: Vec<&str> = statuses
                    .iter()
                    .map(|s| match s {
                        StoredStatus::Active => "active",
                        StoredStatus::Cancelled => "cancelled",
                    })
                    .collect();
                q.push("status = ANY(").push_bind(names).push(")");
            }
        }
    }
}

/// An owner's search.
#[derive(Debug, Clone)]
pub struct Search {
    pub owner_id: String,
    /// Substring of the name, case-insensitive.
    pub q: Option<String>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    pub status: StatusFilter,
    pub order_by: OrderBy,
    pub descending: bool,
    pub limit: u32,
    pub after: Option<PageCursor>,
    /// The instant `expired` is judged at.
    pub now: DateTime<Utc>,
    /// Further conditions, all of which must hold too.
    pub filter: Option<Filter>,
}

/// A page of results and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct Page {
    pub rows: Vec<ShareRow>,
    pub next: Option<PageCursor>,
}

/// A cursor that does not fit the search it is used with.
#[derive(Debug, thiserror::Error)]
#[error("the cursor does not belong to this search")]
pub struct BadCursor;

/// The conditions of a search, without its paging.
fn push_conditions(q: &mut QueryBuilder<Postgres>, s: &Search) {
    q.push(" WHERE owner_id = ").push_bind(s.owner_id.clone());
    if let Some(text) = s.q.as_deref().filter(|t| !t.is_empty()) {
        q.push(" AND name ILIKE ")
            .push_bind(like_pattern(text))
            .push(" ESCAPE '\\'");
    }
    if let Some(after) = s.created_after {
        q.push(" AND created_at >= ").push_bind(after);
    }
    if let Some(before) = s.created_before {
        q.push(" AND created_at < ").push_bind(before);
    }
    match s.status {
        StatusFilter::Active => {
            q.push(" AND status = 'active' AND (expires_at IS NULL OR expires_at > ")
                .push_bind(s.now)
                .push(")");
        }
        StatusFilter::Expired => {
            q.push(" AND status = 'active' AND expires_at <= ").push_bind(s.now);
        }
        StatusFilter::Cancelled => {
            q.push(" AND status = 'cancelled'");
        }
        StatusFilter::All => {}
    }
    if let Some(filter) = &s.filter {
        q.push(" AND ");
        filter.push(q);
    }
}

/// Runs an owner's search: the page after `after`, and the cursor after it.
pub async fn search<'c>(db: impl PgExecutor<'c>, s: &Search) -> Result<Result<Page, BadCursor>, sqlx::Error> {
    run_search(db, s, None).await
}

/// The same search, among the shares `among` only: those an in-process name index found for
/// `s.q`, which may be more than match (every condition is still checked here) but must not be
/// fewer.
pub async fn search_among<'c>(
    db: impl PgExecutor<'c>,
    s: &Search,
    among: Vec<Uuid>,
) -> Result<Result<Page, BadCursor>, sqlx::Error> {
    run_search(db, s, Some(among)).await
}

/// Runs the page's query and reads the page and its cursor.
async fn run_search<'c>(
    db: impl PgExecutor<'c>,
    s: &Search,
    among: Option<Vec<Uuid>>,
) -> Result<Result<Page, BadCursor>, sqlx::Error> {
    // Among given shares, a prepared statement: its plan, by primary key, does not depend on
    // the values. Otherwise planned with the actual values every time (an unnamed statement),
    // never with a generic plan: how selective the pattern is decides between the trigram index
    // and a walk of the owner's newest shares, and a generic plan, blind to it, walked every
    // share of an owner with 40,000 to find 11 (seconds, in a soak run).
    let prepared = among.is_some();
    let Ok(mut q) = page_query(s, among) else {
        return Ok(Err(BadCursor));
    };
    let rows = q.build().persistent(prepared).fetch_all(db).await?;
    let mut rows: Vec<ShareRow> = rows.iter().map(decode).collect::<Result<_, _>>()?;
    let more = rows.len() > s.limit as usize;
    rows.truncate(s.limit as usize);
    let next = rows.last().filter(|_| more).map(|last| PageCursor {
        key: match s.order_by {
            OrderBy::Created => last.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            OrderBy::Updated => last.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            OrderBy::Name => last.name.clone(),
            OrderBy::Message => last.message.clone(),
        },
        id: last.share_id,
    });
    Ok(Ok(Page { rows, next }))
}

/// The page's query: the conditions, the cursor, the order and one row more than the limit.
fn page_query(s: &Search, among: Option<Vec<Uuid>>) -> Result<QueryBuilder<Postgres>, BadCursor> {
    let column = s.order_by.column();
    let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM my_share_links"));
    push_conditions(&mut q, s);
    if let Some(ids) = among {
        q.push(" AND share_id = ANY(").push_bind(ids).push(")");
    }
    let cmp = if s.descending { "<" } else { ">" };
    if let Some(cursor) = &s.after {
        q.push(format!(" AND ({column}, share_id) {cmp} ("));
        match s.order_by {
            OrderBy::Name | OrderBy::Message => {
                q.push_bind(cursor.key.clone());
            }
            OrderBy::Created | OrderBy::Updated => match cursor.key.parse::<DateTime<Utc>>() {
                Ok(at) => {
                    q.push_bind(at);
                }
                Err(_) => return Err(BadCursor),
            },
        }
        q.push(", ").push_bind(cursor.id).push(")");
    }
    let dir = if s.descending { "DESC" } else { "ASC" };
    q.push(format!(" ORDER BY {column} {dir}, share_id {dir} LIMIT "));
    q.push_bind(i64::from(s.limit) + 1);
    Ok(q)
}

/// An owner's names written since a horizon, and the next horizon.
#[derive(Debug, Clone, Default)]
pub struct NamesSince {
    /// The oldest transaction still running when these were read: every transaction below it
    /// had ended, so any name written later, or by a transaction not yet committed, is written
    /// by a transaction at or above it (`pg_snapshot_xmin` of the statement's snapshot).
    pub horizon: i64,
    /// Each share whose name was written by a transaction at or above `since`.
    pub names: Vec<NameRow>,
}

/// A share's name and creation time (which never changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRow {
    pub share_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// The names of `owner_id`'s shares written by transactions at or above `since` (0: all of
/// them), read in one snapshot with the horizon to ask from next time. Together with every
/// earlier answer for the same owner this is each share's current name, whatever order
/// transactions committed in: what an in-process name index keeps up to date with.
pub async fn names_since<'c>(db: impl PgExecutor<'c>, owner_id: &str, since: i64) -> Result<NamesSince, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8 AS horizon, m.share_id, m.name, m.created_at \
         FROM (VALUES (1)) AS one (x) LEFT JOIN my_share_links m ON m.owner_id = $1 AND m.name_tx >= $2",
    )
    .bind(owner_id)
    .bind(since)
    .fetch_all(db)
    .await?;
    let mut out = NamesSince::default();
    for row in &rows {
        out.horizon = row.try_get("horizon")?;
        if let Some(share_id) = row.try_get::<Option<Uuid>, _>("share_id")? {
            out.names.push(NameRow {
                share_id,
                name: row.try_get("name")?,
                created_at: row.try_get("created_at")?,
            });
        }
    }
    Ok(out)
}

/// How many shares a search finds in all (its cursor and limit aside).
pub async fn count<'c>(db: impl PgExecutor<'c>, s: &Search) -> Result<i64, sqlx::Error> {
    let mut q = QueryBuilder::new("SELECT count(*) FROM my_share_links");
    push_conditions(&mut q, s);
    q.build_query_scalar().persistent(false).fetch_one(db).await
}

/// `%text%` with LIKE's wildcards in `text` taken literally.
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
