//! Rebuilding projections while the service keeps answering from the old tables.
//!
//! 1. Fresh copies of the projection's tables in a schema of its own (`rebuild_<name>`); the
//!    rebuild's connection puts that schema first on its `search_path`, so the projection's
//!    ordinary code writes into the copies.
//! 2. The whole log is replayed into them in batches (one reader, memory bounded by the batch).
//! 3. The swap, in one transaction: writers of the projection are held off (async: the runner's
//!    apply lock; inline: the tables' exclusive lock), the last events are applied, the copies
//!    replace the live tables, and an async projection's checkpoint moves to where the copies are.
//!    Readers see the old tables until that commit and the complete new ones after it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_util::TryStreamExt;
use futures_util::future::join_all;
use shareledger_domain::log::Cursor;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::projection::{Kind, Projection, RebuildState};
use crate::runner::{lock_key, log_error};
use crate::{ProjectionError, checkpoint, log};

/// A projection replayed into its shadow tables.
pub struct Shadow {
    pub projection: &'static dyn Projection,
    conn: PgConnection,
    /// How to open more connections to the same database (index builds side by side).
    connect: PgConnectOptions,
    pub cursor: Cursor,
    pub applied: i64,
    pub last_event_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Secondary indexes of the live tables, built on the shadows once the replay is done
    /// (one sorted build each, instead of maintaining them row by row).
    deferred_indexes: Vec<String>,
    /// Time spent applying events.
    pub apply_time: std::time::Duration,
    /// What the projection carries between the batches of the bulk replay (`apply_rebuild`);
    /// `None` once that is finished and `apply` has taken over.
    state: Option<RebuildState>,
}

fn schema(p: &dyn Projection) -> String {
    format!("rebuild_{}", p.name())
}

async fn exec(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(sql)).execute(conn).await.map(|_| ())
}

/// Creates the projection's empty shadow tables and a connection writing into them.
pub async fn prepare(
    connect: &PgConnectOptions,
    projection: &'static dyn Projection,
) -> Result<Shadow, ProjectionError> {
    let mut conn = PgConnection::connect_with(connect).await?;
    let schema = schema(projection);
    exec(&mut conn, format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await?;
    exec(&mut conn, format!("CREATE SCHEMA {schema}")).await?;
    let mut deferred_indexes = Vec::new();
    for table in projection.tables() {
        // Same columns, defaults and checks; the primary and unique keys (upserts need them)
        // under their own names; the other indexes later, also under their own names, so the
        // swapped-in tables are indistinguishable from migrated ones.
        exec(
            &mut conn,
            format!("CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL EXCLUDING INDEXES)"),
        )
        .await?;
        for (name, definition) in live_keys(&mut conn, table).await? {
            exec(
                &mut conn,
                format!("ALTER TABLE {schema}.{table} ADD CONSTRAINT {name} {definition}"),
            )
            .await?;
        }
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
             WHERE i.indrelid = ('public.' || $1)::regclass \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \
             ORDER BY i.indexrelid",
        )
        .bind(table)
        .fetch_all(&mut conn)
        .await?;
        for definition in indexes {
            deferred_indexes.push(definition.replacen(
                &format!(" ON public.{table} "),
                &format!(" ON {schema}.{table} "),
                1,
            ));
        }
    }
    exec(&mut conn, format!("SET search_path = {schema}, public")).await?;
    // Nobody relies on a shadow's batches until the swap, which commits durably; a crash before
    // it only means rebuilding again. So no waiting for the WAL to reach the disk per batch.
    exec(&mut conn, "SET synchronous_commit = off".to_owned()).await?;
    // The bulk statements of a rebuild run once each: compiling them to machine code (JIT)
    // costs more than it saves.
    exec(&mut conn, "SET jit = off".to_owned()).await?;
    let state = projection.prepare_rebuild(&mut conn).await?;
    Ok(Shadow {
        state: Some(state),
        projection,
        conn,
        connect: connect.clone(),
        cursor: Cursor::START,
        applied: 0,
        last_event_at: None,
        deferred_indexes,
        apply_time: std::time::Duration::ZERO,
    })
}

