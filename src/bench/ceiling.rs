//! PostgreSQL's own ceilings, measured through a pool in the same run: what the database does
//! for the same shape of work with nothing of ours around it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{RunStats, run_timed};

/// Creates the tables the ceilings write to.
pub async fn prepare(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_raw_events (LIKE events INCLUDING ALL)")
        .execute(pool)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_hot (id int PRIMARY KEY, n bigint NOT NULL)")
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO bench_hot VALUES (1, 0) ON CONFLICT DO NOTHING")
        .execute(pool)
        .await?;
    Ok(())
}

type Op = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send>>;

/// Single-row INSERT transactions (an event-shaped row each), `clients` at a time.
pub async fn single_row_inserts(pool: &PgPool, clients: usize, warmup: Duration, measure: Duration) -> RunStats {
    let payload = json!({ "share_id": Uuid::now_v7(), "item_id": Uuid::now_v7(), "bytes": 4096 });
    let meta = json!({ "actor": "bench", "actor_kind": "anonymous", "ip": "127.0.0.1", "user_agent": "bench" });
    run_timed(clients, warmup, measure, |worker| {
        let (pool, payload, meta) = (pool.clone(), payload.clone(), meta.clone());
        let stream = format!("ceiling-{worker}-{}", Uuid::new_v4().simple());
        let version = Arc::new(AtomicI64::new(0));
        move || -> Op {
            let (pool, payload, meta, stream) = (pool.clone(), payload.clone(), meta.clone(), stream.clone());
            let v = version.fetch_add(1, Ordering::Relaxed) + 1;
            Box::pin(async move {
                let now = Utc::now();
                sqlx::query(
                    "INSERT INTO bench_raw_events (stream_id, stream_version, event_id, event_type, schema_version, payload, \
                     metadata, occurred_at, recorded_at, prev_hash, hash) VALUES ($1, $2, $3, 'FileDownloaded', 1, $4, $5, $6, $6, $7, $7)",
                )
                .bind(stream)
                .bind(v)
                .bind(Uuid::now_v7())
                .bind(payload)
                .bind(meta)
                .bind(now)
                .bind(vec![7u8; 32])
                .execute(&pool)
                .await?;
                Ok(())
            })
        }
    })
    .await
}

/// Single-row UPDATE transactions on one hot row, `clients` at a time.
pub async fn hot_row_updates(pool: &PgPool, clients: usize, warmup: Duration, measure: Duration) -> RunStats {
    run_timed(clients, warmup, measure, |_| {
        let pool = pool.clone();
        move || -> Op {
            let pool = pool.clone();
            Box::pin(async move {
                sqlx::query("UPDATE bench_hot SET n = n + 1 WHERE id = 1")
                    .execute(&pool)
                    .await?;
                Ok(())
            })
        }
    })
    .await
}
