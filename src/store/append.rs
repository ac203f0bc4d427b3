//! Appending to the log: one SQL statement per batch, so an append in autocommit mode is one
//! round trip, and inside a caller's transaction one more statement.
//!
//! The statement checks each stream's expected head (the predecessor row must exist with the
//! expected hash) and inserts all rows, or none. Concurrent writers of the same version collide
//! on `events_stream_version_key`; both outcomes surface as `StoreError::Conflict`.

use chrono::{SubsecRound, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, PgConnection, Postgres, QueryBuilder, Row};

use super::chain::{HashInput, event_hash};
use super::error::{StoreError, is_unique_violation};
use super::event::{Cursor, NewEvent, StoredEvent, StreamHead};
use super::snapshot::{SnapshotRow, save_snapshots};

/// Each stream's new head, in the order the streams were given.
type Heads = Vec<(String, StreamHead)>;

/// Events to add to one stream, given the head the writer last saw.
#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub stream_id: String,
    pub expected: StreamHead,
    pub events: Vec<NewEvent>,
}

/// What an append stored.
#[derive(Debug, Clone)]
pub struct AppendOutcome {
    /// The stored events, in append order.
    pub events: Vec<StoredEvent>,
    /// The new head of each stream, in the order the streams were given.
    pub heads: Vec<(String, StreamHead)>,
    /// True when every event id was already in the log (an idempotent retry): nothing was added.
    pub already_stored: bool,
}

impl AppendOutcome {
    /// The catch-up cursor of the last event stored (what read-your-writes waits for).
    pub fn last_cursor(&self) -> Option<Cursor> {
        self.events.last().map(|e| e.cursor())
    }
}

const APPEND_ONE: &str = concat!(
    "INSERT INTO events (",
    appended_columns!(),
    r#")
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
WHERE $2 = 1 OR EXISTS (
    SELECT 1 FROM events WHERE stream_id = $1 AND stream_version = $2 - 1 AND hash = $10)
RETURNING global_position, tx_id::text
"#
);

const APPEND_MANY: &str = concat!(
    r#"
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::int8[], $3::uuid[], $4::text[], $5::int4[], $6::jsonb[],
                         $7::jsonb[], $8::timestamptz[], $9::timestamptz[], $10::bytea[],
                         $11::bytea[], $12::bool[])
        WITH ORDINALITY AS u(stream_id, stream_version, event_id, event_type, schema_version,
                             payload, metadata, occurred_at, recorded_at, prev_hash, hash,
                             first_of_stream, ord)
), ready AS (
    SELECT bool_and(NOT u.first_of_stream OR u.stream_version = 1 OR EXISTS (
               SELECT 1 FROM events e
               WHERE e.stream_id = u.stream_id AND e.stream_version = u.stream_version - 1
                 AND e.hash = u.prev_hash)) AS ok
    FROM input u
)
INSERT INTO events ("#,
    appended_columns!(),
    r#")
SELECT u.stream_id, u.stream_version, u.event_id, u.event_type, u.schema_version, u.payload,
       u.metadata, u.occurred_at, u.recorded_at, u.prev_hash, u.hash
FROM input u, ready
WHERE ready.ok
ORDER BY u.ord
RETURNING global_position, tx_id::text
"#
);

/// The CTEs `appended` (one event, `$1`..`$11` in `event_arguments`' order, written if its
/// predecessor has the hash `$10`) and `snapshot` (the stream's state after it, `$12` and
/// `$13`): the snapshot row is written only when the event is (it selects from the insert's
/// result), and only ever moves forward.
macro_rules! appended_with_snapshot {
    () => {
        concat!(
            "appended AS (INSERT INTO events (",
            appended_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             WHERE ($2 = 1 OR EXISTS ( \
                 SELECT 1 FROM events WHERE stream_id = $1 AND stream_version = $2 - 1 AND hash = $10)) \
             RETURNING global_position, tx_id), snapshot AS (",
            snapshot_insert!(),
            "SELECT $1, $2, $11, $12, $13 FROM appended",
            snapshot_upsert!(),
            ")"
        )
    };
}