/// The primary and unique keys of a live table: (name, definition).
pub(crate) async fn live_keys(conn: &mut PgConnection, table: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = ('public.' || $1)::regclass AND contype IN ('p', 'u') ORDER BY conname",
    )
    .bind(table)
    .fetch_all(conn)
    .await
}

/// Replays the log into the shadows from where they stand until caught up, reading the log once
/// for all of them. Each shadow applies on its own task and connection from its own queue of at
/// most two batches, so a slow projection never holds a faster one back batch by batch, the
/// projections' own work spreads over the runtime's threads beside the reader and the decoder,
/// and memory stays bounded (the reader waits for the slowest). `progress` gets the number of
/// events every shadow has applied so far.
pub async fn replay(
    reader: &mut PgConnection,
    shadows: &mut Vec<Shadow>,
    batch: i64,
    mut progress: impl FnMut(u64),
) -> Result<u64, ProjectionError> {
    type Batch = std::sync::Arc<Vec<shareledger_domain::log::StoredEvent>>;
    let start = shadows.iter().map(|s| s.cursor).min().unwrap_or(Cursor::START);
    let (senders, receivers): (Vec<_>, Vec<_>) = shadows.iter().map(|_| tokio::sync::mpsc::channel::<Batch>(2)).unzip();
    let done: std::sync::Arc<Vec<AtomicU64>> = std::sync::Arc::new(shadows.iter().map(|_| AtomicU64::new(0)).collect());
    // Each applied batch ticks; the progress is reported here, from the slowest shadow.
    let (tick, mut ticks) = tokio::sync::mpsc::unbounded_channel::<()>();
    let read = async move {
        // One streaming query for the whole replay: the database produces rows while the
        // batches before are decoded and applied. Decoding (the JSON of payloads and metadata,
        // a third of the replay's own work) runs on a task of its own, so it can take another
        // core than the appliers.
        let started = Instant::now();
        let (to_decoder, mut decode) = tokio::sync::mpsc::channel::<Vec<PgRow>>(1);
        let decoder = tokio::spawn(async move {
            let mut total = 0u64;
            while let Some(rows) = decode.recv().await {
                let events = rows.iter().map(log::decode_event).collect::<Result<Vec<_>, _>>();
                drop(rows);
                let full: Batch = std::sync::Arc::new(events.map_err(log_error)?);
                total += full.len() as u64;
                for sender in &senders {
                    if sender.send(full.clone()).await.is_err() {
                        // That shadow failed; its own error is what the caller gets.
                        return Ok(total);
                    }
                }
            }
            Ok::<u64, ProjectionError>(total)
        });
        let mut stream = std::pin::pin!(log::stream_all_rows(&mut *reader, start));
        let mut rows = Vec::with_capacity(batch as usize);
        loop {
            let last = match stream.try_next().await? {
                Some(row) => {
                    rows.push(row);
                    if rows.len() < batch as usize {
                        continue;
                    }
                    false
                }
                None => true,
            };
            let full = std::mem::replace(&mut rows, Vec::with_capacity(batch as usize));
            if (!full.is_empty() && to_decoder.send(full).await.is_err()) || last {
                // (A closed decoder has met a failed shadow or a corrupt row: its result says.)
                break;
            }
        }
        drop(to_decoder);
        let total = match decoder.await {
            Ok(result) => result?,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        tracing::info!(read_seconds = started.elapsed().as_secs_f64(), "read the log");
        Ok::<u64, ProjectionError>(total)
    };
    let applies: Vec<_> = std::mem::take(shadows)
        .into_iter()
        .zip(receivers)
        .enumerate()
        .map(|(i, (mut shadow, mut receive))| {
            let (done, tick) = (done.clone(), tick.clone());
            tokio::spawn(async move {
                let applied = async {
                    while let Some(events) = receive.recv().await {
                        let started = Instant::now();
                        let from = events.partition_point(|e| e.cursor() <= shadow.cursor);
                        let mine = &events[from..];
                        if let Some(last) = mine.last() {
                            let mut tx = shadow.conn.begin().await?;
                            if let Some(state) = shadow.state.as_mut() {
                                shadow.projection.apply_rebuild(&mut tx, mine, state).await?;
                            } else {
                                shadow.projection.apply(&mut tx, mine).await?;
                            }
                            tx.commit().await?;
                            shadow.cursor = last.cursor();
                            shadow.applied += mine.len() as i64;
                            shadow.last_event_at = Some(last.recorded_at);
                        }
                        shadow.apply_time += started.elapsed();
                        done[i].fetch_add(events.len() as u64, Ordering::Relaxed);
                        // (Nobody listening means the replay is being dropped.)
                        let _ = tick.send(());
                    }
                    Ok::<(), ProjectionError>(())
                }
                .await;
                (shadow, applied)
            })
        })
        .collect();
    drop(tick);
    let report = async {
        while ticks.recv().await.is_some() {
            progress(done.iter().map(|d| d.load(Ordering::Relaxed)).min().unwrap_or(0));
        }
    };
    let (read, (), applied) = tokio::join!(read, report, join_all(applies));
    let mut failed = None;
    for joined in applied {
        let (shadow, result) = match joined {
            Ok(done) => done,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        shadows.push(shadow);
        failed = failed.or(result.err());
    }
    if let Some(error) = failed {
        return Err(error);
    }
    read
}

/// Finishes the bulk of the replay (see `Projection::finish_rebuild`) and builds the shadows'
/// deferred indexes; later events are applied as the live projection applies them.
pub async fn build_indexes(shadow: &mut Shadow) -> Result<(), ProjectionError> {
    let indexes = std::mem::take(&mut shadow.deferred_indexes);
    if shadow.state.is_none() && indexes.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    if let Some(state) = shadow.state.take() {
        shadow.projection.finish_rebuild(&mut shadow.conn, state).await?;
    }
    let finished = started.elapsed();
    // Each index build sorts on one core, and builds of one table do not block each other
    // (their lock, SHARE, allows another): two at a time, the shadow's connection and one more,
    // so a projection with several indexes does not finish on one core while the other idles.
    let (mut own, mut other) = (Vec::new(), Vec::new());
    for (i, definition) in indexes.into_iter().enumerate() {
        if i % 2 == 0 { &mut own } else { &mut other }.push(definition);
    }
    let connect = &shadow.connect;
    let other = async move {
        if !other.is_empty() {
            let mut conn = PgConnection::connect_with(connect).await?;
            build_all(&mut conn, other).await?;
            conn.close().await?;
        }
        Ok::<(), sqlx::Error>(())
    };
    let (own, other) = tokio::join!(build_all(&mut shadow.conn, own), other);
    own?;
    other?;
    tracing::info!(
        projection = shadow.projection.name(),
        finish_seconds = finished.as_secs_f64(),
        index_seconds = (started.elapsed() - finished).as_secs_f64(),
        "finished the bulk replay"
    );
    Ok(())
}

/// Runs index definitions one after the other on `conn`.
async fn build_all(conn: &mut PgConnection, definitions: Vec<String>) -> Result<(), sqlx::Error> {
    // Index builds sort: give them memory (this session only).
    exec(conn, "SET maintenance_work_mem = '256MB'".to_owned()).await?;
    for definition in definitions {
        exec(conn, definition).await?;
    }
    Ok(())
}

/// Swaps a caught-up shadow in for the live tables.
pub async fn swap(mut shadow: Shadow) -> Result<(), ProjectionError> {
    build_indexes(&mut shadow).await?;
    let p = shadow.projection;
    let (schema, retired) = (schema(p), format!("retired_{}", p.name()));
    let mut tx = shadow.conn.begin().await?;
    exec(&mut tx, "SET LOCAL synchronous_commit = on".to_owned()).await?;
    let tail = match p.kind() {
        Kind::Async => {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(lock_key("apply", p.name()))
                .execute(&mut *tx)
                .await?;
            let mut tail = Vec::new();
            loop {
                let more = log::read_all(&mut *tx, shadow.cursor, 10_000)
                    .await
                    .map_err(log_error)?;
                let Some(last) = more.last() else { break };
                shadow.cursor = last.cursor();
                tail.extend(more);
            }
            tail
        }
        Kind::Inline => {
            let tables: Vec<String> = p.tables().iter().map(|t| format!("public.{t}")).collect();
            exec(
                &mut tx,
                format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", tables.join(", ")),
            )
            .await?;
            // Nobody can be writing these tables now: every committed event counts, even those
            // above a visibility horizon held back by unrelated transactions.
            let tail = log::read_all_committed(&mut *tx, shadow.cursor)
                .await
                .map_err(log_error)?;
            if let Some(last) = tail.last() {
                shadow.cursor = last.cursor();
            }
            tail
        }
    };
    if let Some(last) = tail.last() {
        p.apply(&mut tx, &tail).await?;
        shadow.applied += tail.len() as i64;
        shadow.last_event_at = Some(last.recorded_at);
    }
    exec(&mut tx, format!("DROP SCHEMA IF EXISTS {retired} CASCADE")).await?;
    exec(&mut tx, format!("CREATE SCHEMA {retired}")).await?;
    for table in p.tables() {
        exec(&mut tx, format!("ALTER TABLE public.{table} SET SCHEMA {retired}")).await?;
        exec(&mut tx, format!("ALTER TABLE {schema}.{table} SET SCHEMA public")).await?;
    }
    if p.kind() == Kind::Async {
        checkpoint::set(&mut *tx, p.name(), shadow.cursor, shadow.applied, shadow.last_event_at).await?;
    }
    tx.commit().await?;
    exec(&mut shadow.conn, format!("DROP SCHEMA IF EXISTS {retired} CASCADE")).await?;
    exec(&mut shadow.conn, format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await?;
    Ok(())
}

/// Rows that differ between the live tables and the shadow copies (for tests and checks):
/// `(table, only in live, only in rebuilt)`.
pub async fn differences(shadow: &mut Shadow) -> Result<Vec<(String, i64, i64)>, ProjectionError> {
    build_indexes(shadow).await?;
    let schema = schema(shadow.projection);
    let mut out = Vec::new();
    for table in shadow.projection.tables() {
        let count =
            |a: &str, b: &str| format!("SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) d");
        let live: i64 = sqlx::query_scalar(AssertSqlSafe(count(
            &format!("public.{table}"),
            &format!("{schema}.{table}"),
        )))
        .fetch_one(&mut shadow.conn)
        .await?;
        let rebuilt: i64 = sqlx::query_scalar(AssertSqlSafe(count(
            &format!("{schema}.{table}"),
            &format!("public.{table}"),
        )))
        .fetch_one(&mut shadow.conn)
        .await?;
        out.push(((*table).to_owned(), live, rebuilt));
    }
    Ok(out)
}

/// Drops a shadow without swapping it in.
pub async fn discard(mut shadow: Shadow) -> Result<(), ProjectionError> {
    exec(
        &mut shadow.conn,
        format!("DROP SCHEMA IF EXISTS {} CASCADE", schema(shadow.projection)),
    )
    .await?;
    Ok(())
}

/// What a full rebuild did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rebuilt {
    pub projections: Vec<String>,
    pub events: u64,
    pub seconds: f64,
}

impl Rebuilt {
    /// Events read per second.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }
}

/// Rebuilds projections from the whole log and swaps each in when caught up.
pub async fn rebuild(
    connect: &PgConnectOptions,
    projections: &[&'static dyn Projection],
    batch: i64,
    progress: impl FnMut(u64),
) -> Result<Rebuilt, ProjectionError> {
    let started = Instant::now();
    let mut shadows = Vec::new();
    for p in projections {
        shadows.push(prepare(connect, *p).await?);
    }
    let mut reader = PgConnection::connect_with(connect).await?;
    let events = replay(&mut reader, &mut shadows, batch, progress).await?;
    for shadow in &shadows {
        tracing::info!(
            projection = shadow.projection.name(),
            apply_seconds = shadow.apply_time.as_secs_f64(),
            "replayed"
        );
    }
    // Finishing and indexing the shadows is the heavy part: all at once, each on its own
    // connection; the swaps themselves are short.
    for result in join_all(shadows.iter_mut().map(build_indexes)).await {
        result?;
    }
    for shadow in shadows {
        swap(shadow).await?;
    }
    Ok(Rebuilt {
        projections: projections.iter().map(|p| p.name().to_owned()).collect(),
        events,
        seconds: started.elapsed().as_secs_f64(),
    })
}
