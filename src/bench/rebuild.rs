//! `bench rebuild`: rebuild every projection from a realistic log (many shares, skewed access),
//! beside the raw sequential read of the same events (`COPY ... TO STDOUT`) in the same run.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use shareledger_domain::drive::ItemKind;
use shareledger_domain::share::{
    Limits, Operation, Permissions, RefusalReason, Scope, ShareCreated, ShareEvent, SharedItem, Visitor,
};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::report::{Figures, Measurement, print_table, write_json};
use super::{BenchArgs, RunStats};
use crate::config::Config;
use crate::db::Database;
use crate::db::fresh::{drop_database, fresh_database};
use crate::store::{EventMetadata, NewEvent, StreamAppend, StreamHead, append_on};
use shareledger_projections::projection::{self, Projection};

/// Runs the rebuild benchmark with `events` events (1,000,000 by default, 100,000 quick).
pub async fn run(
    args: &BenchArgs,
    events: Option<u64>,
    only: &[String],
    reuse: Option<&str>,
    rounds: u32,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let total = events.unwrap_or(if args.quick { 100_000 } else { 1_000_000 });
    let mut projections: Vec<&'static dyn Projection> = Vec::new();
    for name in only {
        match projection::find(name) {
            Some(p) => projections.push(p),
            None => anyhow::bail!(
                "no projection named {name:?} (known: {})",
                projection::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    if projections.is_empty() {
        projections.extend(projection::ALL.iter().copied());
    }
    let database = Database::open(config).await?;
    let (connect, name, seeded) = match reuse {
        Some(name) => (database.connect.clone().database(name), name.to_owned(), true),
        None => {
            let (connect, name) = fresh_database(&database.connect, "benchrebuild").await?;
            (connect, name, false)
        }
    };
    let result = measure(&connect, total, seeded, &projections, rounds.max(1)).await;
    if args.keep || reuse.is_some() {
        eprintln!("kept database {name} (reuse it with --database {name})");
    } else {
        drop_database(&database.connect, &name).await?;
    }
    database.close().await;
    let rows = result?;
    print_table(&format!("bench rebuild: {total} events, every projection"), &rows);
    if let Some(path) = &args.json {
        write_json(path, &rows)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn measure(
    connect: &sqlx::postgres::PgConnectOptions,
    total: u64,
    seeded: bool,
    projections: &[&'static dyn Projection],
    rounds: u32,
) -> anyhow::Result<Vec<Measurement>> {
    let mut conn = PgConnection::connect_with(connect).await?;
    let total = if seeded {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
            .fetch_one(&mut conn)
            .await? as u64
    } else {
        let bar = ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg} {per_sec} ETA {eta}",
            )
            .expect("valid template"),
        );
        bar.set_message("seeding");
        seed(&mut conn, total, &bar).await?;
        bar.finish_and_clear();
        total
    };

    // Rounds of the ceiling and the rebuild, one after the other: this machine's speed drifts
    // (the ceiling alone has moved ±20% between runs), and the median of each over the same
    // stretch of time is a steadier ratio than one of each.
    let rss_before = peak_rss_kib();
    let (mut ceilings, mut rebuilds) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Untimed: the tables the last round swapped in are vacuumed and analysed now rather
        // than by autovacuum in the middle of this round (which a real rebuild, not followed by
        // another, never meets).
        sqlx::query("VACUUM (ANALYZE)").execute(&mut conn).await?;
        ceilings.push(ceiling_once(&mut conn).await?);
        let bar = ProgressBar::new(total).with_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} rebuilding (round {round} of {rounds}) \
                 {{per_sec}} ETA {{eta}}"
            ))
            .expect("valid template"),
        );
        let started = Instant::now();
        let done = crate::service::projections::run_rebuild(connect, projections, |n| bar.set_position(n)).await?;
        rebuilds.push((done.events, started.elapsed()));
        bar.finish_and_clear();
    }
    let rss_after = peak_rss_kib();
    let (ceiling, ours) = (median(&ceilings), median(&rebuilds));
    let rates = |runs: &[(u64, Duration)]| {
        runs.iter()
            .map(|(n, t)| format!("{:.0}", *n as f64 / t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let stats = |(n, elapsed): (u64, Duration)| RunStats {
        ops: n,
        errors: 0,
        elapsed,
        latencies_us: Vec::new(),
    };
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    let mut figures = Figures::from_stats(
        format!(
            "rebuild of {} (read once, applied in batches of 10,000)",
            names.join(", ")
        ),
        &stats(ours),
        1,
    );
    figures.what = format!(
        "{} — median of {rounds} rounds (events/s: {}; ceiling: {}) — bench process peak RSS {} MiB (before: {} MiB)",
        figures.what,
        rates(&rebuilds),
        rates(&ceilings),
        rss_after / 1024,
        rss_before / 1024
    );
    let ceiling = Figures::from_stats(
        "COPY (SELECT event columns ORDER BY tx_id, global_position) TO STDOUT",
        &stats(ceiling),
        1,
    );
    Ok(vec![Measurement::new(
        format!("rebuild_{total}_events"),
        1,
        1,
        figures,
        ceiling,
        Some(0.30),
    )])
}

/// The ceiling: PostgreSQL reading the same events in the same order, as fast as it can send
/// them. Rows read and the time taken.
async fn ceiling_once(conn: &mut PgConnection) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut copied = 0u64;
    let mut out = conn
        .copy_out_raw(concat!(
            "COPY (SELECT ",
            shareledger_projections::event_columns!(),
            " FROM events ORDER BY tx_id, global_position) TO STDOUT"
        ))
        .await?;
    while let Some(chunk) = out.next().await {
        copied += chunk?.iter().filter(|b| **b == b'\n').count() as u64;
    }
    Ok((copied, started.elapsed()))
}

/// The run of median speed (the upper one of an even number).
fn median(runs: &[(u64, Duration)]) -> (u64, Duration) {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| (a.0 as f64 / a.1.as_secs_f64()).total_cmp(&(b.0 as f64 / b.1.as_secs_f64())));
    sorted[sorted.len() / 2]
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// A realistic log: shares of several enterprises, access skewed towards a few hot shares
/// (Zipf-like), refusals among them, streams interleaved over time.
async fn seed(conn: &mut PgConnection, total: u64, bar: &ProgressBar) -> anyhow::Result<()> {
    let shares = (total / 40).max(10) as usize;
    let mut heads = vec![StreamHead::EMPTY; shares];
    let ids: Vec<Uuid> = (0..shares).map(|_| Uuid::now_v7()).collect();
    let index: std::collections::HashMap<String, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("share-{id}"), i))
        .collect();
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("valid");
    let mut written = 0u64;
    let mut step = 0u64;
    let mut rng_state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    while written < total {
        let mut batch: Vec<StreamAppend> = Vec::new();
        let mut in_batch = 0u64;
        while in_batch < 1000 && written + in_batch < total {
            // Zipf-like pick: small indexes far more often.
            let r = (next() % 1_000_000) as f64 / 1_000_000.0;
            let s = ((shares as f64).powf(r) as usize).saturating_sub(1).min(shares - 1);
            let stream = format!("share-{}", ids[s]);
            if batch.iter().any(|a| a.stream_id == stream) {
                continue;
            }
            step += 1;
            let at = start + chrono::Duration::seconds(step as i64 * 7);
            let enterprise = format!("enterprise-{}", s % 25);
            let meta = EventMetadata {
                actor: Some(format!("anonymous:{}", next() % 5000)),
                actor_kind: Some("anonymous".into()),
                enterprise: Some(enterprise.clone()),
                ip: Some(format!("198.51.100.{}", next() % 250)),
                ..EventMetadata::default()
            };
            let mut events = Vec::new();
            if heads[s].is_empty() {
                events.push(ShareEvent::ShareCreated(Box::new(created(ids[s], &enterprise, at))));
            }
            let session = Uuid::now_v7();
            events.push(ShareEvent::ShareOpened {
                session_id: session,
                visitor: Visitor::Anonymous {
                    visitor_id: Uuid::now_v7(),
                },
                qr_id: None,
                quota_day: None,
            });
            for _ in 0..(1 + next() % 4) {
                events.push(match next() % 10 {
                    0 => ShareEvent::AccessRefused {
                        operation: Operation::Download,
                        reason: RefusalReason::LimitReached,
                        item_id: Some(ids[s]),
                        session_id: Some(session),
                    },
                    1..=3 => ShareEvent::FilePreviewed {
                        session_id: session,
                        item_id: ids[s],
                    },
                    _ => ShareEvent::FileDownloaded {
                        session_id: session,
                        item_id: ids[s],
                        bytes: Some(4096),
                    },
                });
            }
            let new_events: Vec<NewEvent> = events.iter().map(|e| NewEvent::from_domain(e, &meta, at)).collect();
            in_batch += new_events.len() as u64;
            batch.push(StreamAppend {
                stream_id: stream,
                expected: heads[s],
                events: new_events,
            });
        }
        let outcome = append_on(conn, &batch).await?;
        for (stream, head) in outcome.heads {
            if let Some(i) = index.get(&stream) {
                heads[*i] = head;
            }
        }
        written += in_batch;
        bar.set_position(written);
    }
    Ok(())
}

fn created(id: Uuid, enterprise: &str, at: DateTime<Utc>) -> ShareCreated {
    ShareCreated {
        share_id: id,
        owner_id: format!("owner-{}", id.as_u128() % 97),
        owner_name: "Owner".into(),
        enterprise_id: enterprise.to_owned(),
        items: vec![SharedItem {
            id,
            name: "report.pdf".into(),
            kind: ItemKind::File,
        }],
        name: "report.pdf".into(),
        message: String::new(),
        permissions: Permissions::view_and_download(),
        scope: Scope::Anyone,
        expires_at: None,
        has_code: false,
        code_version: 0,
        code_generated: false,
        autofill_code: false,
        limits: Limits::default(),
        created_at: at,
        quota_day: at.date_naive().max(NaiveDate::MIN),
    }
}