/// What every statement built on `appended` answers: the event's position and transaction.
macro_rules! select_appended {
    () => {
        " SELECT global_position, tx_id::text FROM appended"
    };
}

/// One event and the stream's snapshot after it, in one statement.
const APPEND_ONE_WITH_SNAPSHOT: &str = concat!("WITH ", appended_with_snapshot!(), select_appended!());

/// The state to store as a stream's snapshot beside an append.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotWrite<'a> {
    pub state_schema: i32,
    pub state: &'a serde_json::Value,
}

/// Appends to the streams and stores each one's snapshot at its new head (`snapshots[i]` for
/// `appends[i]`), atomically. A single event (the common command, and a batch of one) takes one
/// statement; more take the batch statement and one for all the snapshots.
pub async fn append_with_snapshots(
    conn: &mut PgConnection,
    appends: &[StreamAppend],
    snapshots: &[SnapshotWrite<'_>],
) -> Result<AppendOutcome, StoreError> {
    if appends.len() != snapshots.len() {
        return Err(StoreError::Corrupt(format!(
            "{} appends but {} snapshots",
            appends.len(),
            snapshots.len()
        )));
    }
    if let ([append], [snapshot]) = (appends, snapshots)
        && append.events.len() == 1
    {
        return append_one_with_snapshot(conn, append, *snapshot).await;
    }
    let outcome = append_on(&mut *conn, appends).await?;
    let rows: Vec<SnapshotRow<'_>> = outcome
        .heads
        .iter()
        .zip(snapshots)
        .map(|((stream_id, head), snapshot)| SnapshotRow {
            stream_id,
            head: *head,
            state_schema: snapshot.state_schema,
            state: snapshot.state,
        })
        .collect();
    save_snapshots(&mut *conn, &rows).await?;
    Ok(outcome)
}

async fn append_one_with_snapshot(
    conn: &mut PgConnection,
    append: &StreamAppend,
    snapshot: SnapshotWrite<'_>,
) -> Result<AppendOutcome, StoreError> {
    let recorded_at = Utc::now().trunc_subsecs(6);
    let (mut events, heads) = chain_batch(std::slice::from_ref(append), recorded_at)?;
    let e = &events[0];
    let rows = sqlx::query_with(APPEND_ONE_WITH_SNAPSHOT, with_snapshot_arguments(e, snapshot)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(|err| classify_insert_error(err, std::slice::from_ref(append)))?;
    fill_positions(&mut events, rows, std::slice::from_ref(append))?;
    Ok(AppendOutcome {
        events,
        heads,
        already_stored: false,
    })
}

/// One data-modifying statement to run inside a stream's first append (`append_firsts_fused`),
/// as a common table expression: it pushes its SQL (no `WITH`, no name, no semicolon) and binds
/// its values. A write reads the appended event's `global_position` and `tx_id` from the CTE
/// whose name it is given (no row there: the event was not written, so neither is it). A gate
/// runs before the event: the event and every write happen only if it returns a row, and it
/// must write nothing when it returns none.
pub struct FusedWrite(Box<PushSql>);

/// Pushes SQL and its bound values onto a statement being built; the `&str` names the CTE that
/// holds the appended event.
type PushSql = dyn FnOnce(&mut QueryBuilder<Postgres>, &str) + Send;

impl FusedWrite {
    /// A statement pushed by `push`.
    pub fn new(push: impl FnOnce(&mut QueryBuilder<Postgres>, &str) + Send + 'static) -> Self {
        Self(Box::new(push))
    }
}

impl std::fmt::Debug for FusedWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FusedWrite")
    }
}

/// A stream's first event, chained and hashed, before it is stored: what `append_firsts_fused`
/// writes, and what the fused writes are built from (its position is not known yet: 0).
#[derive(Debug)]
pub struct FirstAppend {
    event: StoredEvent,
    head: (String, StreamHead),
}

