//! `bench http`: the service over real HTTP, started as its own process on a fresh database,
//! driven by many concurrent connections, each scenario beside PostgreSQL's ceiling for the
//! same shape of work measured in the same run.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sqlx::PgPool;

use super::ceiling;
use super::report::{Figures, Measurement, print_table, write_json};
use super::service::Service;
use super::{BenchArgs, run_timed};
use crate::config::Config;
use crate::db::fresh::{drop_database, fresh_database};
use crate::db::{Database, pool_options};

/// Runs the HTTP scenarios.
pub async fn run(args: &BenchArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let database = Database::open(config).await?;
    let (connect, name) = fresh_database(&database.connect, "benchhttp").await?;
    let mut bench_config = config.clone();
    bench_config.db_pool_size = 40;
    let pool = pool_options(&bench_config).connect_with(connect.clone()).await?;
    let secret: [u8; 32] = crate::crypto::random_bytes();
    let service = Service::start(&connect, &secret).await?;
    let result = scenarios(args, &pool, &service).await;
    let rss = service.peak_rss_kib();
    service.stop().await;
    pool.close().await;
    drop_database(&database.connect, &name).await?;
    database.close().await;
    let mut rows = result?;
    for row in rows.iter_mut() {
        row.figures.what = format!("{} (service peak RSS {} MiB)", row.figures.what, rss / 1024);
    }
    print_table(
        "bench http: the service over HTTP, 2 worker threads per side, same machine",
        &rows,
    );
    if let Some(path) = &args.json {
        write_json(path, &rows)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn scenarios(args: &BenchArgs, pool: &PgPool, service: &Service) -> anyhow::Result<Vec<Measurement>> {
    let (warmup, measure) = if args.quick {
        (Duration::from_millis(500), Duration::from_secs(4))
    } else {
        (Duration::from_secs(2), Duration::from_secs(10))
    };
    let distinct = if args.quick { 1_000 } else { 10_000 };
    let progress = ProgressBar::new(5).with_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    let client = service.client();
    let owner = service.token("bench-owner", "bench", &["user", "admin"]);
    service
        .call(
            &client,
            "PUT",
            "/api/v1/admin/policy",
            Some(&owner),
            Some(json!({"daily_quota": 1_000_000})),
        )
        .await?;
    let file = service.upload(&client, &owner, "report.pdf", &vec![7u8; 4096]).await?;
    let mut rows = Vec::new();

    progress.set_message(format!("seeding {distinct} shares and sessions"));
    let links = seed_links(service, &owner, file, distinct, json!({})).await?;
    progress.inc(1);

    progress.set_message("ceiling: single-row INSERT transactions, 32 clients");
    ceiling::prepare(pool).await?;
    let inserts = ceiling::single_row_inserts(pool, 32, warmup, measure).await;
    progress.inc(1);
    progress.set_message("download, distinct shares, 32 connections");
    let links = Arc::new(links);
    let stats = run_timed(32, warmup, measure, |worker| {
        let (client, links, base) = (client.clone(), links.clone(), service.base().to_owned());
        let mut next = worker;
        move || {
            let (token, session) = links[next % links.len()].clone();
            next += 32;
            let (client, base) = (client.clone(), base.clone());
            Box::pin(async move { download(&client, &base, &token, &session, file).await })
                as std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>
        }
    })
    .await;
    progress.inc(1);
    rows.push(Measurement::new(
        format!("download_{distinct}_shares"),
        32,
        1,
        Figures::from_stats("granted downloads over HTTP", &stats, 1),
        Figures::from_stats("single-row INSERT transactions, 32 clients", &inserts, 1),
        Some(0.5),
    ));

    progress.set_message("ceiling: single-row UPDATE of one hot row, 32 clients");
    let updates = ceiling::hot_row_updates(pool, 32, warmup, measure).await;
    progress.inc(1);
    progress.set_message("download, one hot share (limit 50,000), 32 connections");
    let hot = seed_links(service, &owner, file, 1, json!({"limits": {"download": 50_000}})).await?;
    let (hot_token, _) = hot[0].clone();
    let mut sessions = Vec::new();
    for _ in 0..32 {
        sessions.push(service.open(&client, &hot_token).await?);
    }
    let sessions = Arc::new(sessions);
    let (granted, refused, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let stats = run_timed(32, warmup, measure, |worker| {
        let (client, base, token, session) = (
            client.clone(),
            service.base().to_owned(),
            hot_token.clone(),
            sessions[worker].clone(),
        );
        let (granted, refused, failed) = (granted.clone(), refused.clone(), failed.clone());
        move || {
            let (client, base, token, session) = (client.clone(), base.clone(), token.clone(), session.clone());
            let (granted, refused, failed) = (granted.clone(), refused.clone(), failed.clone());
            Box::pin(async move {
                let status = client
                    .get(format!("{base}/api/v1/links/{token}/items/{file}/download"))
                    .header("x-share-session", &session)
                    .send()
                    .await?
                    .status();
                match status.as_u16() {
                    200 => granted.fetch_add(1, Ordering::Relaxed),
                    403 => refused.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                anyhow::ensure!(status.is_success(), "HTTP {status}");
                Ok(())
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>
        }
    })
    .await;
    progress.inc(1);
    progress.finish_and_clear();
    let (granted, refused, failed) = (
        granted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    // Exactness: every granted download is one event, and no more.
    let share_id: uuid::Uuid = sqlx::query_scalar("SELECT share_id FROM share_secrets WHERE token_hash = $1")
        .bind(&crate::crypto::tokens::token_hash(&hot_token)[..])
        .fetch_one(pool)
        .await?;
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'FileDownloaded' AND stream_id = $1")
            .bind(format!("share-{share_id}"))
            .fetch_one(pool)
            .await?;
    let mut figures = Figures::from_stats("granted downloads over HTTP, one share", &stats, 1);
    figures.what = format!(
        "{} (granted {granted}, events {events}, refused {refused}, other {failed}, exact: {})",
        figures.what,
        u64::try_from(events).unwrap_or(0) == granted
    );
    rows.push(Measurement::new(
        "download_hot_share".to_owned(),
        32,
        1,
        figures,
        Figures::from_stats("single-row UPDATE of one hot row, 32 clients", &updates, 1),
        Some(0.5),
    ));
    Ok(rows)
}

async fn download(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    session: &str,
    file: uuid::Uuid,
) -> anyhow::Result<()> {
    let response = client
        .get(format!("{base}/api/v1/links/{token}/items/{file}/download"))
        .header("x-share-session", session)
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
    response.bytes().await?;
    Ok(())
}

/// Creates `n` shares of `file` and opens a session on each: (link token, session).
async fn seed_links(
    service: &Service,
    owner: &str,
    file: uuid::Uuid,
    n: usize,
    settings: Value,
) -> anyhow::Result<Vec<(String, String)>> {
    let client = service.client();
    let done = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(n)));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, done, next, settings) = (client.clone(), done.clone(), next.clone(), settings.clone());
        let (service, owner) = (service.clone(), owner.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i as usize >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let mut body = json!({"items": [file], "name": format!("bench share {i}")});
                if let (Value::Object(b), Value::Object(s)) = (&mut body, &settings) {
                    b.extend(s.clone());
                }
                let created = service
                    .call(&client, "POST", "/api/v1/shares", Some(&owner), Some(body))
                    .await?;
                let link = created["link"].as_str().context("no link")?;
                let token = link.rsplit('/').next().unwrap_or_default().to_owned();
                let session = service.open(&client, &token).await?;
                done.lock().await.push((token, session));
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let links = Arc::try_unwrap(done)
        .map_err(|_| anyhow::anyhow!("seeders still running"))?
        .into_inner();
    Ok(links)
}
