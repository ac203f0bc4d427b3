//! `audit`: tamper evidence for compliance officers — checkpoints, the public key, verification.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::audit::checkpoint::make_checkpoint;
use crate::audit::key::PublicKey;
use crate::audit::verify::verify;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Database;
use crate::keys::Keys;

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every stream's hash chain and check the log against every signed checkpoint;
    /// names each problem (stream, version, position, kind). Exit code 1 on any problem.
    Verify {
        /// The audit public key (`ed25519:...`, as `audit public-key` printed it) kept outside the
        /// service; default: the public half of this data directory's key.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a signed checkpoint now, covering every event committed so far.
    Checkpoint,
    /// Print the public half of the audit key, for auditors to keep elsewhere.
    PublicKey,
}

/// Runs an `audit` subcommand.
pub async fn run(cmd: AuditCommand, config: Config) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::PublicKey => {
            println!("{}", Keys::audit(&config)?.public().to_text());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let key = Keys::audit(&config)?;
            let database = Database::open(&config).await?;
            let made = make_checkpoint(&database.pool, None, &key, SystemClock.now(), true).await;
            database.close().await;
            let (checkpoint, event) = made?.expect("always makes one");
            println!(
                "checkpoint at position {}: {} events up to position {}, digest {}, key {}",
                event.global_position,
                checkpoint.events,
                checkpoint.covered_position,
                checkpoint.digest,
                checkpoint.key_id
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { public_key, json } => {
            let key = match public_key {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                    PublicKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None => Keys::audit(&config)?.public(),
            };
            let database = Database::open(&config).await?;
            let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&database.pool)
                .await?;
            let bar = if json {
                ProgressBar::hidden()
            } else {
                ProgressBar::new(2 * total.max(0) as u64).with_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} reads ({per_sec}, ETA {eta})",
                    )
                    .expect("valid template"),
                )
            };
            let started = std::time::Instant::now();
            let report = verify(&database.pool, &key, |n| bar.set_position(n)).await;
            bar.finish_and_clear();
            database.close().await;
            let report = report?;
            let seconds = started.elapsed().as_secs_f64();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for p in &report.problems {
                    println!(
                        "PROBLEM {:?}: stream {} version {} (position {}): {}",
                        p.kind, p.stream_id, p.stream_version, p.global_position, p.detail
                    );
                }
                println!(
                    "{}: {} events in {} streams, {} checkpoint(s) (signed evidence up to position {}), \
                     checked in {:.1}s ({:.0} events/s), {} problem(s)",
                    report.verdict.to_uppercase(),
                    report.events,
                    report.streams,
                    report.checkpoints,
                    report.covered_position,
                    seconds,
                    report.events as f64 / seconds.max(1e-9),
                    report.problems.len()
                );
            }
            Ok(if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
