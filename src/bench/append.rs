//! `bench append`: the event store's append throughput beside the raw INSERT ceiling.
//!
//! Ceiling: the same rows (same payload, same metadata, same columns and indexes, no triggers)
//! inserted with plain single-statement INSERTs through the same pool, in the same run.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::report::{Figures, Measurement, print_table, write_json};
use super::{BenchArgs, RunStats, run_timed};
use crate::config::Config;
use crate::db::fresh::{drop_database, fresh_database};
use crate::db::{Database, pool_options};
use crate::store::{EventMetadata, EventStore, NewEvent, StreamAppend, StreamHead};

const WRITERS: [usize; 3] = [1, 8, 32];
const BATCHES: [u64; 2] = [1, 10];

/// Runs every case and prints (and optionally writes) the comparison.
pub async fn run(args: &BenchArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let database = Database::open(config).await?;
    let (connect, name) = fresh_database(&database.connect, "bench").await?;
    let mut bench_config = config.clone();
    bench_config.db_pool_size = 40;
    let pool = pool_options(&bench_config).connect_with(connect).await?;
    sqlx::query("CREATE TABLE bench_raw_events (LIKE events INCLUDING ALL)")
        .execute(&pool)
        .await?;
    let (warmup, measure, rounds) = if args.quick {
        (Duration::from_millis(500), Duration::from_secs(3), 1)
    } else {
        (Duration::from_secs(1), Duration::from_secs(5), 3)
    };
    let cases: Vec<(usize, u64)> = WRITERS
        .iter()
        .flat_map(|&w| BATCHES.iter().map(move |&b| (w, b)))
        .collect();
    let progress = ProgressBar::new(cases.len() as u64 * 2 * rounds).with_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    let mut rows = Vec::new();
    for (writers, batch) in cases {
        // Alternate the two sides, each after a checkpoint (so no run pays for another's dirty
        // pages), and keep each side's median run.
        let (mut ceilings, mut stores) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            progress.set_message(format!("ceiling: INSERT, {writers} writers x {batch} events"));
            checkpoint(&pool).await?;
            let raw = |w| raw_insert_op(pool.clone(), w, batch);
            ceilings.push(run_timed(writers, warmup, measure, raw).await);
            progress.inc(1);
            progress.set_message(format!("store: append, {writers} writers x {batch} events"));
            checkpoint(&pool).await?;
            let append = |w| store_append_op(EventStore::new(pool.clone()), w, batch);
            stores.push(run_timed(writers, warmup, measure, append).await);
            progress.inc(1);
        }
        let (ceiling, ours) = (median_run(ceilings), median_run(stores));
        rows.push(Measurement::new(
            format!("append_{writers}w_{batch}e"),
            writers,
            batch,
            Figures::from_stats("event store append (chained, checked, notified)", &ours, batch),
            Figures::from_stats("plain INSERT of the same rows, same pool", &ceiling, batch),
            (writers == 32 && batch == 1).then_some(0.70),
        ));
    }
    progress.finish_and_clear();
    print_table(
        &format!(
            "bench append: median of {rounds} alternating run(s) of {:.1} s per side and case",
            measure.as_secs_f64()
        ),
        &rows,
    );
    if let Some(path) = &args.json {
        write_json(path, &rows)?;
        eprintln!("wrote {}", path.display());
    }
    pool.close().await;
    drop_database(&database.connect, &name).await?;
    database.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn checkpoint(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

fn median_run(mut runs: Vec<RunStats>) -> RunStats {
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    runs.swap_remove(runs.len() / 2)
}

fn payload() -> (Value, EventMetadata) {
    (
        json!({ "share_id": Uuid::now_v7(), "item_id": Uuid::now_v7(), "bytes": 123_456, "operation": "download" }),
        EventMetadata {
            actor: Some("bench-user".into()),
            actor_kind: Some("user".into()),
            enterprise: Some("bench-enterprise".into()),
            ip: Some("127.0.0.1".into()),
            user_agent: Some("shareledger-bench".into()),
            request_id: Some(Uuid::now_v7().to_string()),
            ..EventMetadata::default()
        },
    )
}

fn store_append_op(
    store: EventStore,
    worker: usize,
    batch: u64,
) -> impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::store::StoreError>> + Send>> {
    let stream_id = format!("bench-{worker}-{}", Uuid::new_v4().simple());
    let head = Arc::new(Mutex::new(StreamHead::EMPTY));
    let (payload, meta) = payload();
    move || {
        let store = store.clone();
        let head = head.clone();
        let stream_id = stream_id.clone();
        let events: Vec<NewEvent> = (0..batch)
            .map(|_| NewEvent::new("FileDownloaded", 1, payload.clone(), &meta, Utc::now()))
            .collect();
        Box::pin(async move {
            let mut head = head.lock().await;
            let outcome = store
                .append(&[StreamAppend {
                    stream_id: stream_id.clone(),
                    expected: *head,
                    events,
                }])
                .await?;
            *head = outcome.heads[0].1;
            Ok(())
        })
    }
}

fn raw_insert_op(
    pool: PgPool,
    worker: usize,
    batch: u64,
) -> impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send>> {
    let stream_id = format!("raw-{worker}-{}", Uuid::new_v4().simple());
    let version = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let (payload, meta) = payload();
    let meta = meta.to_value();
    move || {
        let pool = pool.clone();
        let first = version.fetch_add(batch as i64, std::sync::atomic::Ordering::Relaxed) + 1;
        let stream_id = stream_id.clone();
        let payload = payload.clone();
        let meta = meta.clone();
        Box::pin(async move {
            let now = Utc::now();
            let hash = vec![7u8; 32];
            if batch == 1 {
                sqlx::query(
                    "INSERT INTO bench_raw_events (stream_id, stream_version, event_id, event_type, schema_version, \
                     payload, metadata, occurred_at, recorded_at, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING global_position",
                )
                .bind(&stream_id)
                .bind(first)
                .bind(Uuid::now_v7())
                .bind("FileDownloaded")
                .bind(1i32)
                .bind(&payload)
                .bind(&meta)
                .bind(now)
                .bind(now)
                .bind(&hash)
                .bind(&hash)
                .fetch_all(&pool)
                .await?;
            } else {
                let n = batch as usize;
                sqlx::query(
                    "INSERT INTO bench_raw_events (stream_id, stream_version, event_id, event_type, schema_version, \
                     payload, metadata, occurred_at, recorded_at, prev_hash, hash) \
                     SELECT * FROM unnest($1::text[], $2::int8[], $3::uuid[], $4::text[], $5::int4[], $6::jsonb[], \
                     $7::jsonb[], $8::timestamptz[], $9::timestamptz[], $10::bytea[], $11::bytea[]) \
                     RETURNING global_position",
                )
                .bind(vec![stream_id.clone(); n])
                .bind((first..first + batch as i64).collect::<Vec<i64>>())
                .bind((0..n).map(|_| Uuid::now_v7()).collect::<Vec<_>>())
                .bind(vec!["FileDownloaded"; n])
                .bind(vec![1i32; n])
                .bind(vec![payload.clone(); n])
                .bind(vec![meta.clone(); n])
                .bind(vec![now; n])
                .bind(vec![now; n])
                .bind(vec![hash.clone(); n])
                .bind(vec![hash.clone(); n])
                .fetch_all(&pool)
                .await?;
            }
            Ok(())
        })
    }
}
