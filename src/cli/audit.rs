//! `audit`: tamper evidence for compliance officers — checkpoints, the public key, verification.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::audit::checkpoint::make_checkpoint;
use crate::audit::key::PublicKey;
use crate::audit::verify::{Window, verify_window};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Database;
use crate::keys::Keys;
use crate::service::audit::{AuditQuery, CSV_HEADER, Selection, csv_line};

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
        /// Report only problems with events recorded (or checkpoints made) from this instant on.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// ... and before this one.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a signed checkpoint now, covering every event committed so far.
    Checkpoint,
    /// Export the audited events of a selection, in log order, as NDJSON or CSV (streamed:
    /// constant memory for any size). Writes FILE and FILE.meta.json (filters, row count, how
    /// client addresses are shown).
    Export {
        /// Recorded at or after this instant (RFC 3339).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Recorded before this instant.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        share: Option<uuid::Uuid>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        enterprise: Option<String>,
        /// Event types, comma-separated.
        #[arg(long = "type")]
        types: Option<String>,
        /// `granted` or `refused`.
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long)]
        ip: Option<String>,
        #[arg(long, value_enum, default_value = "ndjson")]
        format: ExportFormat,
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Print the public half of the audit key, for auditors to keep elsewhere.
    PublicKey,
}

/// Export file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Ndjson,
    Csv,
}

/// Runs an `audit` subcommand.
pub async fn run(cmd: AuditCommand, mut config: Config) -> anyhow::Result<ExitCode> {
    // Exports, checkpoints and verification read the whole log in one long query on purpose.
    config.db_slow_statement = std::time::Duration::ZERO;
    match cmd {
        AuditCommand::PublicKey => {
            println!("{}", Keys::audit(&config)?.public().to_text());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            from,
            to,
            share,
            actor,
            enterprise,
            types,
            outcome,
            ip,
            format,
            output,
        } => {
            let query = AuditQuery {
                share,
                actor,
                enterprise,
                types,
                outcome,
                from,
                to,
                ip,
                after: None,
                limit: None,
            };
            let selection = Selection::new(None, query.clone()).map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            let keys = Keys::load(&config)?;
            let database = open(&config).await?;
            let result = export(&database.pool, &selection, &config, &keys, format, &output).await;
            database.close().await;
            let (rows, seconds) = result?;
            let meta = serde_json::json!({
                "generated_at": SystemClock.now(),
                "format": match format { ExportFormat::Ndjson => "ndjson", ExportFormat::Csv => "csv" },
                "rows": rows,
                "client_ip": config.audit_client_ip.as_str(),
                "filters": {
                    "from": query.from, "to": query.to, "share": query.share, "actor": query.actor,
                    "enterprise": query.enterprise, "type": query.types, "outcome": query.outcome, "ip": query.ip,
                },
            });
            let meta_path = PathBuf::from(format!("{}.meta.json", output.display()));
            std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)? + "\n")?;
            eprintln!(
                "exported {rows} events to {} in {seconds:.1}s ({:.0} rows/s); client addresses: {}; metadata in {}",
                output.display(),
                rows as f64 / seconds.max(1e-9),
                config.audit_client_ip.as_str(),
                meta_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let key = Keys::audit(&config)?;
            let database = open(&config).await?;
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
        AuditCommand::Verify {
            public_key,
            from,
            to,
            json,
        } => {
            let key = match public_key {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                    PublicKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None => Keys::audit(&config)?.public(),
            };
            let database = open(&config).await?;
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
            let window = Window { from, to };
            let report = verify_window(&database.pool, &key, window, |n| bar.set_position(n)).await;
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

/// Streams the selection into `output`; returns (rows, seconds).
async fn export(
    pool: &sqlx::PgPool,
    selection: &Selection,
    config: &Config,
    keys: &Keys,
    format: ExportFormat,
    output: &std::path::Path,
) -> anyhow::Result<(u64, f64)> {
    use futures_util::TryStreamExt;
    use std::io::Write;
    let file = std::fs::File::create(output).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", output.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    if format == ExportFormat::Csv {
        out.write_all(CSV_HEADER.as_bytes())?;
    }
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos} events exported ({per_sec})")
            .expect("valid template"),
    );
    let started = std::time::Instant::now();
    let mut rows = std::pin::pin!(selection.stream(pool.clone(), config.audit_client_ip, keys.jwt_secret.clone()));
    let mut count = 0u64;
    while let Some(row) = rows.try_next().await? {
        match format {
            ExportFormat::Ndjson => {
                serde_json::to_writer(&mut out, &row)?;
                out.write_all(b"\n")?;
            }
            ExportFormat::Csv => out.write_all(csv_line(&row).as_bytes())?,
        }
        count += 1;
        if count.is_multiple_of(1000) {
            bar.set_position(count);
        }
    }
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    bar.finish_and_clear();
    Ok((count, started.elapsed().as_secs_f64()))
}

/// Opens the database, refusing one this build has not migrated (nothing to audit yet).
async fn open(config: &Config) -> anyhow::Result<Database> {
    let database = Database::open(config).await?;
    if !crate::db::migrations_applied(&database.pool).await? {
        database.close().await;
        anyhow::bail!(
            "the database is not migrated for this version: run `shareledger migrate` (or start `serve`) first"
        );
    }
    Ok(database)
}
