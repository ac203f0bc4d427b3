//! `bench http`: the service over real HTTP, started as its own process on a fresh database,
//! driven by many concurrent connections, each scenario beside PostgreSQL's ceiling for the
//! same shape of work measured in the same run.
//!
//! Scenarios: `create`, `download` (many shares), `hot` (one hot share), `my-links` (search a
//! user's 10,000 shares), `code` (argon2 under its cap, and what code guessing costs everyone
//! else), `mixed` (the day-to-day blend, long enough with `--duration` to be a soak run).

mod mixed;
mod scenarios;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sqlx::PgPool;

use super::report::{print_table, write_json};
use super::service::Service;
use super::{BenchArgs, RunStats, ceiling};
use crate::config::Config;
use crate::db::fresh::{drop_database, fresh_database};
use crate::db::{Database, pool_options};

/// The HTTP scenarios, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    /// Shares created (no code), 32 connections, beside single-row INSERTs.
    Create,
    /// Downloads on 10,000 distinct shares, 32 connections, beside single-row INSERTs.
    Download,
    /// Downloads on one share with a limit of 50,000, beside UPDATEs of one hot row.
    Hot,
    /// A user with 10,000 shares searching by name, first page, 16 connections.
    MyLinks,
    /// Opening a link with its code (argon2id under the cap), and downloads while 100 code
    /// attempts/s run.
    Code,
    /// 70% downloads, 20% list/search, 10% create/change; projection lag and memory sampled.
    Mixed,
}

/// What the scenarios share: the service, its seeded data and the ceilings measured so far.
pub(super) struct Bench {
    pub service: Service,
    pub pool: PgPool,
    pub client: reqwest::Client,
    /// Token of the user whose shares the recipients open (also an admin of the enterprise).
    pub owner: String,
    pub owner_id: String,
    /// The file every share shares.
    pub file: uuid::Uuid,
    pub warmup: Duration,
    pub measure: Duration,
    /// How many distinct shares to seed.
    pub distinct: usize,
    /// argon2 computations the service allows at once.
    pub argon2_cap: usize,
    /// The benchmark's configuration (for an in-process state beside the service).
    pub config: Config,
    links: Option<Arc<Vec<Link>>>,
    inserts: Option<RunStats>,
    progress: ProgressBar,
}

/// A seeded share: its id, link token and an open session on it.
#[derive(Debug, Clone)]
pub(super) struct Link {
    pub share_id: String,
    pub token: String,
    pub session: String,
}

/// A boxed request future (what the load loop runs).
pub(super) type Op = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