impl FirstAppend {
    /// Chains the single event of a new stream; `None` for anything else (more events, or a
    /// stream expected to have some already).
    pub fn prepare(append: &StreamAppend) -> Result<Option<Self>, StoreError> {
        if append.expected != StreamHead::EMPTY || append.events.len() != 1 {
            return Ok(None);
        }
        let (mut events, mut heads) = chain_batch(std::slice::from_ref(append), Utc::now().trunc_subsecs(6))?;
        match (events.pop(), heads.pop()) {
            (Some(event), Some(head)) => Ok(Some(Self { event, head })),
            _ => Ok(None),
        }
    }

    /// The event as it will be stored, but with position and transaction id 0.
    pub fn events(&self) -> &[StoredEvent] {
        std::slice::from_ref(&self.event)
    }
}

/// A new stream's first event with everything written beside it: its snapshot, an optional
/// gate, and the hooks' writes (see `FusedWrite`).
#[derive(Debug)]
pub struct FusedFirst {
    pub first: FirstAppend,
    pub state_schema: i32,
    pub state: serde_json::Value,
    pub gate: Option<FusedWrite>,
    pub writes: Vec<FusedWrite>,
}

/// Writes new streams' first events, their snapshots and their writes in one statement, so in
/// autocommit mode one round trip and one transaction for all of them. Each one is written only
/// if its own gate (if any) lets it through: `None` in its place means its gate returned no row
/// and nothing of it was written; the others are not affected. Anything else that fails (a
/// stream that exists after all collides on the events' unique key: `StoreError::Conflict`)
/// rolls back the whole statement, every gate's work with it.
///
/// Two gates in one statement must not write the same row (a row can be changed once per
/// statement); the caller keeps them apart.
pub async fn append_firsts_fused(
    conn: &mut PgConnection,
    items: Vec<FusedFirst>,
) -> Result<Vec<Option<AppendOutcome>>, StoreError> {
    let mut q = QueryBuilder::new("WITH ");
    let mut firsts = Vec::with_capacity(items.len());
    for (k, item) in items.into_iter().enumerate() {
        let FusedFirst {
            first,
            state_schema,
            state,
            gate,
            writes,
        } = item;
        let appended = format!("appended_{k}");
        if k > 0 {
            q.push(", ");
        }
        let gated = gate.is_some();
        if let Some(FusedWrite(push)) = gate {
            q.push(format_args!("gate_{k} AS ("));
            push(&mut q, &appended);
            q.push("), ");
        }
        let e = &first.event;
        q.push(format_args!(
            "{appended} AS (INSERT INTO events ({}) SELECT ",
            appended_columns!()
        ));
        event_values(&mut q.separated(", "), e)?;
        if gated {
            q.push(format_args!(" WHERE EXISTS (SELECT 1 FROM gate_{k})"));
        }
        q.push(format_args!(
            " RETURNING global_position, tx_id), snapshot_{k} AS ({}SELECT ",
            snapshot_insert!()
        ));
        let mut values = q.separated(", ");
        values.push_bind(&e.stream_id);
        values.push_bind(e.stream_version);
        values.push_bind(&e.hash[..]);
        values.push_bind(state_schema);
        values.push_bind(&state);
        q.push(format_args!(" FROM {appended}{})", snapshot_upsert!()));
        for (i, FusedWrite(push)) in writes.into_iter().enumerate() {
            q.push(format_args!(", write_{k}_{i} AS ("));
            push(&mut q, &appended);
            q.push(")");
        }
        firsts.push(first);
    }
    for k in 0..firsts.len() {
        if k > 0 {
            q.push(" UNION ALL");
        }
        q.push(format_args!(
            " SELECT {k}, global_position, tx_id::text FROM appended_{k}"
        ));
    }
    let appends: Vec<StreamAppend> = firsts
        .iter()
        .map(|f| StreamAppend {
            stream_id: f.event.stream_id.clone(),
            expected: StreamHead::EMPTY,
            events: Vec::new(),
        })
        .collect();
    let rows = q
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(|err| classify_insert_error(err, &appends))?;
    let mut stored: Vec<Option<(i64, u64)>> = vec![None; firsts.len()];
    for row in rows {
        let k: i32 = row.try_get(0)?;
        let slot = usize::try_from(k)
            .ok()
            .and_then(|k| stored.get_mut(k))
            .ok_or_else(|| StoreError::Corrupt(format!("an append answered for item {k}")))?;
        *slot = Some(position_and_tx(&row, 1)?);
    }
    Ok(firsts
        .into_iter()
        .zip(stored)
        .map(|(FirstAppend { mut event, head }, stored)| {
            stored.map(|(position, tx_id)| {
                (event.global_position, event.tx_id) = (position, tx_id);
                AppendOutcome {
                    events: vec![event],
                    heads: vec![head],
                    already_stored: false,
                }
            })
        })
        .collect())
}

