//! The single-purpose scenarios: create, download, hot link, my links, code.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use super::{Bench, Op, link_token, seed_links};
use crate::bench::ceiling;
use crate::bench::report::{Figures, Measurement};
use crate::bench::run_timed;

/// A cheap per-worker pseudo-random sequence (xorshift), so workers spread over the shares.
fn sequence(seed: usize) -> impl FnMut() -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ (seed as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Shares created over HTTP (no code, one file), 32 connections: by 32 owners (one each, as
/// creates arrive from many users), then by one owner (the target does not apply: one user's
/// creates take their daily quota's counter one commit at a time, which keeps the quota exact).
/// Then the same creates by 32 owners without HTTP: the service's create called in this
/// process, on an `AppState` with the service's keys, against the same database. What that
/// does beyond the HTTP rate is what HTTP costs (the client's and the server's sockets, parsing,
/// JSON); what it lacks of the ceiling is the create's own code and database work.
pub async fn create(b: &mut Bench) -> anyhow::Result<Vec<Measurement>> {
    let inserts = b.inserts().await;
    let mut rows = Vec::new();
    for owners in [32usize, 1] {
        b.step(format!("create, 32 connections, {owners} owner(s)"));
        let creators = creators(b, "bench-creator", owners).await?;
        let counter = Arc::new(AtomicU64::new(0));
        let stats = run_timed(32, b.warmup, b.measure, |worker| {
            let (client, base, creators, counter) = (
                b.client.clone(),
                b.service.base().to_owned(),
                creators.clone(),
                counter.clone(),
            );
            move || -> Op {
                let (client, base) = (client.clone(), base.clone());
                let Creator { token, file, .. } = creators[worker % creators.len()].clone();
                let n = counter.fetch_add(1, Ordering::Relaxed);
                Box::pin(async move {
                    super::create_share(&client, &base, &token, file, format!("made {n}")).await?;
                    Ok(())
                })
            }
        })
        .await;
        let (name, target) = if owners == 1 {
            ("create_one_owner".to_owned(), None)
        } else {
            ("create".to_owned(), Some(0.5))
        };
        rows.push(Measurement::new(
            name,
            32,
            1,
            Figures::from_stats(format!("shares created over HTTP by {owners} owner(s)"), &stats, 1),
            Figures::from_stats("single-row INSERT transactions, 32 clients", &inserts, 1),
            target,
        ));
    }
    b.step("create in-process (no HTTP), 32 connections, 32 owners");
    let state = crate::state::AppState::new(b.service.same_keys(&b.config), b.pool.clone())?;
    let creators = creators(b, "bench-inproc", 32).await?;
    let counter = Arc::new(AtomicU64::new(0));
    let stats = run_timed(32, b.warmup, b.measure, |worker| {
        let (state, creators, counter) = (state.clone(), creators.clone(), counter.clone());
        move || -> Op {
            let state = state.clone();
            let Creator { user_id, file, .. } = creators[worker % creators.len()].clone();
            let n = counter.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                let actor = shareledger_domain::actor::Actor {
                    display_name: user_id.clone(),
                    user_id,
                    enterprise_id: "bench".into(),
                    roles: [shareledger_domain::actor::Role::User].into(),
                };
                let body = serde_json::from_value(json!({"items": [file], "name": format!("made {n}")}))?;
                let request = crate::http::request::RequestMeta {
                    request_id: None,
                    ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
                    user_agent: Some("bench".into()),
                };
                let outcome = crate::service::shares::create(&state, &actor, &request, None, body)
                    .await
                    .map_err(|e| anyhow::anyhow!("create: {}", e.body()))?;
                anyhow::ensure!(outcome.status.as_u16() == 201, "create: {}", outcome.status);
                Ok(())
            })
        }
    })
    .await;
    rows.push(Measurement::new(
        "create_in_process".to_owned(),
        32,
        1,
        Figures::from_stats("the same creates by 32 owners, called in-process (no HTTP)", &stats, 1),
        Figures::from_stats("single-row INSERT transactions, 32 clients", &inserts, 1),
        None,
    ));
    Ok(rows)
}

