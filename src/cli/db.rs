//! `db`: the embedded cluster, for developers and scripts (the test suite's throwaway server).

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::db::embedded::{ClusterOptions, DB_NAME, EmbeddedPostgres};

/// Embedded cluster commands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Start the cluster (creating it on first use) and leave it running; prints its URL.
    Start {
        /// Trade durability for speed (no fsync). Only for throwaway clusters; applies when the
        /// cluster is created.
        #[arg(long)]
        ephemeral: bool,
    },
    /// Stop the cluster, whoever started it.
    Stop,
}

/// Runs a `db` subcommand.
pub async fn run(cmd: DbCommand, config: Config) -> anyhow::Result<ExitCode> {
    match cmd {
        DbCommand::Start { ephemeral } => {
            let cluster = EmbeddedPostgres::start(&config.data_dir, ClusterOptions { ephemeral }).await?;
            println!("{}", cluster.url(DB_NAME));
            cluster.pin()?;
        }
        DbCommand::Stop => {
            let stopped = EmbeddedPostgres::stop_cluster(&config.data_dir).await?;
            eprintln!("{}", if stopped { "stopped" } else { "not running" });
        }
    }
    Ok(ExitCode::SUCCESS)
}
