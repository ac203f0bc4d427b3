//! `projections`: status and rebuilds from the command line.

use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use shareledger_projections::projection::{ALL, Projection};

use crate::config::Config;
use crate::db::Database;
use crate::state::AppState;

/// Projection commands.
#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Every projection's position, lag and state.
    Status,
    /// Rebuild from the log into fresh tables and swap them in when caught up; the service keeps
    /// answering from the old tables meanwhile.
    Rebuild {
        /// The projection (see `status`).
        name: Option<String>,
        /// All projections, reading the log once.
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
}

/// Runs a `projections` subcommand.
pub async fn run(cmd: ProjectionsCommand, mut config: Config) -> anyhow::Result<ExitCode> {
    // A rebuild reads the whole log and builds indexes: long statements are the point.
    config.db_slow_statement = std::time::Duration::ZERO;
    let database = Database::open(&config).await?;
    crate::db::migrate(&database.pool).await?;
    let result = match cmd {
        ProjectionsCommand::Status => status(&config, &database).await,
        ProjectionsCommand::Rebuild { name, all } => rebuild(&database, name, all).await,
    };
    database.close().await;
    result
}

async fn status(config: &Config, database: &Database) -> anyhow::Result<ExitCode> {
    let state = AppState::new(config.clone(), database.pool.clone())?;
    println!(
        "{:<20} {:<7} {:<22} {:>12} {:>10} {:>10}  state",
        "projection", "kind", "position", "applied", "lag", "lag s"
    );
    for p in crate::service::projections::status(&state)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.detail))?
    {
        println!(
            "{:<20} {:<7} {:<22} {:>12} {:>10} {:>10.1}  {}",
            p.name,
            p.kind,
            p.position.unwrap_or_else(|| "-".into()),
            p.events_applied.map_or("-".into(), |n| n.to_string()),
            p.lag_events,
            p.lag_seconds,
            p.state
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn rebuild(database: &Database, name: Option<String>, all: bool) -> anyhow::Result<ExitCode> {
    let projections: Vec<&'static dyn Projection> = match (name, all) {
        (_, true) => ALL.to_vec(),
        (Some(n), false) => vec![shareledger_projections::projection::find(&n).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|p| p.name()).collect();
            anyhow::anyhow!("no projection {n:?}; there are: {}", names.join(", "))
        })?],
        (None, false) => anyhow::bail!("name a projection, or --all"),
    };
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&database.pool)
        .await?;
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0)).with_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} events  {per_sec}  ETA {eta}")
            .expect("valid template"),
    );
    let started = Instant::now();
    let done =
        crate::service::projections::run_rebuild(&database.connect, &projections, |n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    println!(
        "rebuilt {} from {} events in {:.1}s: {:.0} events/s",
        names.join(", "),
        done.events,
        started.elapsed().as_secs_f64(),
        done.events_per_second()
    );
    Ok(ExitCode::SUCCESS)
}