/// An owner who creates shares: who they are, their bearer token and a file of theirs.
#[derive(Clone)]
struct Creator {
    user_id: String,
    token: String,
    file: uuid::Uuid,
}

/// `n` creators named `prefix-<i>`.
async fn creators(b: &Bench, prefix: &str, n: usize) -> anyhow::Result<Arc<Vec<Creator>>> {
    let mut creators = Vec::with_capacity(n);
    for i in 0..n {
        let user_id = format!("{prefix}-{i}");
        let token = b.service.token(&user_id, "bench", &["user"]);
        let file = b.service.upload(&b.client, &token, "made.pdf", &[1u8; 4096]).await?;
        creators.push(Creator { user_id, token, file });
    }
    Ok(Arc::new(creators))
}

/// Granted downloads on many distinct shares, 32 connections.
pub async fn download(b: &mut Bench) -> anyhow::Result<Measurement> {
    let links = b.links().await?;
    let inserts = b.inserts().await;
    b.step("download, distinct shares, 32 connections");
    let stats = downloads(b, &links, 32, b.measure).await;
    Ok(Measurement::new(
        format!("download_{}_shares", links.len()),
        32,
        1,
        Figures::from_stats("granted downloads over HTTP", &stats, 1),
        Figures::from_stats("single-row INSERT transactions, 32 clients", &inserts, 1),
        Some(0.5),
    ))
}

/// Downloads spread over `links` by `connections` workers for `measure` (after the warm-up).
pub(super) async fn downloads(
    b: &Bench,
    links: &Arc<Vec<super::Link>>,
    connections: usize,
    measure: Duration,
) -> crate::bench::RunStats {
    let file = b.file;
    run_timed(connections, b.warmup, measure, |worker| {
        let (client, links, base) = (b.client.clone(), links.clone(), b.service.base().to_owned());
        let mut next = sequence(worker);
        move || -> Op {
            let link = links[(next() % links.len() as u64) as usize].clone();
            let (client, base) = (client.clone(), base.clone());
            Box::pin(async move { super::download(&client, &base, &link, file).await })
        }
    })
    .await
}

