//! Two service instances on one database, load spread across both: limits, quotas and
//! idempotency hold exactly, because every rule is decided in the database transaction that
//! appends, never in one process's memory.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;
use shareledger::state::{AppOptions, AppState};
use shareledger::testkit::TestDb;
use support::TestApp;

/// A second instance: its own state and connection pool, the same database and keys.
async fn second_instance(first: &TestApp) -> TestApp {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect_with(first.db.connect.clone())
        .await
        .unwrap();
    let state = AppState::with_options(
        first.db.config(),
        pool.clone(),
        AppOptions {
            clock: Arc::new(first.clock.clone()),
        },
    )
    .unwrap();
    TestApp {
        app: shareledger::http::app(state.clone()),
        state,
        db: TestDb {
            pool,
            name: first.db.name.clone(),
            connect: first.db.connect.clone(),
        },
        clock: first.clock.clone(),
    }
}

async fn two() -> [Arc<TestApp>; 2] {
    let first = TestApp::with_pool(20).await;
    let second = second_instance(&first).await;
    [Arc::new(first), Arc::new(second)]
}

#[tokio::test]
async fn a_hot_links_limit_holds_exactly_across_instances() {
    let apps = two().await;
    let alice = apps[0].user("alice");
    let file = apps[0].upload(&alice, "a.txt", b"hot", None).await;
    let (share, link) = apps[0]
        .shared_link(&alice, &[file], json!({"limits": {"download": 20}}))
        .await;
    let session = apps[1].session(&link, None, None).await;
    let mut tasks = Vec::new();
    for i in 0..36 {
        let (t, link, session) = (apps[i % 2].clone(), link.clone(), session.clone());
        tasks.push(tokio::spawn(async move {
            t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
                .await
        }));
    }
    let mut granted = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == StatusCode::OK {
            granted += 1;
        } else {
            reply.problem(StatusCode::FORBIDDEN, "limit_reached");
        }
    }
    assert_eq!(granted, 20);
    let events = apps[0].share_events(share).await;
    assert_eq!(events.iter().filter(|e| e.0 == "FileDownloaded").count(), 20);
}

#[tokio::test]
async fn one_idempotency_key_makes_one_share_whichever_instance_answers() {
    let apps = two().await;
    let alice = apps[0].user("alice");
    let file = apps[0].upload(&alice, "a.txt", b"a", None).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (t, alice) = (apps[i % 2].clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            t.call_with(
                "POST",
                "/api/v1/shares",
                Some(&alice),
                Some(json!({"items": [file]})),
                &[("idempotency-key", "across-instances")],
            )
            .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => {
                ids.insert(reply.json()["id"].as_str().unwrap().to_owned());
            }
            // Still in flight on the other instance: the client may retry.
            StatusCode::CONFLICT => {}
            other => panic!("{other}: {}", String::from_utf8_lossy(&reply.body)),
        }
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(
        apps[1]
            .count("SELECT count(*) FROM events WHERE event_type = 'ShareCreated'")
            .await,
        1
    );
}

#[tokio::test]
async fn the_daily_quota_holds_exactly_across_instances() {
    let apps = two().await;
    apps[0].policy("acme", json!({"daily_quota": 5})).await;
    let alice = apps[0].user("alice");
    let file = apps[0].upload(&alice, "a.txt", b"a", None).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (t, alice) = (apps[i % 2].clone(), alice.clone());
        tasks.push(tokio::spawn(
            async move { t.create_share(&alice, &[file], json!({})).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == StatusCode::CREATED {
            created += 1;
        } else {
            reply.problem(StatusCode::TOO_MANY_REQUESTS, "daily_quota_exceeded");
        }
    }
    assert_eq!(created, 5);
    assert_eq!(
        apps[1]
            .count("SELECT count(*) FROM events WHERE event_type = 'ShareCreated'")
            .await,
        5
    );
}

/// One instance keeps an owner's names in memory for the search; the other instance's creates
/// and renames, and a transaction that commits after later ones, are all found at once.
#[tokio::test]
async fn a_name_search_finds_at_once_what_the_other_instance_and_a_late_commit_wrote() {
    let apps = two().await;
    let alice = apps[0].user("alice");
    let file = apps[0].upload(&alice, "a.txt", b"a", None).await;
    let mut reports = Vec::new();
    for i in 0..5 {
        reports.push(
            apps[0]
                .share(&alice, &[file], json!({"name": format!("Report {i}")}))
                .await,
        );
    }
    let mut expected = reports.clone();
    expected.sort();
    assert_eq!(apps[0].found_by_name("alice", "REPORT").await, expected);
    assert!(
        apps[0].state.names().horizon("alice").is_some(),
        "the search built the index"
    );

    // The other instance adds one and renames another.
    let sixth = apps[1].share(&alice, &[file], json!({"name": "report 6"})).await;
    let renamed = apps[1]
        .call(
            "PATCH",
            &format!("/api/v1/shares/{}", reports[0]),
            Some(&alice),
            Some(json!({"name": "Invoice 0"})),
        )
        .await;
    assert_eq!(
        renamed.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&renamed.body)
    );
    let found = apps[0].found_by_name("alice", "report").await;
    assert!(found.contains(&sixth) && !found.contains(&reports[0]), "{found:?}");
    assert_eq!(found.len(), 5);
    assert_eq!(apps[0].found_by_name("alice", "invoice").await, vec![reports[0]]);

    // A share whose transaction began before others but commits after them.
    let mut late = apps[1].db.pool.begin().await.unwrap();
    let late_xid: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::int8")
        .fetch_one(&mut *late)
        .await
        .unwrap();
    let late_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO my_share_links (share_id, owner_id, owner_name, enterprise_id, name, message, items, \
             item_count, permissions, scope, limits, has_code, autofill_code, status, created_at, updated_at, \
             last_position, name_tx) \
         SELECT gen_random_uuid(), owner_id, owner_name, enterprise_id, 'Late report', message, items, \
             item_count, permissions, scope, limits, has_code, autofill_code, status, created_at, updated_at, \
             last_position, pg_current_xact_id()::text::int8 \
         FROM my_share_links WHERE share_id = $1 RETURNING share_id",
    )
    .bind(sixth)
    .fetch_one(&mut *late)
    .await
    .unwrap();
    assert!(!apps[0].found_by_name("alice", "late").await.contains(&late_id));
    let seventh = apps[1].share(&alice, &[file], json!({"name": "Report 7"})).await;
    let found = apps[0].found_by_name("alice", "report").await;
    assert!(found.contains(&seventh) && !found.contains(&late_id), "{found:?}");
    let horizon = apps[0].state.names().horizon("alice").unwrap();
    assert!(
        horizon <= late_xid,
        "the horizon {horizon} passed a running transaction {late_xid}"
    );
    late.commit().await.unwrap();
    let found = apps[0].found_by_name("alice", "report").await;
    assert!(found.contains(&late_id) && found.contains(&seventh), "{found:?}");
    assert_eq!(apps[0].found_by_name("alice", "late rep").await, vec![late_id]);
}
