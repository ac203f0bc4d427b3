//! `audit`: integrity checks for compliance officers.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::db::Database;
use crate::store::verify::verify_chains;

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every stream's hash chain and report each broken link.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `audit` subcommand. Exit code 1 when the log fails verification.
pub async fn run(cmd: AuditCommand, config: Config) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify { json } => {
            let database = Database::open(&config).await?;
            let started = std::time::Instant::now();
            let report = verify_chains(&database.pool, |_| {}).await;
            database.close().await;
            let report = report?;
            let seconds = started.elapsed().as_secs_f64();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for p in &report.problems {
                    println!(
                        "PROBLEM {:?}: stream {} version {} (position {})",
                        p.kind, p.stream_id, p.stream_version, p.global_position
                    );
                }
                println!(
                    "{}: {} events in {} streams checked in {:.1}s ({:.0} events/s), {} problem(s)",
                    if report.is_intact() { "INTACT" } else { "TAMPERED" },
                    report.events,
                    report.streams,
                    seconds,
                    report.events as f64 / seconds.max(1e-9),
                    report.problems.len()
                );
            }
            Ok(if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