/// One share with a download limit of 50,000, 32 connections: exact and fast.
pub async fn hot(b: &mut Bench) -> anyhow::Result<Measurement> {
    b.step("ceiling: single-row UPDATE of one hot row, 32 clients");
    let updates = ceiling::hot_row_updates(&b.pool, 32, b.warmup, b.measure).await;
    b.step("download, one hot share (limit 50,000), 32 connections");
    let hot = seed_links(&b.service, &b.owner, b.file, 1, json!({"limits": {"download": 50_000}})).await?;
    let hot_token = hot[0].token.clone();
    let mut sessions = Vec::new();
    for _ in 0..32 {
        sessions.push(b.service.open(&b.client, &hot_token).await?);
    }
    let (granted, refused, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let file = b.file;
    let stats = run_timed(32, b.warmup, b.measure, |worker| {
        let (client, base, token, session) = (
            b.client.clone(),
            b.service.base().to_owned(),
            hot_token.clone(),
            sessions[worker].clone(),
        );
        let (granted, refused, failed) = (granted.clone(), refused.clone(), failed.clone());
        move || -> Op {
            let (client, base, token, session) = (client.clone(), base.clone(), token.clone(), session.clone());
            let (granted, refused, failed) = (granted.clone(), refused.clone(), failed.clone());
            Box::pin(async move {
                let response = client
                    .get(format!("{base}/api/v1/links/{token}/items/{file}/download"))
                    .header("x-share-session", &session)
                    .send()
                    .await?;
                let status = response.status();
                response.bytes().await?;
                match status.as_u16() {
                    200 => granted.fetch_add(1, Ordering::Relaxed),
                    403 => refused.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                anyhow::ensure!(status.is_success(), "HTTP {status}");
                Ok(())
            })
        }
    })
    .await;
    let (granted, refused, failed) = (
        granted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    // Exactness: every granted download is one event, and no more.
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'FileDownloaded' AND stream_id = $1")
            .bind(format!("share-{}", hot[0].share_id))
            .fetch_one(&b.pool)
            .await?;
    let exact = u64::try_from(events).unwrap_or(0) == granted.min(50_000);
    let mut figures = Figures::from_stats("granted downloads over HTTP, one share", &stats, 1);
    figures.what = format!(
        "{} (granted {granted}, events {events}, refused {refused}, other {failed})",
        figures.what
    );
    Ok(Measurement::new(
        "download_hot_share".to_owned(),
        32,
        1,
        figures,
        Figures::from_stats("single-row UPDATE of one hot row, 32 clients", &updates, 1),
        Some(0.5),
    )
    .goal(
        "granted == events == min(limit, requests)",
        format!("{granted} granted, {events} events"),
        exact,
    )
    .goal("no 5xx", format!("{failed} other answers"), failed == 0))
}

/// A user with many shares searching by name and reading the first page, 16 connections.
pub async fn my_links(b: &mut Bench) -> anyhow::Result<Measurement> {
    let links = b.links().await?;
    b.step("ceiling: the database's own search (trigram index) straight through the pool, 16 clients");
    let owner_id = b.owner_id.clone();
    let ceiling = run_timed(16, b.warmup, b.measure, |worker| {
        let (pool, owner_id) = (b.pool.clone(), owner_id.clone());
        let mut next = sequence(worker);
        move || -> Op {
            let (pool, owner_id) = (pool.clone(), owner_id.clone());
            let q = format!("share {}", next() % 1000);
            Box::pin(async move {
                use shareledger_projections::my_share_links::{OrderBy, Search, StatusFilter};
                let wanted = Search {
                    owner_id,
                    q: Some(q),
                    created_after: None,
                    created_before: None,
                    status: StatusFilter::Active,
                    order_by: OrderBy::Created,
                    descending: true,
                    limit: 20,
                    after: None,
                    now: chrono::Utc::now(),
                    filter: None,
                };
                let page = shareledger_projections::my_share_links::search(&pool, &wanted).await?;
                anyhow::ensure!(page.is_ok_and(|p| !p.rows.is_empty()), "nothing found");
                Ok(())
            })
        }
    })
    .await;
    b.step(format!("my links: search {} shares, 16 connections", links.len()));
    let stats = run_timed(16, b.warmup, b.measure, |worker| {
        let (client, base, owner) = (b.client.clone(), b.service.base().to_owned(), b.owner.clone());
        let mut next = sequence(worker);
        move || -> Op {
            let (client, base, owner) = (client.clone(), base.clone(), owner.clone());
            let k = next() % 1000;
            Box::pin(async move { search_my_links(&client, &base, &owner, k).await })
        }
    })
    .await;
    let p99 = stats.percentile_ms(0.99);
    Ok(Measurement::new(
        "my_links_search".to_owned(),
        16,
        1,
        Figures::from_stats(
            format!("substring search + first page over HTTP, {} shares", links.len()),
            &stats,
            1,
        ),
        Figures::from_stats(
            "the same search in the database alone (trigram index), straight through the pool, 16 clients",
            &ceiling,
            1,
        ),
        None,
    )
    .goal("p99 <= 10 ms", format!("{p99:.2} ms"), p99 <= 10.0))
}

/// Searches the owner's shares for `share {k}` and reads the first page.
pub(super) async fn search_my_links(client: &reqwest::Client, base: &str, owner: &str, k: u64) -> anyhow::Result<()> {
    let response = client
        .get(format!("{base}/api/v1/shares"))
        .query(&[("q", format!("share {k}")), ("limit", "20".to_owned())])
        .bearer_auth(owner)
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "search: HTTP {}", response.status());
    let page: serde_json::Value = response.json().await?;
    anyhow::ensure!(
        page["items"].as_array().is_some_and(|items| !items.is_empty()),
        "search found nothing"
    );
    Ok(())
}

/// Opening with a code: argon2id at the configured cap, beside the same verifications run
/// straight in-process; then downloads with and without 100 wrong-code attempts/s.
pub async fn code(b: &mut Bench) -> anyhow::Result<Vec<Measurement>> {
    let links = b.links().await?;
    const CODE: &str = "bench-7Kq2";
    let created = b
        .service
        .call(
            &b.client,
            "POST",
            "/api/v1/shares",
            Some(&b.owner),
            Some(json!({"items": [b.file], "name": "coded", "access_code": CODE})),
        )
        .await?;
    let token = link_token(&created)?;
    let cap = b.argon2_cap;

    // Enough connections to keep every argon2 thread busy, not so many that the queue sheds.
    let connections = cap * 4;
    b.step(format!("ceiling: argon2id verifications in-process, {cap} at a time"));
    let hasher = crate::crypto::codes::CodeHasher::new(cap);
    let phc = hasher.hash(CODE).await?;
    let raw = run_timed(connections, b.warmup, b.measure, |_| {
        let (hasher, phc) = (hasher.clone(), phc.clone());
        move || -> Op {
            let (hasher, phc) = (hasher.clone(), phc.clone());
            Box::pin(async move {
                let verified = hasher.verify(CODE, &phc).await?;
                anyhow::ensure!(matches!(verified, crate::crypto::codes::Verified::Yes { .. }));
                Ok(())
            })
        }
    })
    .await;
    b.step(format!("open with the right code, {connections} connections"));
    let opens = run_timed(connections, b.warmup, b.measure, |_| {
        let (service, client, token) = (b.service.clone(), b.client.clone(), token.clone());
        move || -> Op {
            let (service, client, token) = (service.clone(), client.clone(), token.clone());
            Box::pin(async move {
                let (status, body) = service.open_with(&client, &token, json!({"code": CODE})).await?;
                anyhow::ensure!(status.is_success(), "open with code: HTTP {status} {body}");
                Ok(())
            })
        }
    })
    .await;
    let saturated = Measurement::new(
        "code_open_saturated".to_owned(),
        connections,
        1,
        Figures::from_stats(
            format!("opens with the right code over HTTP (argon2 cap {cap})"),
            &opens,
            1,
        ),
        Figures::from_stats(format!("argon2id verifications in-process, {cap} at a time"), &raw, 1),
        None,
    )
    .detail("argon2_cap", cap);

    b.step("downloads, 8 connections, without code attempts");
    let quiet = downloads(b, &links, 8, b.measure).await;
    b.step("downloads, 8 connections, with 100 wrong-code attempts/s");
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let attack = {
        let (service, client, token, stop, answers) = (
            b.service.clone(),
            b.client.clone(),
            token.clone(),
            stop.clone(),
            answers.clone(),
        );
        tokio::spawn(async move {
            // Distributed guessing: every attempt from another address, so the per-client
            // throttle never spares the hash; paced at 100/s whatever the answers take.
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                let (service, client, token, answers) =
                    (service.clone(), client.clone(), token.clone(), answers.clone());
                tokio::spawn(async move {
                    let status = match service
                        .open_with(&client, &token, json!({"code": format!("guess-{n:06}")}))
                        .await
                    {
                        Ok((status, _)) => status.as_u16(),
                        Err(_) => 0,
                    };
                    *answers.lock().expect("not poisoned").entry(status).or_default() += 1;
                });
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let busy = downloads(b, &links, 8, b.measure).await;
    stop.store(true, Ordering::Relaxed);
    attack.await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answers = answers.lock().expect("not poisoned").clone();
    let (p99_quiet, p99_busy) = (quiet.percentile_ms(0.99), busy.percentile_ms(0.99));
    let under_attack = Measurement::new(
        "download_under_code_attempts".to_owned(),
        8,
        1,
        Figures::from_stats("granted downloads while 100 wrong-code attempts/s run", &busy, 1),
        Figures::from_stats("granted downloads, no code attempts", &quiet, 1),
        None,
    )
    .goal(
        "p99 <= 2x p99 without attempts",
        format!("{p99_busy:.1} ms vs {p99_quiet:.1} ms"),
        p99_busy <= 2.0 * p99_quiet,
    )
    .detail(
        "code_attempt_answers",
        serde_json::to_value(
            answers
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<std::collections::BTreeMap<_, _>>(),
        )?,
    );
    Ok(vec![saturated, under_attack])
}
