//! Benchmarks, reported as ratios against PostgreSQL's own ceiling measured in the same run.
//! Never timed assertions in the test suite.

mod append;
mod ceiling;
mod driver;
mod http;
mod rebuild;
mod report;
pub mod service;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::config::Config;

pub use driver::{RunStats, run_timed};
pub use report::{Figures, Measurement, write_json};

/// Benchmark commands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Appends/s through the event store at 1, 8 and 32 writers, 1- and 10-event transactions,
    /// beside plain INSERTs of the same rows through the same pool.
    Append(BenchArgs),
    /// The service over HTTP (create, download on many shares and on one hot share, my links
    /// search, open with a code, a mixed load), beside the matching PostgreSQL ceilings.
    Http {
        #[command(flatten)]
        args: BenchArgs,
        /// Run only these scenarios (repeatable; default: all).
        #[arg(long = "scenario", value_enum, value_name = "NAME")]
        scenarios: Vec<http::Scenario>,
        /// How long the mixed scenario runs, in seconds (default 60; 15 with --quick). A soak
        /// run: `--scenario mixed --duration 1800`.
        #[arg(long, value_name = "SECONDS")]
        duration: Option<u64>,
    },
    /// Rebuild every projection from a realistic log, beside the raw sequential read of the
    /// same events.
    Rebuild {
        #[command(flatten)]
        args: BenchArgs,
        /// How many events to seed (default 1,000,000; 100,000 with --quick).
        #[arg(long)]
        events: Option<u64>,
        /// Rebuild only these projections (repeatable; default: every projection).
        #[arg(long = "projection", value_name = "NAME")]
        projections: Vec<String>,
        /// Reuse a database kept by an earlier `--keep` run instead of seeding a new one.
        #[arg(long, value_name = "NAME")]
        database: Option<String>,
        /// Rounds of the ceiling and the rebuild, one after the other; the median of each is
        /// reported.
        #[arg(long, default_value_t = 3, value_name = "N")]
        rounds: u32,
    },
}

/// Options shared by the benchmarks.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Shorter runs (about a minute in all).
    #[arg(long)]
    pub quick: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Keep the benchmark's database afterwards (its name is printed) for inspection.
    #[arg(long)]
    pub keep: bool,
}

/// Runs a benchmark command.
pub async fn run(cmd: BenchCommand, config: Config) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Append(args) => append::run(&args, &config).await,
        BenchCommand::Http {
            args,
            scenarios,
            duration,
        } => http::run(&args, &scenarios, duration.map(std::time::Duration::from_secs), &config).await,
        BenchCommand::Rebuild {
            args,
            events,
            projections,
            database,
            rounds,
        } => rebuild::run(&args, events, &projections, database.as_deref(), rounds, &config).await,
    }
}