/// Runs the HTTP scenarios (all, or the ones named).
pub async fn run(
    args: &BenchArgs,
    only: &[Scenario],
    duration: Option<Duration>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let mut selected: Vec<Scenario> = if only.is_empty() {
        vec![
            Scenario::Create,
            Scenario::Download,
            Scenario::Hot,
            Scenario::MyLinks,
            Scenario::Code,
            Scenario::Mixed,
        ]
    } else {
        only.to_vec()
    };
    selected.sort();
    selected.dedup();
    let database = Database::open(config).await?;
    let (connect, name) = fresh_database(&database.connect, "benchhttp").await?;
    let mut bench_config = config.clone();
    bench_config.db_pool_size = 40;
    let pool = pool_options(&bench_config).connect_with(connect.clone()).await?;
    let secret: [u8; 32] = crate::crypto::random_bytes();
    let argon2_cap = config.argon2_concurrency;
    let service = Service::start(
        &connect,
        &secret,
        &[("SHARELEDGER_ARGON2_CONCURRENCY", argon2_cap.to_string())],
    )
    .await?;
    let progress = ProgressBar::new(selected.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    let result = async {
        let mut bench = Bench::new(
            service.clone(),
            pool.clone(),
            args.quick,
            argon2_cap,
            bench_config.clone(),
            progress.clone(),
        )
        .await?;
        let mut rows = Vec::new();
        for scenario in &selected {
            let measured = match scenario {
                Scenario::Create => scenarios::create(&mut bench).await?,
                Scenario::Download => vec![scenarios::download(&mut bench).await?],
                Scenario::Hot => vec![scenarios::hot(&mut bench).await?],
                Scenario::MyLinks => vec![scenarios::my_links(&mut bench).await?],
                Scenario::Code => scenarios::code(&mut bench).await?,
                Scenario::Mixed => {
                    let length = duration.unwrap_or(Duration::from_secs(if args.quick { 15 } else { 60 }));
                    vec![mixed::run(&mut bench, length).await?]
                }
            };
            let peak = service.peak_rss_kib() / 1024;
            rows.extend(measured.into_iter().map(|row| row.detail("service_peak_rss_mib", peak)));
            progress.inc(1);
        }
        anyhow::Ok(rows)
    }
    .await;
    progress.finish_and_clear();
    let rss = service.peak_rss_kib();
    service.stop().await;
    pool.close().await;
    if args.keep {
        eprintln!("kept database {name}");
    } else {
        drop_database(&database.connect, &name).await?;
    }
    database.close().await;
    let rows = result?;
    print_table(
        &format!(
            "bench http: the service over HTTP, load generator on the same machine (service peak RSS {} MiB)",
            rss / 1024
        ),
        &rows,
    );
    if let Some(path) = &args.json {
        write_json(path, &rows)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

impl Bench {
    async fn new(
        service: Service,
        pool: PgPool,
        quick: bool,
        argon2_cap: usize,
        config: Config,
        progress: ProgressBar,
    ) -> anyhow::Result<Bench> {
        let client = service.client();
        let owner_id = "bench-owner".to_owned();
        let owner = service.token(&owner_id, "bench", &["user", "admin"]);
        service
            .policy(&client, &owner, json!({"daily_quota": 1_000_000}))
            .await?;
        let file = service.upload(&client, &owner, "report.pdf", &vec![7u8; 4096]).await?;
        ceiling::prepare(&pool).await?;
        let (warmup, measure) = if quick {
            (Duration::from_millis(500), Duration::from_secs(4))
        } else {
            (Duration::from_secs(2), Duration::from_secs(10))
        };
        Ok(Bench {
            service,
            pool,
            client,
            owner,
            owner_id,
            file,
            warmup,
            measure,
            distinct: if quick { 1_000 } else { 10_000 },
            argon2_cap,
            config,
            links: None,
            inserts: None,
            progress,
        })
    }

    /// Says what runs now.
    pub fn step(&self, message: impl Into<std::borrow::Cow<'static, str>>) {
        self.progress.set_message(message);
    }

    /// The distinct shares (seeded on first use), each with an open session.
    pub async fn links(&mut self) -> anyhow::Result<Arc<Vec<Link>>> {
        if let Some(links) = &self.links {
            return Ok(links.clone());
        }
        self.step(format!("seeding {} shares and sessions", self.distinct));
        let links = Arc::new(seed_links(&self.service, &self.owner, self.file, self.distinct, json!({})).await?);
        // Measured as a database that has seen these rows: the planner's statistics are what
        // autovacuum would have gathered by then, not the empty table's (without them the
        // first search scenario ran on misestimated plans, 6x slower).
        sqlx::query("ANALYZE my_share_links, drive_items, share_secrets")
            .execute(&self.pool)
            .await?;
        self.settle().await?;
        // The seeding's dirty pages written out now, not inside what is measured next (as
        // `bench append` does before each side): how soon they would be flushed otherwise
        // depends on how fast the seeding went, which made the scenarios after it vary with it.
        self.step("checkpoint after the seeding");
        sqlx::query("CHECKPOINT").execute(&self.pool).await?;
        self.links = Some(links.clone());
        Ok(links)
    }

    /// Waits (2 minutes at most) until the service's asynchronous projections have applied
    /// everything seeded, so no scenario (or ceiling) is measured beside their catch-up.
    pub async fn settle(&self) -> anyhow::Result<()> {
        self.step("waiting for the projections to catch up with the seeding");
        let client = self.service.client();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let status = self
                .service
                .call(&client, "GET", "/api/v1/admin/projections", Some(&self.owner), None)
                .await?;
            let behind: i64 = status
                .as_array()
                .context("projection status is a list")?
                .iter()
                .map(|p| p["lag_events"].as_i64().unwrap_or(0))
                .sum();
            if behind == 0 {
                return Ok(());
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the projections are still {behind} events behind after 2 minutes"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// PostgreSQL's single-row INSERT transactions at 32 clients (measured once per run).
    pub async fn inserts(&mut self) -> RunStats {
        if let Some(stats) = &self.inserts {
            return stats.clone();
        }
        self.step("ceiling: single-row INSERT transactions, 32 clients");
        let stats = ceiling::single_row_inserts(&self.pool, 32, self.warmup, self.measure).await;
        self.inserts = Some(stats.clone());
        stats
    }
}

/// One download through a session; fails unless the bytes arrive.
pub(super) async fn download(
    client: &reqwest::Client,
    base: &str,
    link: &Link,
    file: uuid::Uuid,
) -> anyhow::Result<()> {
    let response = client
        .get(format!("{base}/api/v1/links/{}/items/{file}/download", link.token))
        .header("x-share-session", &link.session)
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "download: HTTP {}", response.status());
    response.bytes().await?;
    Ok(())
}

/// Creates a share of `file` named `name` over HTTP (must answer 201); returns its details.
pub(super) async fn create_share(
    client: &reqwest::Client,
    base: &str,
    owner: &str,
    file: uuid::Uuid,
    name: String,
) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{base}/api/v1/shares"))
        .bearer_auth(owner)
        .json(&json!({"items": [file], "name": name}))
        .send()
        .await?;
    anyhow::ensure!(response.status().as_u16() == 201, "create: HTTP {}", response.status());
    Ok(response.json().await?)
}

/// Creates `n` shares of `file` and opens a session on each.
pub(super) async fn seed_links(
    service: &Service,
    owner: &str,
    file: uuid::Uuid,
    n: usize,
    settings: Value,
) -> anyhow::Result<Vec<Link>> {
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
                let token = link_token(&created)?;
                let session = service.open(&client, &token).await?;
                done.lock().await.push(Link {
                    share_id: created["id"].as_str().context("no id")?.to_owned(),
                    token,
                    session,
                });
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

/// The link token of a created share.
pub(super) fn link_token(created: &Value) -> anyhow::Result<String> {
    let link = created["link"].as_str().context("no link")?;
    Ok(link
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned())
}
