//! SECURITY 18/19: the service process killed outright (SIGKILL, no shutdown) several times while
//! clients create shares and download. Every request a client saw succeed is in the log; client
//! retries that carry an `Idempotency-Key` (after a kill, or after an answer the client "lost")
//! never make a second share; after the last restart the
//! asynchronous projections catch up to exactly the log (compared with a rebuild from zero).
//!
//! The service runs as its own process (`shareledger serve`, the binary under test) on a fresh
//! database, driven over real HTTP.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shareledger::bench::service::Service;
use shareledger::testkit::TestDb;

const CREATORS: usize = 4;
const DOWNLOADERS: usize = 4;
const KILLS: usize = 4;

/// A request that may meet a dead service: connection errors and 5xx are retried (after a
/// pause) with the same request, anything else is the answer (with how many tries it took).
/// Gives up after a minute.
async fn until_answered(what: &str, request: impl Fn() -> reqwest::RequestBuilder) -> (u16, Value, u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tries = 0;
    loop {
        tries += 1;
        match request().timeout(Duration::from_secs(20)).send().await {
            Ok(response) if !response.status().is_server_error() => {
                let status = response.status().as_u16();
                // The body may be cut by a kill too: then the answer was not seen, try again.
                if let Ok(bytes) = response.bytes().await {
                    return (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), tries);
                }
            }
            Ok(_) | Err(_) => {}
        }
        assert!(Instant::now() < deadline, "{what}: no answer within a minute");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged_and_duplicates_nothing() {
    let db = TestDb::new().await;
    let secret = [7u8; 32];
    let service = Service::start_program(
        std::path::Path::new(env!("CARGO_BIN_EXE_shareledger")),
        &db.connect,
        &secret,
        &[],
    )
    .await
    .expect("the service starts");
    let client = service.client();
    let owner = service.token("crash-owner", "crash", &["user", "admin"]);
    service
        .policy(&client, &owner, json!({"daily_quota": 1_000_000}))
        .await
        .unwrap();
    let file = service
        .upload(&client, &owner, "report.pdf", b"the bytes of the report")
        .await
        .unwrap();
    let mut links = Vec::new();
    for i in 0..DOWNLOADERS {
        let created = service
            .call(
                &client,
                "POST",
                "/api/v1/shares",
                Some(&owner),
                Some(json!({"items": [file], "name": format!("download me {i}")})),
            )
            .await
            .unwrap();
        let token = created["link"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        let session = service.open(&client, &token).await.unwrap();
        links.push((token, session));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut creators = Vec::new();
    for worker in 0..CREATORS {
        let (client, owner, base, stop) = (client.clone(), owner.clone(), service.base().to_owned(), stop.clone());
        creators.push(tokio::spawn(async move {
            // Every key this client used, with the share its (possibly retried) request got.
            let mut acknowledged: BTreeMap<String, String> = BTreeMap::new();
            let (mut n, mut retried) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let key = format!("crash-{worker}-{n}");
                let body = json!({"items": [file], "name": format!("crash {worker} {n}")});
                let create = || {
                    client
                        .post(format!("{base}/api/v1/shares"))
                        .bearer_auth(&owner)
                        .header("idempotency-key", &key)
                        .json(&body)
                };
                let (status, answer, mut tries) = until_answered(&key, create).await;
                assert_eq!(status, 201, "{key}: {answer}");
                if n % 4 == 0 {
                    // This answer is "lost" (as when the connection drops after the commit):
                    // the client sends the same request again, maybe to a restarted service.
                    let (again, replayed, more) = until_answered(&key, create).await;
                    assert_eq!(
                        (again, &replayed["id"]),
                        (201, &answer["id"]),
                        "{key}: a retry made another share"
                    );
                    tries += more;
                }
                acknowledged.insert(key, answer["id"].as_str().unwrap().to_owned());
                retried += usize::from(tries > 1);
                n += 1;
            }
            (acknowledged, retried)
        }));
    }
    let downloaded = Arc::new(AtomicU64::new(0));
    let attempted = Arc::new(AtomicU64::new(0));
    let mut downloaders = Vec::new();
    for (token, session) in links.clone() {
        let (client, base, stop) = (client.clone(), service.base().to_owned(), stop.clone());
        let (downloaded, attempted) = (downloaded.clone(), attempted.clone());
        downloaders.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                attempted.fetch_add(1, Ordering::Relaxed);
                let sent = client
                    .get(format!("{base}/api/v1/links/{token}/items/{file}/download"))
                    .header("x-share-session", &session)
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        if response
                            .bytes()
                            .await
                            .is_ok_and(|b| &b[..] == b"the bytes of the report")
                        {
                            downloaded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(response) => assert!(
                        response.status().is_server_error(),
                        "a download was refused: {}",
                        response.status()
                    ),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }));
    }

    // Kill the service several times under load, each time mid-flight, and start it again.
    for round in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(1200 + 300 * round as u64)).await;
        service.kill().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        service
            .relaunch()
            .await
            .expect("the service starts again after SIGKILL");
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut acknowledged, mut retried) = (BTreeMap::new(), 0);
    for creator in creators {
        let (mine, retries) = creator.await.unwrap();
        acknowledged.extend(mine);
        retried += retries;
    }
    for downloader in downloaders {
        downloader.await.unwrap();
    }
    let (downloaded, attempted) = (downloaded.load(Ordering::Relaxed), attempted.load(Ordering::Relaxed));
    assert!(
        acknowledged.len() >= 20,
        "too little load to mean anything: {}",
        acknowledged.len()
    );
    assert!(downloaded >= 20, "too few downloads to mean anything: {downloaded}");

    assert!(retried > 0, "no create was cut off by a kill, so no retry was tested");
    eprintln!(
        "acknowledged creates {} ({retried} only after retries), downloads received {downloaded} of {attempted} attempted",
        acknowledged.len()
    );
    // Every acknowledged create is in the log, once: one ShareCreated per key, and no other.
    let created: Vec<(String, String)> = sqlx::query_as(
        "SELECT stream_id, payload->>'name' FROM events WHERE event_type = 'ShareCreated' AND payload->>'name' LIKE 'crash %'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        created.len(),
        acknowledged.len(),
        "one share per Idempotency-Key, however often it was retried"
    );
    let in_log: std::collections::BTreeSet<String> = created.into_iter().map(|(stream, _)| stream).collect();
    for (key, id) in &acknowledged {
        assert!(
            in_log.contains(&format!("share-{id}")),
            "{key}: acknowledged share {id} is not in the log"
        );
    }
    // Every download a client received is an event; none appears that was never attempted.
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'FileDownloaded'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let events = u64::try_from(events).unwrap();
    assert!(
        downloaded <= events && events <= attempted,
        "downloads received {downloaded}, events {events}, attempted {attempted}"
    );

    // The restarted service's runners catch up to exactly the log.
    support::reach_the_end_of_the_log(&db, false).await;
    service.stop().await;
    assert_eq!(
        support::rebuilt_differences(&db).await,
        vec![],
        "projections after the crashes differ from a rebuild of the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_instance_that_runs_the_projections_moves_them_to_the_other() {
    let db = TestDb::new().await;
    let secret = [9u8; 32];
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_shareledger"));
    let first = Service::start_program(program, &db.connect, &secret, &[])
        .await
        .unwrap();
    let client = first.client();
    let owner = first.token("failover-owner", "failover", &["user"]);
    let file = first.upload(&client, &owner, "a.txt", b"a").await.unwrap();
    // The first instance took every runner's lock: it has applied the log.
    support::reach_the_end_of_the_log(&db, false).await;
    let second = Service::start_program(program, &db.connect, &secret, &[])
        .await
        .unwrap();
    first.kill().await;
    for i in 0..5 {
        second
            .call(
                &client,
                "POST",
                "/api/v1/shares",
                Some(&owner),
                Some(json!({"items": [file], "name": format!("after the kill {i}")})),
            )
            .await
            .unwrap();
    }
    // Only the second instance is left to apply these.
    support::reach_the_end_of_the_log(&db, false).await;
    let admin = second.token("failover-admin", "failover", &["admin"]);
    let status = second
        .call(&client, "GET", "/api/v1/admin/projections", Some(&admin), None)
        .await
        .unwrap();
    second.stop().await;
    first.stop().await;
    // The second instance's own runners are the ones that applied them.
    for projection in status.as_array().unwrap().iter().filter(|p| p["kind"] == "async") {
        assert_eq!(projection["runner"]["state"], "active", "{projection}");
        assert_eq!(projection["runner"]["events"], 5, "{projection}");
    }
    assert_eq!(support::rebuilt_differences(&db).await, vec![]);
}
