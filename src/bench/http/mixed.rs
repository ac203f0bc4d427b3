//! The mixed scenario: 70% downloads, 20% list/search, 10% create/change, with the asynchronous
//! projections' lag and the service's memory sampled throughout. With `--duration 1800` it is
//! the soak run: memory must stay flat, errors nil, lag bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::scenarios::search_my_links;
use super::{Bench, Op, download};
use crate::bench::report::{Figures, Measurement};
use crate::bench::run_timed;

/// What the sampler saw.
#[derive(Debug, Default)]
struct Samples {
    /// The largest `lag_seconds` of the asynchronous projections, every 100 ms (ms).
    lag_ms: Vec<f64>,
    /// (seconds since the start, service RSS in KiB), every second.
    rss: Vec<(u64, u64)>,
    /// Status reads that failed.
    failures: u64,
}

pub async fn run(b: &mut Bench, length: Duration) -> anyhow::Result<Measurement> {
    let links = b.links().await?;
    let inserts = b.inserts().await;
    b.step(format!("mixed, 32 connections, {} s", length.as_secs()));
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (service, client, admin, stop, progress) = (
            b.service.clone(),
            b.client.clone(),
            b.owner.clone(),
            stop.clone(),
            b.progress.clone(),
        );
        let total = b.warmup + length;
        tokio::spawn(async move {
            let start = Instant::now();
            let mut samples = Samples::default();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                match service
                    .call(&client, "GET", "/api/v1/admin/projections", Some(&admin), None)
                    .await
                {
                    Ok(status) => {
                        let lag = status
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|p| p["kind"] == "async")
                            .filter_map(|p| p["lag_seconds"].as_f64())
                            .fold(0.0, f64::max);
                        samples.lag_ms.push(lag * 1000.0);
                    }
                    Err(_) => samples.failures += 1,
                }
                if n.is_multiple_of(10) {
                    let (at, rss) = (start.elapsed(), service.rss_kib());
                    samples.rss.push((at.as_secs(), rss));
                    progress.set_message(format!(
                        "mixed, 32 connections: {} / {} s, service RSS {} MiB",
                        at.as_secs(),
                        total.as_secs(),
                        rss / 1024
                    ));
                }
                n += 1;
            }
            samples
        })
    };
    let file = b.file;
    let stats = run_timed(32, b.warmup, length, |worker| {
        let (client, base, owner, links, counts) = (
            b.client.clone(),
            b.service.base().to_owned(),
            b.owner.clone(),
            links.clone(),
            counts.clone(),
        );
        let mut n = worker as u64 * 7;
        move || -> Op {
            n += 1;
            let (client, base, owner, links, counts) = (
                client.clone(),
                base.clone(),
                owner.clone(),
                links.clone(),
                counts.clone(),
            );
            let pick = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7;
            let kind = n % 10;
            Box::pin(async move {
                match kind {
                    0..=6 => {
                        counts[0].fetch_add(1, Ordering::Relaxed);
                        download(&client, &base, &links[(pick % links.len() as u64) as usize], file).await
                    }
                    7 | 8 => {
                        counts[1].fetch_add(1, Ordering::Relaxed);
                        search_my_links(&client, &base, &owner, pick % 1000).await
                    }
                    _ if pick.is_multiple_of(2) => {
                        counts[2].fetch_add(1, Ordering::Relaxed);
                        super::create_share(&client, &base, &owner, file, format!("mixed share {n}")).await?;
                        Ok(())
                    }
                    _ => {
                        counts[3].fetch_add(1, Ordering::Relaxed);
                        let id = links[(pick % links.len() as u64) as usize].share_id.clone();
                        let response = client
                            .patch(format!("{base}/api/v1/shares/{id}"))
                            .bearer_auth(&owner)
                            .json(&json!({"message": format!("changed by request {n}")}))
                            .send()
                            .await?;
                        anyhow::ensure!(response.status().is_success(), "change: HTTP {}", response.status());
                        response.bytes().await?;
                        Ok(())
                    }
                }
            })
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await?;
    let mut lags = samples.lag_ms.clone();
    lags.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        if lags.is_empty() {
            0.0
        } else {
            lags[((lags.len() - 1) as f64 * q).round() as usize]
        }
    };
    let (lag_p50, lag_p99, lag_max) = (quantile(0.5), quantile(0.99), quantile(1.0));
    // Memory after the warm-up (and a minute into a long run), at its most, and at the end.
    let settle = if length >= Duration::from_secs(300) {
        60
    } else {
        b.warmup.as_secs() + 1
    };
    let rss_after = |at: u64| {
        samples
            .rss
            .iter()
            .find(|(t, _)| *t >= at)
            .map_or(0, |(_, kib)| *kib / 1024)
    };
    let rss_settled = rss_after(settle);
    let rss_max = samples.rss.iter().map(|(_, kib)| kib / 1024).max().unwrap_or(0);
    let rss_end = samples.rss.last().map_or(0, |(_, kib)| kib / 1024);
    let per_minute: Vec<u64> = samples
        .rss
        .iter()
        .filter(|(t, _)| t.is_multiple_of(60))
        .map(|(_, kib)| kib / 1024)
        .collect();
    let errors = stats.errors + samples.failures;
    Ok(Measurement::new(
        "mixed".to_owned(),
        32,
        1,
        Figures::from_stats(
            format!(
                "70% downloads, 20% list/search, 10% create/change over HTTP for {} s",
                length.as_secs()
            ),
            &stats,
            1,
        ),
        Figures::from_stats("single-row INSERT transactions, 32 clients", &inserts, 1),
        None,
    )
    .goal("no errors", format!("{errors} errors"), errors == 0)
    .goal(
        "projection lag p99 <= 200 ms",
        format!("p99 {lag_p99:.0} ms, max {lag_max:.0} ms"),
        lag_p99 <= 200.0,
    )
    .goal(
        "service RSS <= 150 MB",
        format!("max {rss_max} MiB"),
        rss_max * 1024 * 1024 <= 150_000_000,
    )
    .detail("seconds", length.as_secs())
    .detail("downloads", counts[0].load(Ordering::Relaxed))
    .detail("searches", counts[1].load(Ordering::Relaxed))
    .detail("creates", counts[2].load(Ordering::Relaxed))
    .detail("changes", counts[3].load(Ordering::Relaxed))
    .detail("lag_p50_ms", lag_p50)
    .detail("lag_p99_ms", lag_p99)
    .detail("lag_max_ms", lag_max)
    .detail("rss_settled_mib", rss_settled)
    .detail("rss_max_mib", rss_max)
    .detail("rss_end_mib", rss_end)
    .detail("rss_per_minute_mib", per_minute))
}