fn fill_positions(events: &mut [StoredEvent], rows: Vec<PgRow>, appends: &[StreamAppend]) -> Result<(), StoreError> {
    if rows.len() != events.len() {
        return Err(conflict(appends));
    }
    for (event, row) in events.iter_mut().zip(rows) {
        (event.global_position, event.tx_id) = position_and_tx(&row, 0)?;
    }
    Ok(())
}

/// An appended event's position and transaction id (sent as text: `xid8` has no binary
/// decoding here), in columns `at` and `at + 1` of `row`.
fn position_and_tx(row: &PgRow, at: usize) -> Result<(i64, u64), StoreError> {
    let tx: String = row.try_get(at + 1)?;
    let tx_id = tx.parse().map_err(|_| StoreError::Corrupt(format!("tx_id {tx:?}")))?;
    Ok((row.try_get(at)?, tx_id))
}

/// Chains, hashes and inserts the batch on `conn` (autocommit, or inside the caller's
/// transaction). Atomic: every event or none.
pub async fn append_on(conn: &mut PgConnection, appends: &[StreamAppend]) -> Result<AppendOutcome, StoreError> {
    let recorded_at = Utc::now().trunc_subsecs(6);
    let (mut events, heads) = chain_batch(appends, recorded_at)?;
    if events.is_empty() {
        return Ok(AppendOutcome {
            events,
            heads,
            already_stored: false,
        });
    }
    let rows = if events.len() == 1 {
        insert_one(conn, &events[0]).await
    } else {
        insert_many(conn, &events).await
    }
    .map_err(|e| classify_insert_error(e, appends))?;
    fill_positions(&mut events, rows, appends)?;
    Ok(AppendOutcome {
        events,
        heads,
        already_stored: false,
    })
}

/// Assigns versions and hashes; positions and tx ids are filled in after the insert.
fn chain_batch(
    appends: &[StreamAppend],
    recorded_at: chrono::DateTime<Utc>,
) -> Result<(Vec<StoredEvent>, Heads), StoreError> {
    let mut events = Vec::new();
    let mut heads = Vec::with_capacity(appends.len());
    for append in appends {
        if appends.iter().filter(|a| a.stream_id == append.stream_id).count() > 1 {
            return Err(StoreError::Corrupt(format!(
                "stream {} appears twice in one batch",
                append.stream_id
            )));
        }
        let mut head = append.expected;
        for new in &append.events {
            let version = head.version + 1;
            let hash = event_hash(
                &head.hash,
                &HashInput {
                    stream_id: &append.stream_id,
                    stream_version: version,
                    event_id: &new.event_id,
                    event_type: &new.event_type,
                    schema_version: new.schema_version,
                    payload: &new.payload,
                    metadata: &new.metadata,
                    occurred_at: &new.occurred_at,
                    recorded_at: &recorded_at,
                },
            );
            events.push(StoredEvent {
                global_position: 0,
                tx_id: 0,
                stream_id: append.stream_id.clone(),
                stream_version: version,
                event_id: new.event_id,
                event_type: new.event_type.clone(),
                schema_version: new.schema_version,
                payload: new.payload.clone().into(),
                metadata: new.metadata.clone().into(),
                occurred_at: new.occurred_at,
                recorded_at,
                prev_hash: head.hash,
                hash,
            });
            head = StreamHead { version, hash };
        }
        heads.push((append.stream_id.clone(), head));
    }
    Ok((events, heads))
}

/// An event's columns as `$1`..`$11`, in the order of `APPEND_ONE`.
fn event_arguments(e: &StoredEvent) -> Result<PgArguments, sqlx::Error> {
    let mut args = PgArguments::default();
    event_values(&mut args, e)?;
    Ok(args)
}

/// Where an event's values go: a prepared statement's arguments (`$1`..`$11`), or a statement
/// being built (`append_firsts_fused`).
trait Values {
    fn value<'t, T: sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>>(&mut self, value: T) -> Result<(), sqlx::Error>;
}

impl Values for PgArguments {
    fn value<'t, T: sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>>(&mut self, value: T) -> Result<(), sqlx::Error> {
        add(self, value)
    }
}

impl<Sep: std::fmt::Display> Values for sqlx::query_builder::Separated<'_, Postgres, Sep> {
    fn value<'t, T: sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>>(&mut self, value: T) -> Result<(), sqlx::Error> {
        self.push_bind(value);
        Ok(())
    }
}

/// The event's values in the order of `appended_columns!`.
fn event_values(to: &mut impl Values, e: &StoredEvent) -> Result<(), sqlx::Error> {
    to.value(&e.stream_id)?;
    to.value(e.stream_version)?;
    to.value(e.event_id)?;
    to.value(&e.event_type)?;
    to.value(e.schema_version)?;
    to.value(e.payload.value())?;
    to.value(e.metadata.value())?;
    to.value(e.occurred_at)?;
    to.value(e.recorded_at)?;
    to.value(&e.prev_hash[..])?;
    to.value(&e.hash[..])?;
    Ok(())
}

/// The event's columns, then the snapshot's schema and state (`$12`, `$13`):
/// `appended_with_snapshot`'s values.
fn with_snapshot_arguments(e: &StoredEvent, snapshot: SnapshotWrite<'_>) -> Result<PgArguments, sqlx::Error> {
    let mut args = event_arguments(e)?;
    add(&mut args, snapshot.state_schema)?;
    add(&mut args, snapshot.state)?;
    Ok(args)
}

fn add<'t, T: sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>>(
    args: &mut PgArguments,
    value: T,
) -> Result<(), sqlx::Error> {
    args.add(value).map_err(sqlx::Error::Encode)
}

async fn insert_one(conn: &mut PgConnection, e: &StoredEvent) -> Result<Vec<PgRow>, sqlx::Error> {
    sqlx::query_with(APPEND_ONE, event_arguments(e)?).fetch_all(conn).await
}

async fn insert_many(conn: &mut PgConnection, events: &[StoredEvent]) -> Result<Vec<PgRow>, sqlx::Error> {
    let mut first = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        first.push(i == 0 || events[i - 1].stream_id != e.stream_id);
    }
    sqlx::query(APPEND_MANY)
        .bind(events.iter().map(|e| e.stream_id.clone()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.stream_version).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event_type.clone()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.schema_version).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.payload.value().clone()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.metadata.value().clone()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.recorded_at).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.prev_hash.to_vec()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.hash.to_vec()).collect::<Vec<_>>())
        .bind(first)
        .fetch_all(conn)
        .await
}

fn conflict(appends: &[StreamAppend]) -> StoreError {
    StoreError::Conflict {
        streams: appends.iter().map(|a| a.stream_id.clone()).collect(),
    }
}

fn classify_insert_error(e: sqlx::Error, appends: &[StreamAppend]) -> StoreError {
    if is_unique_violation(&e, "events_stream_version_key") || is_unique_violation(&e, "events_event_id_key") {
        // An event id seen before is either an idempotent retry (the caller checks) or a
        // collision with a concurrent writer; both are resolved by looking again.
        conflict(appends)
    } else {
        StoreError::from(e)
    }
}
